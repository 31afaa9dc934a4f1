package channels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// FromHTTPHandler returns an Application that serves HTTP scopes with h, so that any
// net/http handler can sit behind a router beside consumers.
//
// When the scope came from a Server, h is called directly with the original request and
// ResponseWriter: nothing is converted, and streaming, Flush and Hijack work as usual (if a
// router moved part of the path to Scope.RootPath, the request's URL.Path is Scope.Path).
// Otherwise (a scope built by hand, as in tests) the request is rebuilt from the scope and
// its "http.request" events, and what h writes becomes "http.response.start" and
// "http.response.body" events; Flush sends the bytes written so far with more_body true.
//
// A scope of another type is an error.
func FromHTTPHandler(h http.Handler) Application {
	return ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		if scope.Type != ScopeHTTP {
			return fmt.Errorf("channels: FromHTTPHandler cannot serve a %q scope", scope.Type)
		}
		if ex, ok := scope.Value(httpScopeKey{}).(*httpExchange); ok && ex.claim() {
			r := ex.r
			if r.URL.Path != scope.Path || r.Context() != ctx {
				r = r.WithContext(ctx)
				if r.URL.Path != scope.Path {
					u := *r.URL
					u.Path, u.RawPath = scope.Path, ""
					r.URL = &u
				}
			}
			h.ServeHTTP(ex.w, r)
			return nil
		}
		return serveConverted(ctx, h, scope, receive, send)
	})
}

// serveConverted runs h on a request rebuilt from scope and events.
func serveConverted(ctx context.Context, h http.Handler, scope *Scope, receive Receiver, send Sender) error {
	var body bytes.Buffer
	for {
		m, err := receive.Receive(ctx)
		if err != nil {
			return fmt.Errorf("channels: reading the request body: %w", err)
		}
		if m.Type() == TypeHTTPDisconnect {
			return nil
		}
		if m.Type() != TypeHTTPRequest {
			continue
		}
		body.Write(m.Bytes("body"))
		if !m.Bool("more_body") {
			break
		}
	}
	target := scope.RawPath
	if target == "" {
		target = (&url.URL{Path: scope.Path}).EscapedPath()
	}
	if scope.QueryString != "" {
		target += "?" + scope.QueryString
	}
	method := scope.Method
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body.Bytes()))
	if err != nil {
		return fmt.Errorf("channels: building a request from the scope: %w", err)
	}
	r.RequestURI = target
	r.RemoteAddr = scope.Client
	if scope.Headers != nil {
		r.Header = scope.Headers.Clone()
		r.Host = scope.Headers.Get("Host")
		r.Header.Del("Host")
	}
	switch scope.HTTPVersion {
	case "1.0":
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0
	case "2":
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	default:
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	}
	w := &eventWriter{ctx: ctx, send: send, header: http.Header{}}
	h.ServeHTTP(w, r)
	return w.finish()
}

// eventWriter is the http.ResponseWriter of a converted request: it turns writes into
// response events.
type eventWriter struct {
	ctx     context.Context
	send    Sender
	header  http.Header
	status  int
	started bool
	buf     []byte
	err     error
}

const eventWriterChunk = 32 << 10

func (w *eventWriter) Header() http.Header { return w.header }

func (w *eventWriter) WriteHeader(status int) {
	if w.started || w.status != 0 {
		return
	}
	w.status = status
}

func (w *eventWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= eventWriterChunk {
		if err := w.flush(true); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush implements http.Flusher.
func (w *eventWriter) Flush() { _ = w.flush(true) }

func (w *eventWriter) start() error {
	if w.started {
		return nil
	}
	w.started = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if _, ok := w.header["Content-Type"]; !ok && len(w.buf) > 0 {
		w.header.Set("Content-Type", http.DetectContentType(w.buf))
	}
	headers := make([][2]string, 0, len(w.header))
	for k, vs := range w.header {
		for _, v := range vs {
			headers = append(headers, [2]string{k, v})
		}
	}
	return w.send.Send(w.ctx, Message{"type": TypeHTTPResponseStart, "status": w.status, "headers": headers})
}

func (w *eventWriter) flush(more bool) error {
	if w.err != nil {
		return w.err
	}
	if !w.started && !more {
		if _, ok := w.header["Content-Length"]; !ok {
			w.header.Set("Content-Length", strconv.Itoa(len(w.buf)))
		}
	}
	if err := w.start(); err != nil {
		w.err = err
		return err
	}
	body := w.buf
	w.buf = nil
	if err := w.send.Send(w.ctx, Message{"type": TypeHTTPResponseBody, "body": body, "more_body": more}); err != nil {
		w.err = err
		return err
	}
	return nil
}

// finish ends the response.
func (w *eventWriter) finish() error {
	err := w.flush(false)
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

var _ io.Writer = (*eventWriter)(nil)
