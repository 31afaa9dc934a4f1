package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// cleanupTimeout bounds the layer calls (leaving groups) and the Disconnect hook run after a
// scope ended abnormally, when the scope's own context may already be canceled.
const cleanupTimeout = 5 * time.Second

// Consumer is the base every consumer embeds, directly or through WebsocketConsumer,
// JSONWebsocketConsumer or HTTPConsumer. It holds the instance's scope, its channel on the
// layer and the layer shortcuts. Embedded on its own it makes a generic consumer (see New),
// for any scope type, including the channel scopes of background workers.
//
// A Consumer's methods are meant to be called from the consumer's hooks and handlers, which
// run one at a time in the goroutine serving the scope.
type Consumer struct {
	scope   *channels.Scope
	send    channels.Sender
	layer   layers.Layer
	channel string
	logger  *slog.Logger

	mu     sync.Mutex
	groups []string // groups joined, left when the scope ends

	// replay dispatches a message replayed by GroupAddSince to the handlers; set by the
	// application when it starts the instance.
	replay func(context.Context, channels.Message) error
	// self is the consumer value (the *T embedding this base), for its optional hooks.
	self any
	// positions is, per tracked group, the position of the last message handled (see
	// order.go).
	positions map[string]*layers.Position
}

func (c *Consumer) consumerBase() *Consumer { return c }

// Scope returns the scope the consumer serves.
func (c *Consumer) Scope() *channels.Scope { return c.scope }

// Layer returns the channel layer given with WithLayer, or nil.
func (c *Consumer) Layer() layers.Layer { return c.layer }

// ChannelName returns the consumer's own process-specific channel on the layer, to which
// other consumers Send messages for its handlers; "" without a layer.
func (c *Consumer) ChannelName() string { return c.channel }

// Logger returns the logger given with WithLogger (slog.Default() otherwise).
func (c *Consumer) Logger() *slog.Logger {
	if c.logger == nil {
		return slog.Default()
	}
	return c.logger
}

// Emit sends an event to the server for this scope, e.g. a "websocket.send" from a generic
// consumer. The typed helpers of the other bases call it.
func (c *Consumer) Emit(ctx context.Context, msg channels.Message) error {
	if c.send == nil {
		return fmt.Errorf("consumer: emit %q: the consumer is not running", msg.Type())
	}
	return c.send.Send(ctx, msg)
}

// emitText sends a websocket.send of text to the server, without a Message when the server's
// Sender takes text directly (channels.TextSender).
func (c *Consumer) emitText(ctx context.Context, text string) error {
	if c.send == nil {
		return fmt.Errorf("consumer: emit %q: the consumer is not running", channels.TypeWebsocketSend)
	}
	return channels.SendText(ctx, c.send, text)
}

// Send sends msg to a channel on the layer (for example another consumer's ChannelName).
func (c *Consumer) Send(ctx context.Context, channel string, msg channels.Message) error {
	if c.layer == nil {
		return fmt.Errorf("consumer: send %q to channel %q: %w", msg.Type(), channel, ErrNoLayer)
	}
	if err := c.layer.Send(ctx, channel, msg); err != nil {
		return fmt.Errorf("consumer: send %q to channel %q: %w", msg.Type(), channel, err)
	}
	return nil
}

// GroupAdd adds the consumer's channel to group. Groups joined this way (and those named by
// a Groups method) are left automatically when the scope ends.
func (c *Consumer) GroupAdd(ctx context.Context, group string) error {
	if c.layer == nil {
		return fmt.Errorf("consumer: join group %q: %w", group, ErrNoLayer)
	}
	if err := c.layer.GroupAdd(ctx, group, c.channel); err != nil {
		return fmt.Errorf("consumer: join group %q: %w", group, err)
	}
	c.mu.Lock()
	if !slices.Contains(c.groups, group) {
		c.groups = append(c.groups, group)
	}
	c.mu.Unlock()
	return nil
}

// GroupDiscard removes the consumer's channel from group.
func (c *Consumer) GroupDiscard(ctx context.Context, group string) error {
	if c.layer == nil {
		return fmt.Errorf("consumer: leave group %q: %w", group, ErrNoLayer)
	}
	c.mu.Lock()
	if i := slices.Index(c.groups, group); i >= 0 {
		c.groups = slices.Delete(c.groups, i, i+1)
	}
	c.mu.Unlock()
	c.untrack(group)
	if err := c.layer.GroupDiscard(ctx, group, c.channel); err != nil {
		return fmt.Errorf("consumer: leave group %q: %w", group, err)
	}
	return nil
}

// GroupSend sends msg to every member of group, this consumer included when it is one.
func (c *Consumer) GroupSend(ctx context.Context, group string, msg channels.Message) error {
	if c.layer == nil {
		return fmt.Errorf("consumer: send %q to group %q: %w", msg.Type(), group, ErrNoLayer)
	}
	if err := c.layer.GroupSend(ctx, group, msg); err != nil {
		return fmt.Errorf("consumer: send %q to group %q: %w", msg.Type(), group, err)
	}
	return nil
}

// start prepares the instance: it records the scope, makes sure layer messages can reach
// the loop through one Receiver, and opens the consumer's channel. stop undoes it; it must be
// called once the loop is over.
func (c *Consumer) start(ctx context.Context, o *options, scope *channels.Scope, receive channels.Receiver, send channels.Sender) (recv channels.Receiver, stop func(), err error) {
	c.scope, c.send, c.layer, c.logger = scope, send, o.layer, o.logger
	if o.layer == nil {
		return receive, func() {}, nil
	}
	stopPump := func() {}
	inj, ok := receive.(channels.Injector)
	recv = receive
	var mb *channels.Mailbox
	if !ok {
		mb = channels.NewMailbox(o.mailboxCap)
		pumpCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				msg, err := receive.Receive(pumpCtx)
				if err != nil {
					mb.Close(nil)
					return
				}
				if err := mb.Put(pumpCtx, msg); err != nil {
					return
				}
			}
		}()
		stopPump = func() { cancel(); <-done }
		inj, recv = mb, mb
	}
	d := newLayerDelivery(ctx, c, o, inj, mb)
	channel, stopListen, err := layers.Listen(ctx, o.layer, "specific", d.deliver)
	if err != nil {
		stopPump()
		return nil, nil, fmt.Errorf("consumer: open a channel on the layer: %w", err)
	}
	c.channel = channel
	return recv, func() { stopListen(); stopPump() }, nil
}

// joinGroups joins the groups named by the type's Groups method.
func joinGroups[P any](ctx context.Context, ti *typeInfo[P], p P, c *Consumer) (err error) {
	if ti.groups == nil {
		return nil
	}
	var groups []string
	func() {
		defer recoverInto(&err)
		groups = ti.groups(p)
	}()
	if err != nil {
		return fmt.Errorf("consumer %s: Groups: %w", ti.name, err)
	}
	for _, g := range groups {
		if err := c.GroupAdd(ctx, g); err != nil {
			return fmt.Errorf("consumer %s: %w", ti.name, err)
		}
	}
	return nil
}

// leaveGroups leaves every group the consumer joined. Failures are logged: the layer expires
// stale memberships in the end.
func (c *Consumer) leaveGroups(ctx context.Context, name string) {
	c.mu.Lock()
	groups := c.groups
	c.groups = nil
	c.mu.Unlock()
	if len(groups) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	for _, g := range groups {
		if err := c.layer.GroupDiscard(ctx, g, c.channel); err != nil {
			c.Logger().Warn("consumer: leave group failed", "consumer", name, "group", g, "error", err)
		}
	}
}

// logFailure logs a failed hook or handler.
func (c *Consumer) logFailure(name, what, msgType string, err error) {
	attrs := []any{"consumer", name, "hook", what, "type", msgType, "error", err}
	var pe *channels.PanicError
	if errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.Stack))
	}
	c.Logger().Error("consumer: handler failed", attrs...)
}

// protect calls f, turning a panic into a *channels.PanicError.
func protect(f func() error) (err error) {
	defer recoverInto(&err)
	return f()
}

// New returns an Application that serves each scope with a new T, a generic consumer: every
// event and channel message is dispatched by its type to a handler method (so
// "websocket.connect" calls WebsocketConnect and "chat.message" calls ChatMessage). T must
// embed Consumer (or one of the other bases).
//
// Groups named by a Groups() []string method are joined before the first event and left
// when the consumer ends. The consumer ends when its Receiver reports ErrClosed, after it
// handled a "websocket.disconnect" or "http.disconnect", when a handler returns ErrStop
// (Serve returns nil) or a *channels.CloseError (Serve returns it), or when ctx is done. Any
// other failing or panicking handler, and a message with no handler, is logged and the
// consumer goes on with the next message: one bad message ends at most itself.
//
// New panics with a *ShapeError when T has a method that takes a channels.Message but is not
// shaped like a handler, func(context.Context, channels.Message) error.
func New[T any, P interface {
	*T
	base
}](opts ...Option) channels.Application {
	ti, err := lookupInfo[P](kindGeneric)
	if err != nil {
		panic(err)
	}
	return &genericApp[T, P]{ti: ti, o: buildOptions(opts)}
}

// failureReporter is implemented by a Receiver whose host counts the messages a generic
// consumer failed to handle (worker.FailureReporter is the same method set).
type failureReporter interface {
	ReportFailure(msg channels.Message, err error)
}

type genericApp[T any, P interface {
	*T
	base
}] struct {
	ti *typeInfo[P]
	o  *options
}

// Serve implements channels.Application.
func (a *genericApp[T, P]) Serve(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	p := P(new(T))
	c := p.consumerBase()
	recv, stop, err := c.start(ctx, a.o, scope, receive, send)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", a.ti.name, err)
	}
	c.replay = func(ctx context.Context, m channels.Message) error { return a.ti.dispatch(p, ctx, m) }
	c.self = p
	defer stop()
	defer c.leaveGroups(ctx, a.ti.name)
	if err := joinGroups(ctx, a.ti, p, c); err != nil {
		return err
	}
	for {
		msg, err := recv.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		}
		typ := msg.Type()
		if c.replayed(ctx, msg) {
			continue
		}
		err = a.ti.dispatch(p, ctx, msg)
		var ce *channels.CloseError
		switch {
		case err == nil:
		case errors.Is(err, ErrStop):
			return nil
		case errors.As(err, &ce):
			return ce
		default:
			c.logFailure(a.ti.name, "handler", typ, err)
			// A host that counts failures (the worker's Receiver) hears of this one.
			if fr, ok := receive.(failureReporter); ok {
				fr.ReportFailure(msg, err)
			}
		}
		if typ == channels.TypeWebsocketDisconnect || typ == channels.TypeHTTPDisconnect {
			return nil
		}
	}
}

// Check reports whether *T can be used as a consumer of any kind: it returns the *ShapeError
// the constructors would panic with, or nil.
func Check[T any]() error {
	t := reflect.TypeFor[*T]()
	k, ok := embeddedKind(t)
	if !ok {
		return &ShapeError{Consumer: t.Elem().String(), Problems: []string{"the type does not embed a consumer base (consumer.Consumer, WebsocketConsumer, JSONWebsocketConsumer or HTTPConsumer)"}}
	}
	_, err := buildInfo[*T](t, k)
	return err
}
