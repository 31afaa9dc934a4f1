package channels

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gochannels/gochannels/internal/wsproto"
)

// Events of a WebSocket handshake refused with the application's own HTTP response, as in
// the ASGI "WebSocket Denial Response" extension (what Django Channels calls
// websocket.http.response). They are valid only before accept, instead of websocket.close.
const (
	// TypeWebsocketHTTPResponseStart starts the refusal: "status" (int, 300 to 599) and
	// "headers" ([][2]string).
	TypeWebsocketHTTPResponseStart = "websocket.http.response.start"
	// TypeWebsocketHTTPResponseBody carries (part of) the refusal's body: "body" ([]byte or
	// string) and "more_body" (bool, true while more parts follow). The response is written
	// once the last part (more_body false or missing) arrives.
	TypeWebsocketHTTPResponseBody = "websocket.http.response.body"
)

// MaxDenialBodyBytes bounds the body of a refusal sent with TypeWebsocketHTTPResponseBody:
// a longer one is an error of the application's Send, and the handshake is refused with 500.
const MaxDenialBodyBytes = 64 << 10

// Denial is an HTTP response that refuses a WebSocket handshake or an HTTP request: the
// application's own status, headers and body instead of the default 403.
//
// It is an error: an Application (or a consumer's Connect hook) that returns a *Denial, or
// an error wrapping one, before accepting a WebSocket has its handshake answered with it,
// and nothing is logged. Returned after accept it closes the connection with 1008 (policy
// violation). It is also an http.Handler, for net/http code such as CSRFOptions.Failure in
// package middleware, and Send sends it through any scope's Sender.
type Denial struct {
	// Status is the HTTP status, 300 to 599 (403 when 0).
	Status int
	// Header holds the response headers. Content-Length is computed; hop-by-hop headers
	// (Connection, Transfer-Encoding, Upgrade) are not sent.
	Header http.Header
	// Body is the response body (at most MaxDenialBodyBytes for a WebSocket handshake).
	Body []byte
}

// Error implements error.
func (d *Denial) Error() string {
	return fmt.Sprintf("channels: refused with HTTP %d %s", d.status(), http.StatusText(d.status()))
}

func (d *Denial) status() int {
	if d.Status == 0 {
		return http.StatusForbidden
	}
	return d.Status
}

// headerPairs returns the headers to send, in a stable order (by name, then value order),
// without Content-Length and hop-by-hop headers.
func (d *Denial) headerPairs() [][2]string {
	var hs [][2]string
	for name, vs := range d.Header {
		if hopByHop(name) {
			continue
		}
		for _, v := range vs {
			hs = append(hs, [2]string{name, v})
		}
	}
	sortPairs(hs)
	return hs
}

func sortPairs(hs [][2]string) {
	// Insertion sort by name keeps each name's values in their order; headers are few.
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && hs[j][0] < hs[j-1][0]; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
}

// Send sends d through send for scope: for a WebSocket scope, before accept, the
// TypeWebsocketHTTPResponseStart and TypeWebsocketHTTPResponseBody events; for an HTTP
// scope, http.response.start and http.response.body. Other scopes cannot be answered with
// an HTTP response: Send returns d itself, so that the caller can return it.
func (d *Denial) Send(ctx context.Context, scope *Scope, send Sender) error {
	start, body := TypeHTTPResponseStart, TypeHTTPResponseBody
	switch scope.Type {
	case ScopeWebsocket:
		start, body = TypeWebsocketHTTPResponseStart, TypeWebsocketHTTPResponseBody
	case ScopeHTTP:
	default:
		return d
	}
	hs := d.headerPairs()
	if scope.Type == ScopeHTTP {
		hs = append(hs, [2]string{"Content-Length", strconv.Itoa(len(d.Body))})
	}
	if err := send.Send(ctx, Message{"type": start, "status": d.status(), "headers": hs}); err != nil {
		return err
	}
	b := d.Body
	if b == nil {
		b = []byte{}
	}
	return send.Send(ctx, Message{"type": body, "body": b})
}

// ServeHTTP writes d as the response to r.
func (d *Denial) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	writeDenial(w, d.status(), d.headerPairs(), d.Body)
}

// writeDenial writes a refusal's response.
func writeDenial(w http.ResponseWriter, status int, headers [][2]string, body []byte) {
	h := w.Header()
	for _, p := range headers {
		if hopByHop(p[0]) {
			continue
		}
		h.Add(p[0], p[1])
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func hopByHop(name string) bool {
	switch strings.ToLower(name) {
	case "connection", "transfer-encoding", "upgrade", "content-length", "keep-alive":
		return true
	}
	return false
}

// pendingDenial is a refusal whose start event was sent and whose body is still coming.
type pendingDenial struct {
	status  int
	headers [][2]string
	body    []byte
}

// denialStart records the start of the application's own refusal.
//
//go:noinline
func (c *wsConn) denialStart(msg Message) error {
	status, ok := msg.Int("status")
	if !ok || status < 300 || status > 599 {
		return fmt.Errorf("channels: %s: invalid status %v (want 300 to 599)", TypeWebsocketHTTPResponseStart, msg["status"])
	}
	p := &pendingDenial{status: status}
	if v, ok := msg["headers"]; ok && v != nil {
		hs, err := headerPairs(v)
		if err != nil {
			return fmt.Errorf("channels: %s: %w", TypeWebsocketHTTPResponseStart, err)
		}
		for _, h := range hs {
			if !wsproto.ValidHeaderName(h[0]) || !wsproto.ValidHeaderValue(h[1]) {
				return fmt.Errorf("channels: %s: invalid header %q: %q", TypeWebsocketHTTPResponseStart, h[0], h[1])
			}
		}
		p.headers = hs
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.state != stateHandshake:
		return fmt.Errorf("channels: %s after the handshake ended: %w", TypeWebsocketHTTPResponseStart, ErrClosed)
	case c.denial != nil:
		return fmt.Errorf("channels: %s sent twice", TypeWebsocketHTTPResponseStart)
	}
	c.denial = p
	return nil
}

// denialBody adds to the refusal's body, and answers the handshake with it after the last
// part.
//
//go:noinline
func (c *wsConn) denialBody(msg Message) error {
	var part []byte
	switch b := msg["body"].(type) {
	case nil:
	case []byte:
		part = b
	case string:
		part = []byte(b)
	default:
		return fmt.Errorf("channels: %s \"body\" must be []byte, not %T", TypeWebsocketHTTPResponseBody, b)
	}
	c.mu.Lock()
	p := c.denial
	switch {
	case c.state != stateHandshake:
		c.mu.Unlock()
		return fmt.Errorf("channels: %s after the handshake ended: %w", TypeWebsocketHTTPResponseBody, ErrClosed)
	case p == nil:
		c.mu.Unlock()
		return fmt.Errorf("channels: %s before %s", TypeWebsocketHTTPResponseBody, TypeWebsocketHTTPResponseStart)
	case len(p.body)+len(part) > MaxDenialBodyBytes:
		c.denial = nil
		c.mu.Unlock()
		c.answer(wsDecision{status: http.StatusInternalServerError})
		return fmt.Errorf("channels: %s: the body passed %d bytes", TypeWebsocketHTTPResponseBody, MaxDenialBodyBytes)
	}
	p.body = append(p.body, part...)
	if msg.Bool("more_body") {
		c.mu.Unlock()
		return nil
	}
	c.denial = nil
	c.mu.Unlock()
	c.answer(wsDecision{status: p.status, headers: p.headers, body: p.body, custom: true})
	return nil
}

// takeDenial returns the decision of a refusal that was started but not finished when the
// application returned (its body so far), or ok=false.
func (c *wsConn) takeDenial() (d wsDecision, ok bool) {
	c.mu.Lock()
	p := c.denial
	c.denial = nil
	c.mu.Unlock()
	if p == nil {
		return d, false
	}
	return wsDecision{status: p.status, headers: p.headers, body: p.body, custom: true}, true
}

// denialDecision is the decision for an application that returned d before accept.
func denialDecision(d *Denial) wsDecision {
	st := d.status()
	if st < 300 || st > 599 {
		st = http.StatusInternalServerError
	}
	var hs [][2]string
	for _, h := range d.headerPairs() {
		if wsproto.ValidHeaderName(h[0]) && wsproto.ValidHeaderValue(h[1]) {
			hs = append(hs, h)
		}
	}
	body := d.Body
	if len(body) > MaxDenialBodyBytes {
		body = body[:MaxDenialBodyBytes]
	}
	return wsDecision{status: st, headers: hs, body: body, custom: true}
}
