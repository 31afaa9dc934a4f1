package channelstest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/gochannels/gochannels/channels"
)

// Response is a complete HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Event is one server-sent event.
type Event struct {
	// Event is the "event:" field ("" when the event had none).
	Event string
	// Data is the "data:" lines, joined with "\n".
	Data string
	// ID is the "id:" field.
	ID string
}

// HTTPCommunicator plays an HTTP client and the server for one request to an application.
// GetResponse reads a whole response; ReceiveStart, ReceiveBody and ReceiveEvent read a
// streamed one (server-sent events); Disconnect plays a client that goes away.
type HTTPCommunicator struct {
	r         *runner
	body      []byte
	beginOnce sync.Once

	mu       sync.Mutex
	started  bool // the application started the response
	finished bool // the response is complete, or the client went away

	pending []byte // streamed body not yet returned by ReceiveEvent
}

// NewHTTPCommunicator prepares a request with method, path (which may carry "?query") and
// body, served by app. The application starts on the first call that reads its response.
func NewHTTPCommunicator(app channels.Application, method, path string, body []byte, opts ...Option) *HTTPCommunicator {
	h := &HTTPCommunicator{r: newRunner(app, newScope(channels.ScopeHTTP, "http", method, path, opts)), body: body}
	h.r.check = h.check
	h.r.after = h.after
	return h
}

// Scope returns the scope the application is served with.
func (h *HTTPCommunicator) Scope() *channels.Scope { return h.r.scope }

func (h *HTTPCommunicator) check(msg channels.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finished {
		return fmt.Errorf("channelstest: %s after the response was complete: %w", msg.Type(), channels.ErrClosed)
	}
	switch typ := msg.Type(); typ {
	case channels.TypeHTTPResponseStart:
		if h.started {
			return fmt.Errorf("channelstest: %s twice", typ)
		}
		if st, ok := msg.Int("status"); !ok || st < 100 || st > 999 {
			return fmt.Errorf("channelstest: %s: invalid status %v", typ, msg["status"])
		}
		if hs, ok := msg["headers"]; ok && hs != nil {
			if _, ok := hs.([][2]string); !ok {
				return fmt.Errorf("channelstest: %s: headers is %T, want [][2]string", typ, hs)
			}
		}
	case channels.TypeHTTPResponseBody:
		if !h.started {
			return fmt.Errorf("channelstest: %s before %s", typ, channels.TypeHTTPResponseStart)
		}
		if b, ok := msg["body"]; ok && b != nil {
			if _, ok := b.([]byte); !ok {
				return fmt.Errorf("channelstest: %s: body is %T, want []byte", typ, b)
			}
		}
	default:
		return fmt.Errorf("channelstest: an HTTP application cannot send an event of type %q", typ)
	}
	return nil
}

func (h *HTTPCommunicator) after(msg channels.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch msg.Type() {
	case channels.TypeHTTPResponseStart:
		h.started = true
	case channels.TypeHTTPResponseBody:
		if !msg.Bool("more_body") {
			// As a server does: the response is complete, the disconnect follows.
			h.finished = true
			h.r.in.Close(channels.Message{"type": channels.TypeHTTPDisconnect})
		}
	}
}

// begin starts the application with the request, once.
func (h *HTTPCommunicator) begin() {
	h.beginOnce.Do(func() {
		_ = h.r.in.Inject(channels.Message{"type": channels.TypeHTTPRequest, "body": h.body, "more_body": false})
		h.r.start()
	})
}

// ReceiveStart waits for the start of the response and returns its status and headers.
func (h *HTTPCommunicator) ReceiveStart(ctx context.Context) (status int, header http.Header, err error) {
	h.begin()
	msg, err := h.r.receiveOutput(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("channelstest: waiting for the response: %w", err)
	}
	if msg.Type() != channels.TypeHTTPResponseStart {
		return 0, nil, fmt.Errorf("channelstest: want %s, got %v", channels.TypeHTTPResponseStart, msg)
	}
	status, _ = msg.Int("status")
	header = http.Header{}
	hs, _ := msg["headers"].([][2]string)
	for _, kv := range hs {
		header.Add(kv[0], kv[1])
	}
	return status, header, nil
}

// ReceiveBody waits for the next part of the body; more is false for the last one.
func (h *HTTPCommunicator) ReceiveBody(ctx context.Context) (part []byte, more bool, err error) {
	h.begin()
	msg, err := h.r.receiveOutput(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("channelstest: waiting for the response body: %w", err)
	}
	if msg.Type() != channels.TypeHTTPResponseBody {
		return nil, false, fmt.Errorf("channelstest: want %s, got %v", channels.TypeHTTPResponseBody, msg)
	}
	return msg.Bytes("body"), msg.Bool("more_body"), nil
}

// ReceiveEvent reads the streamed body (after ReceiveStart) up to the end of the next
// server-sent event and returns it. Comment lines are skipped. At the end of the body it
// returns an error wrapping ErrNoOutput.
func (h *HTTPCommunicator) ReceiveEvent(ctx context.Context) (Event, error) {
	for {
		if ev, rest, ok := parseEvent(h.pending); ok {
			h.pending = rest
			if ev == nil {
				continue
			}
			return *ev, nil
		}
		part, more, err := h.ReceiveBody(ctx)
		if err != nil {
			return Event{}, err
		}
		h.pending = append(h.pending, part...)
		if !more {
			if ev, rest, ok := parseEvent(h.pending); ok && ev != nil {
				h.pending = rest
				return *ev, nil
			}
			return Event{}, fmt.Errorf("channelstest: the event stream ended (%d bytes left over): %w", len(h.pending), ErrNoOutput)
		}
	}
}

// parseEvent parses one event, ended by a blank line, from the front of b. ev is nil for a
// block of comments only; ok is false when b holds no complete event yet.
func parseEvent(b []byte) (ev *Event, rest []byte, ok bool) {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	block, rest, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return nil, b, false
	}
	var e Event
	var data []string
	seen := false
	for _, line := range strings.Split(string(block), "\n") {
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		seen = true
		switch field {
		case "event":
			e.Event = value
		case "data":
			data = append(data, value)
		case "id":
			e.ID = value
		}
	}
	if !seen {
		return nil, rest, true
	}
	e.Data = strings.Join(data, "\n")
	return &e, rest, true
}

// GetResponse sends the request, reads the whole response and waits for the application to
// return. A non-nil error from the application is returned with the response.
func (h *HTTPCommunicator) GetResponse(ctx context.Context) (*Response, error) {
	status, header, err := h.ReceiveStart(ctx)
	if err != nil {
		return nil, err
	}
	resp := &Response{Status: status, Header: header}
	for {
		part, more, err := h.ReceiveBody(ctx)
		if err != nil {
			return resp, err
		}
		resp.Body = append(resp.Body, part...)
		if !more {
			break
		}
	}
	if err := h.r.wait(ctx); err != nil {
		return resp, fmt.Errorf("channelstest: the application failed: %w", err)
	}
	return resp, nil
}

// Disconnect plays a client that goes away (the application gets "http.disconnect" unless the
// response was complete) and waits for the application to return, as Wait does.
func (h *HTTPCommunicator) Disconnect(ctx context.Context) error {
	h.mu.Lock()
	if !h.finished {
		h.finished = true
		h.r.in.Close(channels.Message{"type": channels.TypeHTTPDisconnect})
	}
	h.mu.Unlock()
	h.begin()
	return h.r.wait(ctx)
}

// Wait waits for the application to return and returns its result. If ctx ends first, Wait
// cancels the application's context, waits a little longer, and returns an error.
func (h *HTTPCommunicator) Wait(ctx context.Context) error {
	h.begin()
	return h.r.wait(ctx)
}
