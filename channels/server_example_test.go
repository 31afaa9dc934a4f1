package channels_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gochannels/gochannels/channels"
)

// A Server is an http.Handler: mount it beside other handlers in any mux. Here an HTTP
// request is served through the mux without a network.
func ExampleServer() {
	hello := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if _, err := receive.Receive(ctx); err != nil { // the (empty) request body
			return err
		}
		if err := send.Send(ctx, channels.Message{
			"type":    channels.TypeHTTPResponseStart,
			"status":  200,
			"headers": [][2]string{{"Content-Type", "text/plain"}},
		}); err != nil {
			return err
		}
		return send.Send(ctx, channels.Message{
			"type": channels.TypeHTTPResponseBody,
			"body": []byte("hello from " + scope.Path),
		})
	})
	srv := &channels.Server{Application: hello}
	mux := http.NewServeMux()
	mux.Handle("/app/", srv)
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/app/page", nil))
	fmt.Println(rec.Code, rec.Body.String())
	// Output: 200 hello from /app/page
}

// FromHTTPHandler runs a plain http.Handler as an application.
func ExampleFromHTTPHandler() {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	})
	srv := &channels.Server{Application: channels.FromHTTPHandler(h)}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("POST", "/submit", nil))
	fmt.Println(rec.Code, rec.Body.String())
	// Output: 200 POST /submit
}
