package channels

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wholeBodyApp echoes the request body and some scope fields.
var wholeBodyApp = ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
	var body []byte
	for {
		m, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		body = append(body, m.Bytes("body")...)
		if !m.Bool("more_body") {
			break
		}
	}
	if err := send.Send(ctx, Message{"type": TypeHTTPResponseStart, "status": 201, "headers": [][2]string{
		{"Content-Type", "text/plain"}, {"X-Path", scope.Path}, {"X-Query", scope.QueryString},
		{"X-Scheme", scope.Scheme}, {"X-Method", scope.Method}, {"X-Version", scope.HTTPVersion},
	}}); err != nil {
		return err
	}
	return send.Send(ctx, Message{"type": TypeHTTPResponseBody, "body": body})
})

func TestHTTPWholeBody(t *testing.T) {
	_, addr := startServer(t, wholeBodyApp, func(s *Server) { s.HTTPBodyChunk = 1000 })
	payload := strings.Repeat("0123456789", 1000) // several chunks
	resp, err := http.Post("http://"+addr+"/a%20b/c?q=1", "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || string(got) != payload {
		t.Fatalf("status %d, body of %d bytes", resp.StatusCode, len(got))
	}
	want := map[string]string{"X-Path": "/a b/c", "X-Query": "q=1", "X-Scheme": "http", "X-Method": "POST", "X-Version": "1.1"}
	for k, v := range want {
		if resp.Header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, resp.Header.Get(k), v)
		}
	}
	// A GET without a body gets one empty event.
	resp2, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 201 {
		t.Fatalf("GET status %d", resp2.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestHTTPStreamingAndSSE(t *testing.T) {
	step := make(chan struct{})
	disconnected := make(chan struct{})
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		if err := send.Send(ctx, Message{"type": TypeHTTPResponseStart, "status": 200, "headers": [][2]string{{"Content-Type", "text/event-stream"}}}); err != nil {
			return err
		}
		for i := 0; i < 3; i++ {
			if err := send.Send(ctx, Message{"type": TypeHTTPResponseBody, "body": []byte("data: tick\n\n"), "more_body": true}); err != nil {
				return err
			}
			<-step // the client must have seen this event before the next one is sent
		}
		m, err := receive.Receive(ctx) // the client goes away
		if err == nil && m.Type() == TypeHTTPDisconnect {
			close(disconnected)
		}
		return nil
	})
	_, addr := startServer(t, app, nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		line, err := br.ReadString('\n')
		if err != nil || line != "data: tick\n" {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		_, _ = br.ReadString('\n')
		step <- struct{}{}
	}
	resp.Body.Close()
	select {
	case <-disconnected:
	case <-time.After(testTimeout):
		t.Fatal("no http.disconnect after the client left")
	}
}

func TestHTTPNoResponseIs500(t *testing.T) {
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error { return nil })
	_, addr := startServer(t, app, func(s *Server) { s.Logger = discardLogger() })
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestHTTPPanicIs500(t *testing.T) {
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error { panic("oops") })
	_, addr := startServer(t, app, func(s *Server) { s.Logger = discardLogger() })
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestFromHTTPHandlerDirect(t *testing.T) {
	var sawOriginal bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, sawOriginal = w.(http.Flusher)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Handler", "yes")
		io.WriteString(w, "got "+string(body)+" at "+r.URL.Path)
	})
	_, addr := startServer(t, FromHTTPHandler(h), nil)
	resp, err := http.Post("http://"+addr+"/p", "text/plain", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "got abc at /p" || resp.Header.Get("X-Handler") != "yes" || !sawOriginal {
		t.Fatalf("%q %v %v", b, resp.Header, sawOriginal)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestFromHTTPHandlerConverted(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(202)
		io.WriteString(w, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" host="+r.Host+" ")
		w.(http.Flusher).Flush()
		w.Write(body)
	})
	scope := &Scope{Type: ScopeHTTP, Method: "PUT", Path: "/x y", RawPath: "/x%20y", QueryString: "a=1",
		Headers: http.Header{"Host": {"example.com"}}}
	events := []Message{
		{"type": TypeHTTPRequest, "body": []byte("he"), "more_body": true},
		{"type": TypeHTTPRequest, "body": []byte("llo"), "more_body": false},
	}
	receive := ReceiveFunc(func(ctx context.Context) (Message, error) {
		if len(events) == 0 {
			return Message{"type": TypeHTTPDisconnect}, nil
		}
		m := events[0]
		events = events[1:]
		return m, nil
	})
	var sent []Message
	send := SendFunc(func(ctx context.Context, m Message) error { sent = append(sent, m); return nil })
	if err := FromHTTPHandler(h).Serve(context.Background(), scope, receive, send); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 3 || sent[0].Type() != TypeHTTPResponseStart {
		t.Fatalf("events %v", sent)
	}
	if st, _ := sent[0].Int("status"); st != 202 {
		t.Errorf("status %v", sent[0])
	}
	var body bytes.Buffer
	for _, m := range sent[1:] {
		body.Write(m.Bytes("body"))
	}
	if body.String() != "PUT /x y?a=1 host=example.com hello" {
		t.Errorf("body %q", body.String())
	}
	if !sent[1].Bool("more_body") || sent[2].Bool("more_body") {
		t.Errorf("more_body flags wrong: %v", sent)
	}
}
