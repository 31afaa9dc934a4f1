// Package channelstest runs channels applications in-process for tests, the way
// net/http/httptest does for handlers: no network, no server. A communicator plays the
// server's part for one scope: it hands the application events through a *channels.Mailbox
// (so that consumers' channel-layer messages reach them as on the server), records the events
// the application sends, and follows the server's rules (connect, then accept or close; the
// disconnect event last, exactly once). Its queue follows the server's policy: the scope's
// own events are bounded by count (channels.DefaultMailboxCapacity), channel-layer messages
// by their estimated size (channels.DefaultEventQueueBytes), and a WebSocket whose messages
// would pass that bound is closed with 1008 "event queue full" (channels.OverflowClose; see
// WebsocketCommunicator.Inject), so a test sees what production does.
//
// Every communicator runs the application in one goroutine; end it with Disconnect, Wait or
// CloseInput so that nothing is left running (the tests of this package check with goleak).
//
// For the tests that do need sockets (a real client, the server's own limits), Serve runs a
// channels.Server on loopback for the length of a test.
package channelstest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// waitGrace is how long Wait lets an application return after canceling its context.
const waitGrace = 2 * time.Second

// ErrNoOutput is returned (wrapped) by the receive methods when the application has returned
// and sent nothing more.
var ErrNoOutput = errors.New("channelstest: no more output: the application returned")

// runner runs one application for one scope and records what it sends.
type runner struct {
	app   channels.Application
	scope *channels.Scope
	in    *channels.Mailbox
	recv  channels.Receiver // what the application receives from: in, or a policy in front of it
	out   outbox

	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}
	err    error // the application's result; read after done is closed

	// check, when set, vets an event before it is recorded (the server's protocol rules);
	// after, when set, applies its effect just before it is recorded, so that whoever reads
	// the event sees the effect.
	check func(channels.Message) error
	after func(channels.Message)
}

// newRunner prepares app on scope with the server's queue: the scope's own events bounded by
// count (channels.DefaultMailboxCapacity, as Server.MailboxCapacity), injected channel-layer
// messages by bytes (channels.DefaultEventQueueBytes, as Server.EventQueueBytes). Past the
// byte bound an injected message is refused (channels.ErrMailboxFull), unless the
// communicator puts a policy of its own in front (see wsQueue).
func newRunner(app channels.Application, scope *channels.Scope) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	in := channels.NewMailbox(channels.DefaultMailboxCapacity)
	in.LimitInjected(channels.DefaultEventQueueBytes, channels.OverflowDropNewest)
	return &runner{
		app:    app,
		scope:  scope,
		in:     in,
		recv:   in,
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
}

// start runs the application, once.
func (r *runner) start() {
	r.once.Do(func() {
		go func() {
			defer close(r.done)
			defer r.out.finish()
			defer func() {
				if v := recover(); v != nil {
					r.err = fmt.Errorf("channelstest: the application panicked: %v\n%s", v, debug.Stack())
				}
			}()
			r.err = r.app.Serve(r.ctx, r.scope, r.recv, channels.SendFunc(r.send))
		}()
	})
}

func (r *runner) send(ctx context.Context, msg channels.Message) error {
	if msg.Type() == "" {
		return fmt.Errorf(`channelstest: event without a string "type": %v`, msg)
	}
	if r.check != nil {
		if err := r.check(msg); err != nil {
			return err
		}
	}
	if r.after != nil {
		r.after(msg)
	}
	r.out.push(msg)
	return nil
}

func (r *runner) receiveOutput(ctx context.Context) (channels.Message, error) {
	msg, err := r.out.next(ctx)
	if errors.Is(err, ErrNoOutput) {
		<-r.done
		if r.err != nil {
			return nil, fmt.Errorf("%w: %w", err, r.err)
		}
	}
	return msg, err
}

// wait waits for the application to return and returns its error. When ctx ends first it
// cancels the application's context and gives it waitGrace to return.
func (r *runner) wait(ctx context.Context) error {
	r.start()
	select {
	case <-r.done:
		r.cancel()
		return r.err
	case <-ctx.Done():
	}
	r.cancel()
	t := time.NewTimer(waitGrace)
	defer t.Stop()
	select {
	case <-r.done:
		return fmt.Errorf("channelstest: the application did not return before %w (it did once its context was canceled; its result: %v)", ctx.Err(), r.err)
	case <-t.C:
		return fmt.Errorf("channelstest: the application did not return, not even %v after its context was canceled: %w", waitGrace, ctx.Err())
	}
}

// outbox is the unbounded, in-order record of the events an application sent.
type outbox struct {
	mu       sync.Mutex
	q        []channels.Message
	head     int
	wake     chan struct{} // closed when an event is pushed or the outbox finishes
	finished bool
}

func (o *outbox) push(msg channels.Message) {
	o.mu.Lock()
	if o.head > 0 && o.head == len(o.q) {
		o.q, o.head = o.q[:0], 0
	}
	o.q = append(o.q, msg)
	o.signalLocked()
	o.mu.Unlock()
}

func (o *outbox) finish() {
	o.mu.Lock()
	o.finished = true
	o.signalLocked()
	o.mu.Unlock()
}

func (o *outbox) signalLocked() {
	if o.wake != nil {
		close(o.wake)
		o.wake = nil
	}
}

// waitLocked returns a channel closed at the next push or finish; o.mu is held.
func (o *outbox) waitLocked() chan struct{} {
	if o.wake == nil {
		o.wake = make(chan struct{})
	}
	return o.wake
}

// next takes the oldest event, waiting for one.
func (o *outbox) next(ctx context.Context) (channels.Message, error) {
	for {
		o.mu.Lock()
		if o.head < len(o.q) {
			msg := o.q[o.head]
			o.q[o.head] = nil
			o.head++
			o.mu.Unlock()
			return msg, nil
		}
		if o.finished {
			o.mu.Unlock()
			return nil, ErrNoOutput
		}
		w := o.waitLocked()
		o.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return nil, fmt.Errorf("channelstest: waiting for output: %w", ctx.Err())
		}
	}
}

// empty reports whether no event arrives within d (the events are left in place).
func (o *outbox) empty(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		o.mu.Lock()
		if o.head < len(o.q) {
			o.mu.Unlock()
			return false
		}
		if o.finished {
			o.mu.Unlock()
			return true
		}
		w := o.waitLocked()
		o.mu.Unlock()
		select {
		case <-w:
		case <-t.C:
			return true
		case <-ctx.Done():
			return true
		}
	}
}

// Option configures the scope a communicator builds.
type Option func(*channels.Scope)

// WithHeader adds a request header.
func WithHeader(key, value string) Option {
	return func(s *channels.Scope) { s.Headers.Add(key, value) }
}

// WithSubprotocols sets the WebSocket subprotocols the client offers.
func WithSubprotocols(protocols ...string) Option {
	return func(s *channels.Scope) { s.Subprotocols = append([]string(nil), protocols...) }
}

// WithQueryString sets the raw query string (without "?"); it replaces one given in the path.
func WithQueryString(q string) Option {
	return func(s *channels.Scope) { s.QueryString = q }
}

// WithURLRoute sets the route parameters, as a URL router would.
func WithURLRoute(params map[string]string) Option {
	return func(s *channels.Scope) {
		s.URLRoute = make(map[string]string, len(params))
		for k, v := range params {
			s.URLRoute[k] = v
		}
	}
}

// WithScopeValue stores a value in the scope (Scope.Set), as middleware would.
func WithScopeValue(key, value any) Option {
	return func(s *channels.Scope) { s.Set(key, value) }
}

// WithScope lets f change the scope in any other way.
func WithScope(f func(*channels.Scope)) Option { return f }

// Default addresses in the scopes communicators build.
const (
	ClientAddr = "127.0.0.1:50000"
	ServerAddr = "127.0.0.1:8000"
)

// newScope builds a scope for path (which may carry "?query").
func newScope(typ, scheme, method, path string, opts []Option) *channels.Scope {
	rawPath, query, _ := strings.Cut(path, "?")
	decoded, err := url.PathUnescape(rawPath)
	if err != nil {
		decoded = rawPath
	}
	s := &channels.Scope{
		Type:        typ,
		Scheme:      scheme,
		HTTPVersion: "1.1",
		Method:      method,
		Path:        decoded,
		RawPath:     rawPath,
		QueryString: query,
		Headers:     http.Header{"Host": {"testserver"}},
		Client:      ClientAddr,
		Server:      ServerAddr,
	}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

// ApplicationCommunicator runs an application on any scope (typically a "channel" scope, as
// a worker would) and lets a test feed it events and read what it sends. Unlike the other
// communicators it applies no protocol rules.
type ApplicationCommunicator struct {
	r *runner
}

// NewApplicationCommunicator starts app on scope.
func NewApplicationCommunicator(app channels.Application, scope *channels.Scope) *ApplicationCommunicator {
	r := newRunner(app, scope)
	r.start()
	return &ApplicationCommunicator{r: r}
}

// Receiver returns the mailbox the application receives from, e.g. to Inject events that do
// not wait for room. Injected events are bounded by their estimated size
// (channels.DefaultEventQueueBytes, as a server bounds a WebSocket's); past the bound Inject
// refuses with channels.ErrMailboxFull (a channel scope has no connection to close), unless
// the application set another bound or policy (channels.InjectLimiter).
func (a *ApplicationCommunicator) Receiver() *channels.Mailbox { return a.r.in }

// SendInput hands the application an event, waiting while its queue is full.
func (a *ApplicationCommunicator) SendInput(ctx context.Context, msg channels.Message) error {
	if err := a.r.in.Put(ctx, msg); err != nil {
		return fmt.Errorf("channelstest: send input %q: %w", msg.Type(), err)
	}
	return nil
}

// CloseInput ends the application's input: it receives the queued events, then final (when
// not nil), then channels.ErrClosed.
func (a *ApplicationCommunicator) CloseInput(final channels.Message) { a.r.in.Close(final) }

// ReceiveOutput returns the next event the application sent, waiting for it. Once the
// application has returned and everything was read it returns an error wrapping ErrNoOutput
// (and the application's error, if any).
func (a *ApplicationCommunicator) ReceiveOutput(ctx context.Context) (channels.Message, error) {
	return a.r.receiveOutput(ctx)
}

// ReceiveNothing reports whether the application sends nothing within d. It consumes
// nothing.
func (a *ApplicationCommunicator) ReceiveNothing(ctx context.Context, d time.Duration) bool {
	return a.r.out.empty(ctx, d)
}

// Wait waits for the application to return and returns its result. If ctx ends first, Wait
// cancels the application's context, waits a little longer, and returns an error.
func (a *ApplicationCommunicator) Wait(ctx context.Context) error { return a.r.wait(ctx) }

// Done is closed when the application has returned.
func (a *ApplicationCommunicator) Done() <-chan struct{} { return a.r.done }
