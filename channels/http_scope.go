package channels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// newScope builds the scope of r.
func (s *Server) newScope(r *http.Request, typ string) *Scope {
	sc := &Scope{
		Type:        typ,
		Method:      r.Method,
		Path:        r.URL.Path,
		RawPath:     r.URL.EscapedPath(),
		QueryString: r.URL.RawQuery,
		Headers:     r.Header,
		Client:      clientAddr(r.RemoteAddr),
	}
	secure := r.TLS != nil
	switch {
	case typ == ScopeWebsocket && secure:
		sc.Scheme = "wss"
	case typ == ScopeWebsocket:
		sc.Scheme = "ws"
	case secure:
		sc.Scheme = "https"
	default:
		sc.Scheme = "http"
	}
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		sc.HTTPVersion = "1.0"
	case r.ProtoMajor == 1:
		sc.HTTPVersion = "1.1"
	default:
		sc.HTTPVersion = strconv.Itoa(r.ProtoMajor)
	}
	if sc.Headers == nil {
		sc.Headers = http.Header{}
	}
	if r.Host != "" && sc.Headers.Get("Host") == "" {
		// net/http moves Host out of the header map; ASGI applications expect it there.
		sc.Headers.Set("Host", r.Host)
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		sc.Server = la.String()
	}
	return sc
}

// httpScopeKey is the scope value key under which the server keeps the original request
// and ResponseWriter, for FromHTTPHandler.
type httpScopeKey struct{}

// httpExchange is one HTTP request being served: the Receiver and Sender of its
// application.
type httpExchange struct {
	srv *Server
	w   http.ResponseWriter
	r   *http.Request

	mu         sync.Mutex
	claimed    bool // a handler took over the request (FromHTTPHandler)
	events     bool // the application used receive or send
	bodyDone   bool
	discSent   bool
	started    bool
	finished   bool
	status     int
	headers    [][2]string
	wroteHead  bool
	writeError error
}

// claim lets FromHTTPHandler take over the request; it fails once events were exchanged.
func (h *httpExchange) claim() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.events || h.claimed {
		return false
	}
	h.claimed = true
	return true
}

func (s *Server) serveHTTPScope(w http.ResponseWriter, r *http.Request) {
	if ok, reason := s.acquire(); !ok {
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	defer s.releaseSlot()
	defer s.done()
	scope := s.newScope(r, ScopeHTTP)
	h := &httpExchange{srv: s, w: w, r: r}
	scope.Set(httpScopeKey{}, h)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.base, cancel) // forced shutdown
	defer stop()

	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				pe := NewPanicError(p)
				err = fmt.Errorf("channels: application: %w", pe)
				s.logger().Error("channels: http application panicked", "path", scope.Path,
					"panic", p, "stack", string(pe.Stack))
			}
		}()
		err = s.Application.Serve(ctx, scope, h, h)
	}()
	h.mu.Lock()
	claimed, started := h.claimed, h.started
	h.mu.Unlock()
	if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
		s.logger().Error("channels: http application failed", "path", scope.Path, "err", err)
	}
	if claimed {
		return
	}
	if !started {
		if err == nil {
			s.logger().Error("channels: http application returned without a response", "path", scope.Path)
		}
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h.mu.Lock()
	if !h.wroteHead {
		h.writeHeadLocked()
	}
	h.mu.Unlock()
}

// Receive yields the request body in "http.request" events, then "http.disconnect".
func (h *httpExchange) Receive(ctx context.Context) (Message, error) {
	h.mu.Lock()
	h.events = true
	bodyDone, finished, disc := h.bodyDone, h.finished, h.discSent
	h.mu.Unlock()
	if !bodyDone {
		return h.readBody()
	}
	if disc {
		return nil, ErrClosed
	}
	if !finished {
		select {
		case <-h.r.Context().Done():
		case <-h.srv.quit:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	h.mu.Lock()
	h.discSent = true
	h.mu.Unlock()
	return Message{"type": TypeHTTPDisconnect}, nil
}

func (h *httpExchange) readBody() (Message, error) {
	r := h.r
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		h.mu.Lock()
		h.bodyDone = true
		h.mu.Unlock()
		return Message{"type": TypeHTTPRequest, "body": []byte{}, "more_body": false}, nil
	}
	size := h.srv.bodyChunk()
	if r.ContentLength > 0 && r.ContentLength < int64(size) {
		size = int(r.ContentLength) + 1 // one more byte to see EOF in the same read
	}
	buf := make([]byte, size)
	n, err := io.ReadFull(r.Body, buf)
	more := true
	switch {
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		more = false
	default:
		// The client went away mid-body, or the body broke the limits.
		h.mu.Lock()
		h.bodyDone, h.discSent = true, true
		h.mu.Unlock()
		return Message{"type": TypeHTTPDisconnect}, nil
	}
	if !more {
		h.mu.Lock()
		h.bodyDone = true
		h.mu.Unlock()
	}
	return Message{"type": TypeHTTPRequest, "body": buf[:n:n], "more_body": more}, nil
}

// Send writes "http.response.start" and "http.response.body" events to the client.
func (h *httpExchange) Send(ctx context.Context, msg Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = true
	if h.claimed {
		return errors.New("channels: http response already written by an http.Handler")
	}
	switch t := msg.Type(); t {
	case TypeHTTPResponseStart:
		if h.started {
			return errors.New("channels: http.response.start sent twice")
		}
		status, ok := msg.Int("status")
		if !ok || status < 100 || status > 999 {
			return fmt.Errorf("channels: http.response.start: invalid status %v", msg["status"])
		}
		var headers [][2]string
		if v, ok := msg["headers"]; ok && v != nil {
			var err error
			if headers, err = headerPairs(v); err != nil {
				return fmt.Errorf("channels: http.response.start: %w", err)
			}
		}
		h.started, h.status, h.headers = true, status, headers
		return nil
	case TypeHTTPResponseBody:
		if !h.started {
			return errors.New("channels: http.response.body before http.response.start")
		}
		if h.finished {
			return fmt.Errorf("channels: http.response.body after the response ended: %w", ErrClosed)
		}
		if h.writeError != nil {
			return h.writeError
		}
		var body []byte
		switch b := msg["body"].(type) {
		case []byte:
			body = b
		case string:
			body = []byte(b)
		case nil:
		default:
			return fmt.Errorf("channels: http.response.body \"body\" must be []byte, not %T", b)
		}
		more := msg.Bool("more_body")
		if !h.wroteHead {
			h.writeHeadLocked()
		}
		if len(body) > 0 {
			if _, err := h.w.Write(body); err != nil {
				h.writeError = fmt.Errorf("channels: writing the response body: %w: %v", ErrClosed, err)
				return h.writeError
			}
		}
		if more {
			if err := http.NewResponseController(h.w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				h.writeError = fmt.Errorf("channels: flushing the response: %w: %v", ErrClosed, err)
				return h.writeError
			}
		} else {
			h.finished = true
		}
		return nil
	default:
		return fmt.Errorf("channels: http application sent unknown event type %q", t)
	}
}

// writeHeadLocked writes the status line and headers; h.mu is held.
func (h *httpExchange) writeHeadLocked() {
	h.wroteHead = true
	hdr := h.w.Header()
	for _, kv := range h.headers {
		hdr.Add(kv[0], kv[1])
	}
	h.w.WriteHeader(h.status)
}

// headerPairs converts the "headers" of an event into name/value pairs. It accepts
// [][2]string, [][]string, [][2][]byte, [][][]byte and []any whose items are any of those
// pair forms or []any of two strings or byte slices (as msgpack decodes them).
func headerPairs(v any) ([][2]string, error) {
	switch hs := v.(type) {
	case [][2]string:
		return hs, nil
	case [][]string:
		out := make([][2]string, len(hs))
		for i, p := range hs {
			if len(p) != 2 {
				return nil, fmt.Errorf("header %d has %d parts, want 2", i, len(p))
			}
			out[i] = [2]string{p[0], p[1]}
		}
		return out, nil
	case [][2][]byte:
		out := make([][2]string, len(hs))
		for i, p := range hs {
			out[i] = [2]string{string(p[0]), string(p[1])}
		}
		return out, nil
	case [][][]byte:
		out := make([][2]string, len(hs))
		for i, p := range hs {
			if len(p) != 2 {
				return nil, fmt.Errorf("header %d has %d parts, want 2", i, len(p))
			}
			out[i] = [2]string{string(p[0]), string(p[1])}
		}
		return out, nil
	case []any:
		out := make([][2]string, len(hs))
		for i, item := range hs {
			p, err := headerPair(item)
			if err != nil {
				return nil, fmt.Errorf("header %d: %w", i, err)
			}
			out[i] = p
		}
		return out, nil
	}
	return nil, fmt.Errorf("headers must be [][2]string, not %T", v)
}

func headerPair(item any) ([2]string, error) {
	switch p := item.(type) {
	case [2]string:
		return p, nil
	case []string:
		if len(p) == 2 {
			return [2]string{p[0], p[1]}, nil
		}
	case [][]byte:
		if len(p) == 2 {
			return [2]string{string(p[0]), string(p[1])}, nil
		}
	case []any:
		if len(p) == 2 {
			a, ok1 := stringish(p[0])
			b, ok2 := stringish(p[1])
			if ok1 && ok2 {
				return [2]string{a, b}, nil
			}
		}
	}
	return [2]string{}, fmt.Errorf("want a pair of strings, not %T", item)
}

func stringish(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case []byte:
		return string(s), true
	}
	return "", false
}

// clientAddr is the scope's client address for a request's RemoteAddr: a unix-socket peer
// (which net/http reports as "@") has none.
func clientAddr(remote string) string {
	if remote == "@" {
		return ""
	}
	return remote
}
