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

// responseRecord holds what was written of one HTTP response.
type responseRecord struct {
	status atomic.Int32
	bytes  atomic.Int64
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
// ReadFrom and http.ResponseController's Unwrap. The scope's context carries the record,
// since the server derives it from the request's.
func RecordResponses(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &responseRecord{}
		next.ServeHTTP(&recordingWriter{ResponseWriter: w, rec: rec}, r.WithContext(context.WithValue(r.Context(), responseKey{}, rec)))
	})
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
