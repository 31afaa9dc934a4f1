package middleware

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// responseKey is the context key of the record RecordResponses puts in a request.
type responseKey struct{}

// responseRecord holds what was written of one HTTP response, and what was read of its
// request's body.
type responseRecord struct {
	status atomic.Int32
	bytes  atomic.Int64
	in     atomic.Int64 // request body bytes read
}

func (rec *responseRecord) setStatus(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		rec.status.CompareAndSwap(0, int32(code))
	}
}

// RecordResponses wraps the http.Handler that serves a channels.Server (normally the server
// itself, mounted in a mux) so that the middleware inside the server learn the status and
// body size of responses that do not go through the application's Sender:
// channels.FromHTTPHandler on a real server hands its http.Handler the original
// ResponseWriter, so AccessLog would log status 0 and ops.Metrics.Instrument would count
// status class "unknown". Both read RecordedResponse.
//
// WebSocket handshakes (and other upgrades) pass through untouched; other requests get a
// ResponseWriter that records the first status and the body bytes and keeps Flush, Hijack,
// ReadFrom and http.ResponseController's Unwrap. The request body is counted as it is read,
// for AccessLog's bytes_in (such a handler reads the body itself, not through events). The
// scope's context carries the record, since the server derives it from the request's.
func RecordResponses(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &responseRecord{}
		r = r.WithContext(context.WithValue(r.Context(), responseKey{}, rec))
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &countingBody{ReadCloser: r.Body, n: &rec.in}
		}
		next.ServeHTTP(&recordingWriter{ResponseWriter: w, rec: rec}, r)
	})
}

// recordedBodyIn returns how many request body bytes were read so far of the request whose
// context (or a scope's context derived from it) is ctx; ok is false when the request did not
// pass through RecordResponses.
func recordedBodyIn(ctx context.Context) (n int64, ok bool) {
	rec, ok := ctx.Value(responseKey{}).(*responseRecord)
	if !ok {
		return 0, false
	}
	return rec.in.Load(), true
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

// Read reads from the body and counts what it got.
func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// RecordedResponse returns the status and the body bytes written so far to the response of
// the request whose context (or a scope's context derived from it) is ctx. ok is false when
// the request did not pass through RecordResponses; status is 0 while nothing was written.
func RecordedResponse(ctx context.Context) (status int, bytes int64, ok bool) {
	rec, ok := ctx.Value(responseKey{}).(*responseRecord)
	if !ok {
		return 0, 0, false
	}
	return int(rec.status.Load()), rec.bytes.Load(), true
}

// isUpgrade reports whether r asks for a protocol upgrade (a WebSocket handshake).
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// recordingWriter records the status and size of the response written through it.
type recordingWriter struct {
	http.ResponseWriter
	rec *responseRecord
}

// WriteHeader records code and passes it on.
func (w *recordingWriter) WriteHeader(code int) {
	w.rec.setStatus(code)
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and the bytes written.
func (w *recordingWriter) Write(p []byte) (int, error) {
	w.rec.setStatus(http.StatusOK)
	n, err := w.ResponseWriter.Write(p)
	w.rec.bytes.Add(int64(n))
	return n, err
}

// ReadFrom records an implicit 200 and copies with the underlying writer's ReadFrom when it
// has one (sendfile).
func (w *recordingWriter) ReadFrom(r io.Reader) (int64, error) {
	w.rec.setStatus(http.StatusOK)
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.rec.bytes.Add(n)
	return n, err
}

// Flush flushes the underlying writer when it can.
func (w *recordingWriter) Flush() {
	w.rec.setStatus(http.StatusOK)
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands over the connection when the underlying writer can.
func (w *recordingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
