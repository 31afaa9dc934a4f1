package consumer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gochannels/gochannels/channels"
)

// Request is an HTTP request as an HTTP consumer's Handle sees it: the scope's request line
// and headers, and the whole body.
type Request struct {
	// Method is the HTTP method, "GET", "POST"...
	Method string
	// Path is the percent-decoded path.
	Path string
	// Query is the parsed query string (malformed pairs are skipped).
	Query url.Values
	// Header holds the request headers, keys in canonical form.
	Header http.Header
	// Body is the complete request body (at most the WithMaxBodySize bound).
	Body []byte
	// Scope is the connection's scope (client address, route parameters, middleware values).
	Scope *channels.Scope
}

// HTTPConsumer is the base of an HTTP consumer. Embed it in a struct and build the
// application with HTTP. The struct must define
//
//	Handle(ctx context.Context, req *consumer.Request) error
//
// and may define Groups() []string, Disconnect(ctx context.Context) error and handlers for
// channel-layer messages. The hooks' interfaces, RequestHandler, Grouper and
// HTTPDisconnecter, let the compiler check them: var _ consumer.RequestHandler = (*API)(nil).
//
// Handle is called once the whole body has arrived. It answers with SendResponse, or
// streams with SendHeaders and SendBody(more=true) (or SSE) and ends with SendBody(more=
// false). A response left open when Handle returns stays open while the consumer has a
// layer: handlers of channel-layer messages carry it on (long polling, server-sent events
// fed by a group), until one ends it or the client goes away. Without a layer an open
// response is ended when Handle returns, and a missing one is answered with 500.
//
// A Handle or handler that fails or panics is logged; the client gets a 500 when no
// response was started, or the end of the body otherwise.
type HTTPConsumer struct {
	Consumer
	started  bool
	finished bool
}

func (h *HTTPConsumer) httpBase() *HTTPConsumer { return h }

// SendResponse sends a complete response: status, headers and body.
func (h *HTTPConsumer) SendResponse(ctx context.Context, status int, header http.Header, body []byte) error {
	if err := h.SendHeaders(ctx, status, header); err != nil {
		return err
	}
	return h.SendBody(ctx, body, false)
}

// SendHeaders starts the response with status and headers. The server sends them with the
// first body part.
func (h *HTTPConsumer) SendHeaders(ctx context.Context, status int, header http.Header) error {
	if h.started {
		return errors.New("consumer: SendHeaders: the response was already started")
	}
	if status < 100 || status > 999 {
		return fmt.Errorf("consumer: SendHeaders: invalid status code %d", status)
	}
	keys := make([]string, 0, len(header))
	n := 0
	for k, vs := range header {
		keys = append(keys, k)
		n += len(vs)
	}
	slices.Sort(keys)
	hs := make([][2]string, 0, n)
	for _, k := range keys {
		for _, v := range header[k] {
			hs = append(hs, [2]string{k, v})
		}
	}
	if err := h.Emit(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": status, "headers": hs}); err != nil {
		return fmt.Errorf("consumer: SendHeaders: %w", err)
	}
	h.started = true
	return nil
}

// SendBody sends part of the body; more=true keeps the response open (the part is flushed to
// the client at once), more=false ends it.
func (h *HTTPConsumer) SendBody(ctx context.Context, body []byte, more bool) error {
	switch {
	case !h.started:
		return errors.New("consumer: SendBody: the response was not started (call SendHeaders first)")
	case h.finished:
		return fmt.Errorf("consumer: SendBody: the response is complete: %w", channels.ErrClosed)
	}
	if err := h.Emit(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": body, "more_body": more}); err != nil {
		h.finished = true
		return fmt.Errorf("consumer: SendBody: %w", err)
	}
	h.finished = !more
	return nil
}

// SSE sends one server-sent event: an "event:" line when event is not empty and a "data:"
// line for each line of data, then a blank line. On the first call it starts the response
// (200, Content-Type text/event-stream, Cache-Control no-cache) if that was not done yet.
// The response stays open; end it with SendBody(ctx, nil, false).
func (h *HTTPConsumer) SSE(ctx context.Context, event, data string) error {
	if strings.ContainsAny(event, "\r\n") {
		return fmt.Errorf("consumer: SSE: event name %q contains a line break", event)
	}
	if !h.started {
		hdr := http.Header{"Content-Type": {"text/event-stream"}, "Cache-Control": {"no-cache"}}
		if err := h.SendHeaders(ctx, http.StatusOK, hdr); err != nil {
			return err
		}
	}
	var b strings.Builder
	b.Grow(len(event) + len(data) + 16)
	if event != "" {
		b.WriteString("event: ")
		b.WriteString(event)
		b.WriteByte('\n')
	}
	data = strings.ReplaceAll(data, "\r\n", "\n")
	for {
		line, rest, more := strings.Cut(data, "\n")
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
		if !more {
			break
		}
		data = rest
	}
	b.WriteByte('\n')
	return h.SendBody(ctx, []byte(b.String()), true)
}

// Started reports whether the response was started.
func (h *HTTPConsumer) Started() bool { return h.started }

// Finished reports whether the response is complete.
func (h *HTTPConsumer) Finished() bool { return h.finished }

// HTTP returns an Application that serves each HTTP scope with a new T, which embeds
// HTTPConsumer and defines Handle; see HTTPConsumer.
//
// HTTP panics with a *ShapeError when T has no Handle or its hooks or handlers have the
// wrong signature.
func HTTP[T any, P interface {
	*T
	httpBase
}](opts ...Option) channels.Application {
	ti, err := lookupInfo[P](kindHTTP)
	if err != nil {
		panic(err)
	}
	return &httpApp[T, P]{ti: ti, o: buildOptions(opts)}
}

type httpApp[T any, P interface {
	*T
	httpBase
}] struct {
	ti *typeInfo[P]
	o  *options
}

// Serve implements channels.Application.
func (a *httpApp[T, P]) Serve(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	p := P(new(T))
	h := p.httpBase()
	c := &h.Consumer
	recv, stop, err := c.start(ctx, a.o, scope, receive, send)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", a.ti.name, err)
	}
	c.replay = func(ctx context.Context, m channels.Message) error { return a.ti.dispatch(p, ctx, m) }
	c.self = p
	defer stop()
	defer a.disconnect(ctx, p, h)
	if err := joinGroups(ctx, a.ti, p, c); err != nil {
		a.fail(ctx, h, "Groups", channels.TypeHTTPRequest, err)
		return nil
	}
	var body []byte
	handled := false
	for !h.finished {
		msg, err := recv.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		}
		typ := msg.Type()
		switch typ {
		case channels.TypeHTTPRequest:
			if handled {
				continue
			}
			part := msg.Bytes("body")
			if int64(len(body))+int64(len(part)) > a.o.maxBody {
				handled = true
				h.Logger().Debug("consumer: request body too large", "consumer", a.ti.name, "limit", a.o.maxBody)
				_ = h.SendResponse(ctx, http.StatusRequestEntityTooLarge, http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
					[]byte(fmt.Sprintf("request body larger than %d bytes\n", a.o.maxBody)))
				continue
			}
			body = append(body, part...)
			if msg.Bool("more_body") {
				continue
			}
			handled = true
			req := &Request{
				Method: scope.Method,
				Path:   scope.Path,
				Header: scope.Headers,
				Body:   body,
				Scope:  scope,
			}
			req.Query, _ = url.ParseQuery(scope.QueryString)
			if req.Header == nil {
				req.Header = http.Header{}
			}
			if err := protect(func() error { return a.ti.handle(p, ctx, req) }); err != nil {
				a.fail(ctx, h, "Handle", typ, err)
				continue
			}
			if a.o.layer == nil && !h.finished {
				if !h.started {
					a.fail(ctx, h, "Handle", typ, errors.New("the Handle method returned without a response, and with no layer no handler can send one"))
				} else {
					_ = h.SendBody(ctx, nil, false)
				}
			}
		case channels.TypeHTTPDisconnect:
			return nil
		default:
			if c.replayed(ctx, msg) {
				continue
			}
			if err := a.ti.dispatch(p, ctx, msg); err != nil {
				a.fail(ctx, h, "handler", typ, err)
			}
		}
	}
	return nil
}

func (a *httpApp[T, P]) disconnect(ctx context.Context, p P, h *HTTPConsumer) {
	hookCtx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		hookCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
	}
	if a.ti.disconnectHTTP != nil {
		if err := protect(func() error { return a.ti.disconnectHTTP(p, hookCtx) }); err != nil {
			h.logFailure(a.ti.name, "Disconnect", channels.TypeHTTPDisconnect, err)
		}
	}
	h.leaveGroups(ctx, a.ti.name)
}

// fail logs a failure and ends the response: a 500 when it was not started, the end of the
// body otherwise.
func (a *httpApp[T, P]) fail(ctx context.Context, h *HTTPConsumer, what, typ string, err error) {
	if errors.Is(err, channels.ErrClosed) {
		h.Logger().Debug("consumer: client gone", "consumer", a.ti.name, "hook", what, "error", err)
		h.finished = true
		return
	}
	h.logFailure(a.ti.name, what, typ, err)
	if h.finished {
		return
	}
	if !h.started {
		_ = h.SendResponse(ctx, http.StatusInternalServerError, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, []byte("500 Internal Server Error\n"))
		return
	}
	_ = h.SendBody(ctx, nil, false)
}
