package channelstest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recorder is a WebSocket application that runs a script on connect and records every event
// it receives.
type recorder struct {
	onConnect func(ctx context.Context, send channels.Sender) error
	events    chan channels.Message
}

func (r *recorder) Serve(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	for {
		msg, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		r.events <- msg
		switch msg.Type() {
		case channels.TypeWebsocketConnect:
			if err := r.onConnect(ctx, send); err != nil {
				return err
			}
		case channels.TypeWebsocketReceive:
			if msg.String("text") == "close" {
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketClose, "code": 4000}); err != nil {
					return err
				}
				continue
			}
			if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": msg.String("text"), "bytes": msg.Bytes("bytes")}); err != nil {
				if t, ok := msg["text"].(string); ok {
					err = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": t})
				} else {
					err = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "bytes": msg.Bytes("bytes")})
				}
				if err != nil {
					return err
				}
			}
		case channels.TypeWebsocketDisconnect:
			return nil
		}
	}
}

func accept(ctx context.Context, send channels.Sender) error {
	return send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept})
}

func newRecorder(onConnect func(context.Context, channels.Sender) error) *recorder {
	return &recorder{onConnect: onConnect, events: make(chan channels.Message, 100)}
}

func types(r *recorder) []string {
	var out []string
	for {
		select {
		case m := <-r.events:
			out = append(out, m.Type())
		default:
			return out
		}
	}
}

func TestWebsocketLifecycle(t *testing.T) {
	ctx := testCtx(t)
	r := newRecorder(accept)
	c := channelstest.NewWebsocketCommunicator(r, "/ws/x/?a=1", channelstest.WithHeader("Cookie", "k=v"))
	if c.Scope().QueryString != "a=1" || c.Scope().Path != "/ws/x/" || c.Scope().Headers.Get("Cookie") != "k=v" {
		t.Fatalf("scope %+v", c.Scope())
	}
	if err := c.SendText(ctx, "early"); err == nil {
		t.Fatal("send before connect succeeded")
	}
	res, err := c.Connect(ctx)
	if err != nil || !res.Accepted {
		t.Fatalf("connect: %+v %v", res, err)
	}
	if _, err := c.Connect(ctx); err == nil {
		t.Fatal("second Connect succeeded")
	}
	if err := c.SendText(ctx, "hi"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ReceiveText(ctx); err != nil || got != "hi" {
		t.Fatalf("text: %q %v", got, err)
	}
	if err := c.SendBytes(ctx, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ReceiveBytes(ctx); err != nil || string(got) != "\x01\x02" {
		t.Fatalf("bytes: %v %v", got, err)
	}
	if !c.ReceiveNothing(ctx, 10*time.Millisecond) {
		t.Fatal("unexpected output")
	}
	if err := c.Disconnect(ctx, 1001); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(ctx, 1001); err != nil { // exactly once; a second call just waits
		t.Fatal(err)
	}
	if got := strings.Join(types(r), " "); got != "websocket.connect websocket.receive websocket.receive websocket.disconnect" {
		t.Fatalf("events: %s", got)
	}
	if err := c.SendText(ctx, "late"); !errors.Is(err, channels.ErrClosed) {
		t.Fatalf("send after disconnect: %v", err)
	}
}

func TestWebsocketAppCloses(t *testing.T) {
	ctx := testCtx(t)
	r := newRecorder(accept)
	c := channelstest.NewWebsocketCommunicator(r, "/")
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.SendText(ctx, "close"); err != nil {
		t.Fatal(err)
	}
	var ce *channels.CloseError
	if _, err := c.ReceiveText(ctx); !errors.As(err, &ce) || ce.Code != 4000 {
		t.Fatalf("want the close as an error: %v", err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// The application got its disconnect, with the close's code.
	var last channels.Message
	for len(r.events) > 0 {
		last = <-r.events
	}
	if code, _ := last.Int("code"); last.Type() != channels.TypeWebsocketDisconnect || code != 4000 {
		t.Fatalf("last event %v", last)
	}
	if _, err := c.ReceiveOutput(ctx); !errors.Is(err, channelstest.ErrNoOutput) {
		t.Fatalf("after the end: %v", err)
	}
}

func TestWebsocketRefusedAndProtocolErrors(t *testing.T) {
	ctx := testCtx(t)
	refuse := newRecorder(func(ctx context.Context, s channels.Sender) error {
		return s.Send(ctx, channels.Message{"type": channels.TypeWebsocketClose, "code": 4003, "reason": "no"})
	})
	c := channelstest.NewWebsocketCommunicator(refuse, "/")
	res, err := c.Connect(ctx)
	if err != nil || res.Accepted || res.Code != 4003 || res.Reason != "no" {
		t.Fatalf("refused: %+v %v", res, err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var last channels.Message
	for len(refuse.events) > 0 {
		last = <-refuse.events
	}
	if code, _ := last.Int("code"); code != 1000 {
		t.Fatalf("refusal disconnect: %v", last)
	}

	for name, script := range map[string]func(context.Context, channels.Sender) error{
		"send before accept": func(ctx context.Context, s channels.Sender) error {
			return s.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": "x"})
		},
		"unoffered subprotocol": func(ctx context.Context, s channels.Sender) error {
			return s.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept, "subprotocol": "v9"})
		},
		"bad close code": func(ctx context.Context, s channels.Sender) error {
			return s.Send(ctx, channels.Message{"type": channels.TypeWebsocketClose, "code": 1006})
		},
		"unknown type": func(ctx context.Context, s channels.Sender) error {
			return s.Send(ctx, channels.Message{"type": "http.response.start"})
		},
	} {
		c := channelstest.NewWebsocketCommunicator(newRecorder(script), "/", channelstest.WithSubprotocols("v1"))
		if _, err := c.Connect(ctx); err == nil {
			t.Errorf("%s: Connect succeeded", name)
		}
		if err := c.Wait(ctx); err == nil {
			t.Errorf("%s: the application's Send did not fail", name)
		}
	}
}

func TestSubprotocol(t *testing.T) {
	ctx := testCtx(t)
	r := newRecorder(func(ctx context.Context, s channels.Sender) error {
		return s.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept, "subprotocol": "v2", "headers": [][2]string{{"X-A", "b"}}})
	})
	c := channelstest.NewWebsocketCommunicator(r, "/", channelstest.WithSubprotocols("v1", "v2"))
	res, err := c.Connect(ctx)
	if err != nil || res.Subprotocol != "v2" || len(res.Headers) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if err := c.Disconnect(ctx, 1000); err != nil {
		t.Fatal(err)
	}
}

func TestWaitCancelsAStuckApplication(t *testing.T) {
	stuck := channels.ApplicationFunc(func(ctx context.Context, _ *channels.Scope, _ channels.Receiver, _ channels.Sender) error {
		<-ctx.Done()
		return ctx.Err()
	})
	c := channelstest.NewApplicationCommunicator(stuck, &channels.Scope{Type: channels.ScopeChannel})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Wait(ctx); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v", err)
	}
	<-c.Done()
}

func TestPanickingApplication(t *testing.T) {
	ctx := testCtx(t)
	boom := channels.ApplicationFunc(func(context.Context, *channels.Scope, channels.Receiver, channels.Sender) error {
		panic("boom")
	})
	c := channelstest.NewWebsocketCommunicator(boom, "/")
	if _, err := c.Connect(ctx); err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Fatalf("Connect: %v", err)
	}
	if err := c.Wait(ctx); err == nil {
		t.Fatal("Wait: no error")
	}
}

func TestHTTPCommunicator(t *testing.T) {
	ctx := testCtx(t)
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		msg, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		_ = send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": 201, "headers": [][2]string{{"content-type", "text/event-stream"}}})
		_ = send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": []byte(": comment\n\nevent: a\ndata: " + string(msg.Bytes("body")) + "\ndata: 2\n"), "more_body": true})
		_ = send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": []byte("\nid: 7\ndata: b\n\n"), "more_body": false})
		if err := send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": []byte("x")}); !errors.Is(err, channels.ErrClosed) {
			return errors.New("send after the end did not fail")
		}
		if msg, err := receive.Receive(ctx); err != nil || msg.Type() != channels.TypeHTTPDisconnect {
			return errors.New("no http.disconnect after the response")
		}
		return nil
	})
	resp, err := channelstest.NewHTTPCommunicator(app, "POST", "/", []byte("one")).GetResponse(ctx)
	if err != nil || resp.Status != 201 || resp.Header.Get("Content-Type") != "text/event-stream" || !strings.Contains(string(resp.Body), "data: one") {
		t.Fatalf("%+v %v", resp, err)
	}

	c := channelstest.NewHTTPCommunicator(app, "POST", "/", []byte("one"))
	if _, _, err := c.ReceiveStart(ctx); err != nil {
		t.Fatal(err)
	}
	want := []channelstest.Event{{Event: "a", Data: "one\n2"}, {ID: "7", Data: "b"}}
	for _, w := range want {
		ev, err := c.ReceiveEvent(ctx)
		if err != nil || ev != w {
			t.Fatalf("event %+v %v, want %+v", ev, err, w)
		}
	}
	if _, err := c.ReceiveEvent(ctx); !errors.Is(err, channelstest.ErrNoOutput) {
		t.Fatalf("end of stream: %v", err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}
