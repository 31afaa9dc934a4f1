package channelstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// ConnectResult is the application's answer to the WebSocket handshake.
type ConnectResult struct {
	// Accepted is true when the application accepted the connection.
	Accepted bool
	// Subprotocol is the subprotocol it chose ("" for none).
	Subprotocol string
	// Headers are the headers it added to the handshake response.
	Headers [][2]string
	// Code and Reason are those of the close that refused the connection (a server answers
	// it with HTTP 403, or 503 with Retry-After for 1013, try again later).
	Code   int
	Reason string
	// Status, Header and Body are the HTTP response of a refusal the application wrote
	// itself (websocket.http.response.start and .body, see channels.Denial); Status is 0
	// otherwise.
	Status int
	Header [][2]string
	Body   []byte
}

// WebsocketCommunicator plays a WebSocket client and the server for one application, in
// process. Create it with NewWebsocketCommunicator, then Connect; end it with Disconnect (or,
// when the application closes the connection, Wait).
type WebsocketCommunicator struct {
	r *runner
	q *wsQueue // the application's Receiver: r.in with the server's overflow policy

	mu       sync.Mutex
	state    wsState
	closeErr *channels.CloseError // what the application's sends return once closed
}

type wsState int

const (
	wsNew        wsState = iota // Connect not called
	wsConnecting                // connect event sent, no answer yet
	wsOpen                      // accepted
	wsClosed                    // closed or refused; the disconnect event was sent
)

// NewWebsocketCommunicator prepares a WebSocket scope for path (which may carry "?query")
// served by app. Nothing runs until Connect.
func NewWebsocketCommunicator(app channels.Application, path string, opts ...Option) *WebsocketCommunicator {
	w := &WebsocketCommunicator{r: newRunner(app, newScope(channels.ScopeWebsocket, "ws", "GET", path, opts))}
	w.r.check = w.check
	w.r.after = w.after
	w.q = newWSQueue(w, w.r.in)
	w.r.recv = w.q
	return w
}

// Scope returns the scope the application is served with.
func (w *WebsocketCommunicator) Scope() *channels.Scope { return w.r.scope }

// check applies the server's rules to an event the application sends.
func (w *WebsocketCommunicator) check(msg channels.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == wsClosed {
		if w.closeErr != nil {
			return w.closeErr
		}
		return channels.ErrClosed
	}
	switch typ := msg.Type(); typ {
	case channels.TypeWebsocketAccept:
		if w.state != wsConnecting {
			return fmt.Errorf("channelstest: %s when the connection is not waiting for an answer to its handshake", typ)
		}
		if sp, ok := msg["subprotocol"]; ok && sp != nil {
			s, ok := sp.(string)
			if !ok {
				return fmt.Errorf("channelstest: %s: subprotocol is %T, want string", typ, sp)
			}
			if s != "" && !slices.Contains(w.r.scope.Subprotocols, s) {
				return fmt.Errorf("channelstest: %s: subprotocol %q was not offered by the client (offered %q)", typ, s, w.r.scope.Subprotocols)
			}
		}
		if h, ok := msg["headers"]; ok && h != nil {
			if _, ok := h.([][2]string); !ok {
				return fmt.Errorf("channelstest: %s: headers is %T, want [][2]string", typ, h)
			}
		}
	case channels.TypeWebsocketSend:
		if w.state != wsOpen {
			return fmt.Errorf("channelstest: %s before the connection was accepted", typ)
		}
		_, isText := msg["text"].(string)
		_, isBytes := msg["bytes"].([]byte)
		if isText == isBytes {
			return fmt.Errorf(`channelstest: %s needs exactly one of "text" (string) and "bytes" ([]byte): %v`, typ, msg)
		}
	case channels.TypeWebsocketClose:
		if w.state != wsConnecting && w.state != wsOpen {
			return fmt.Errorf("channelstest: %s before the handshake", typ)
		}
		if c, ok := msg["code"]; ok {
			code, ok := channels.Message{"code": c}.Int("code")
			if !ok || !validCloseCode(code) {
				return fmt.Errorf("channelstest: %s: invalid close code %v", typ, c)
			}
		}
		if r := msg.String("reason"); len(r) > 123 {
			return fmt.Errorf("channelstest: %s: reason of %d bytes, at most 123 allowed", typ, len(r))
		}
	case channels.TypeWebsocketHTTPResponseStart, channels.TypeWebsocketHTTPResponseBody:
		if w.state != wsConnecting {
			return fmt.Errorf("channelstest: %s when the connection is not waiting for an answer to its handshake", typ)
		}
	default:
		return fmt.Errorf("channelstest: a WebSocket application cannot send an event of type %q", typ)
	}
	return nil
}

func validCloseCode(c int) bool {
	switch {
	case c >= 3000 && c <= 4999:
		return true
	case c < 1000 || c > 1014:
		return false
	}
	return c != channels.CloseNoStatus && c != channels.CloseAbnormal && c != 1004
}

// after updates the state for an event being recorded. A close ends the connection: as a
// server does, the communicator then sends the disconnect event, the application's last,
// with the close's code (1000 for a refused handshake).
func (w *WebsocketCommunicator) after(msg channels.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch msg.Type() {
	case channels.TypeWebsocketAccept:
		w.state = wsOpen
	case channels.TypeWebsocketClose:
		code, ok := msg.Int("code")
		if !ok {
			code = channels.CloseNormal
		}
		w.closeErr = &channels.CloseError{Code: code, Reason: msg.String("reason")}
		if w.state == wsConnecting {
			// A refused handshake (HTTP 403) reports a normal closure, as the server does.
			code = channels.CloseNormal
		}
		w.state = wsClosed
		w.r.in.Close(channels.Message{"type": channels.TypeWebsocketDisconnect, "code": code, "reason": "", "closed_by": "server"})
	case channels.TypeWebsocketHTTPResponseBody:
		if !msg.Bool("more_body") {
			// The refusal is complete: as a server does, the disconnect follows.
			w.state = wsClosed
			w.r.in.Close(channels.Message{"type": channels.TypeWebsocketDisconnect, "code": channels.CloseNormal, "reason": "", "closed_by": "server"})
		}
	}
}

// Connect sends the connect event and waits for the application's answer: an accept, or a
// close that refuses the connection. Other events the application sends first are an error.
func (w *WebsocketCommunicator) Connect(ctx context.Context) (ConnectResult, error) {
	w.mu.Lock()
	if w.state != wsNew {
		w.mu.Unlock()
		return ConnectResult{}, errors.New("channelstest: Connect called twice")
	}
	w.state = wsConnecting
	w.mu.Unlock()
	w.r.start()
	if err := w.r.in.Put(ctx, channels.Message{"type": channels.TypeWebsocketConnect}); err != nil {
		return ConnectResult{}, fmt.Errorf("channelstest: send connect: %w", err)
	}
	msg, err := w.r.receiveOutput(ctx)
	if err != nil {
		w.mu.Lock()
		w.state = wsClosed
		w.mu.Unlock()
		return ConnectResult{}, fmt.Errorf("channelstest: no answer to the handshake: %w", err)
	}
	switch msg.Type() {
	case channels.TypeWebsocketAccept:
		res := ConnectResult{Accepted: true, Subprotocol: msg.String("subprotocol")}
		res.Headers, _ = msg["headers"].([][2]string)
		return res, nil
	case channels.TypeWebsocketClose:
		code, ok := msg.Int("code")
		if !ok {
			code = channels.CloseNormal
		}
		return ConnectResult{Code: code, Reason: msg.String("reason")}, nil
	case channels.TypeWebsocketHTTPResponseStart:
		return w.denial(ctx, msg)
	}
	return ConnectResult{}, fmt.Errorf("channelstest: the application answered the handshake with %v", msg)
}

// SendText sends a text frame from the client.
func (w *WebsocketCommunicator) SendText(ctx context.Context, text string) error {
	return w.input(ctx, channels.Message{"type": channels.TypeWebsocketReceive, "text": text})
}

// SendBytes sends a binary frame from the client.
func (w *WebsocketCommunicator) SendBytes(ctx context.Context, data []byte) error {
	return w.input(ctx, channels.Message{"type": channels.TypeWebsocketReceive, "bytes": data})
}

// SendJSON sends v, encoded with encoding/json, as a text frame.
func (w *WebsocketCommunicator) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("channelstest: SendJSON: encode %T: %w", v, err)
	}
	return w.SendText(ctx, string(b))
}

func (w *WebsocketCommunicator) input(ctx context.Context, msg channels.Message) error {
	w.mu.Lock()
	st := w.state
	w.mu.Unlock()
	switch st {
	case wsNew, wsConnecting:
		return errors.New("channelstest: send before the connection was accepted")
	case wsClosed:
		return fmt.Errorf("channelstest: send on a closed connection: %w", channels.ErrClosed)
	}
	if err := w.r.in.Put(ctx, msg); err != nil {
		return fmt.Errorf("channelstest: send frame: %w", err)
	}
	return nil
}

// ReceiveOutput returns the next event the application sent (a "websocket.send" or
// "websocket.close" once connected), waiting for it. Once the application has returned and
// everything was read it returns an error wrapping ErrNoOutput.
func (w *WebsocketCommunicator) ReceiveOutput(ctx context.Context) (channels.Message, error) {
	return w.r.receiveOutput(ctx)
}

// ReceiveText returns the next frame, which must be a text frame.
func (w *WebsocketCommunicator) ReceiveText(ctx context.Context) (string, error) {
	msg, err := w.frame(ctx)
	if err != nil {
		return "", err
	}
	s, ok := msg["text"].(string)
	if !ok {
		return "", fmt.Errorf("channelstest: want a text frame, got a binary frame of %d bytes", len(msg.Bytes("bytes")))
	}
	return s, nil
}

// ReceiveBytes returns the next frame, which must be a binary frame.
func (w *WebsocketCommunicator) ReceiveBytes(ctx context.Context) ([]byte, error) {
	msg, err := w.frame(ctx)
	if err != nil {
		return nil, err
	}
	b, ok := msg["bytes"].([]byte)
	if !ok {
		return nil, fmt.Errorf("channelstest: want a binary frame, got text %q", msg.String("text"))
	}
	return b, nil
}

// ReceiveJSON decodes the next frame, which must be a text frame, into v.
func (w *WebsocketCommunicator) ReceiveJSON(ctx context.Context, v any) error {
	s, err := w.ReceiveText(ctx)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("channelstest: ReceiveJSON: frame %q: %w", s, err)
	}
	return nil
}

// frame returns the next "websocket.send"; a close in its place is returned as its
// *channels.CloseError.
func (w *WebsocketCommunicator) frame(ctx context.Context) (channels.Message, error) {
	msg, err := w.r.receiveOutput(ctx)
	if err != nil {
		return nil, err
	}
	switch msg.Type() {
	case channels.TypeWebsocketSend:
		return msg, nil
	case channels.TypeWebsocketClose:
		code, ok := msg.Int("code")
		if !ok {
			code = channels.CloseNormal
		}
		return nil, fmt.Errorf("channelstest: want a frame, the application closed the connection: %w", &channels.CloseError{Code: code, Reason: msg.String("reason")})
	}
	return nil, fmt.Errorf("channelstest: want a frame, got %v", msg)
}

// ReceiveNothing reports whether the application sends nothing within d. It consumes
// nothing.
func (w *WebsocketCommunicator) ReceiveNothing(ctx context.Context, d time.Duration) bool {
	return w.r.out.empty(ctx, d)
}

// Disconnect closes the connection from the client's side with code (the application gets
// its disconnect event, unless the connection is already closed) and waits for the
// application to return, returning its result as Wait does.
func (w *WebsocketCommunicator) Disconnect(ctx context.Context, code int) error {
	w.mu.Lock()
	switch w.state {
	case wsNew:
		w.state = wsClosed
		w.mu.Unlock()
		return nil
	case wsConnecting, wsOpen:
		w.state = wsClosed
		w.closeErr = &channels.CloseError{Code: code}
		w.r.in.Close(channels.Message{"type": channels.TypeWebsocketDisconnect, "code": code, "reason": "", "closed_by": "client"})
	}
	w.mu.Unlock()
	return w.r.wait(ctx)
}

// Wait waits for the application to return and returns its result. If ctx ends first, Wait
// cancels the application's context, waits a little longer, and returns an error.
func (w *WebsocketCommunicator) Wait(ctx context.Context) error {
	w.mu.Lock()
	st := w.state
	w.mu.Unlock()
	if st == wsNew {
		return nil
	}
	return w.r.wait(ctx)
}

// Receiver returns the mailbox the application receives from. Its Inject refuses a message
// past the byte bound (channels.ErrMailboxFull); the communicator's Inject applies the
// server's policy instead (a close with 1008 by default).
func (w *WebsocketCommunicator) Receiver() *channels.Mailbox { return w.r.in }

// denial collects the refusal the application writes itself, start event msg first.
func (w *WebsocketCommunicator) denial(ctx context.Context, msg channels.Message) (ConnectResult, error) {
	res := ConnectResult{Code: channels.CloseNormal}
	res.Status, _ = msg.Int("status")
	res.Header, _ = msg["headers"].([][2]string)
	for {
		part, err := w.r.receiveOutput(ctx)
		if err != nil {
			return res, fmt.Errorf("channelstest: the refusal's body did not arrive: %w", err)
		}
		if part.Type() != channels.TypeWebsocketHTTPResponseBody {
			return res, fmt.Errorf("channelstest: the application sent %v in the middle of its refusal", part)
		}
		switch b := part["body"].(type) {
		case []byte:
			res.Body = append(res.Body, b...)
		case string:
			res.Body = append(res.Body, b...)
		}
		if !part.Bool("more_body") {
			return res, nil
		}
	}
}
