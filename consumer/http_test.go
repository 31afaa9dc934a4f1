package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// hello answers with the method, query and body, or fails on request.
type hello struct{ consumer.HTTPConsumer }

func (h *hello) Handle(ctx context.Context, req *consumer.Request) error {
	switch req.Path {
	case "/fail":
		return errors.New("handle failed")
	case "/panic":
		panic("handle panicked")
	case "/nothing":
		return nil
	case "/open":
		return h.SendHeaders(ctx, 200, nil)
	}
	body := fmt.Sprintf("%s %s name=%s body=%s ua=%s", req.Method, req.Path, req.Query.Get("name"), req.Body, req.Header.Get("User-Agent"))
	return h.SendResponse(ctx, http.StatusOK, http.Header{"Content-Type": {"text/plain"}}, []byte(body))
}

func TestHTTPResponse(t *testing.T) {
	ctx := testCtx(t)
	app := consumer.HTTP[hello]()
	c := channelstest.NewHTTPCommunicator(app, "POST", "/greet?name=gopher", []byte("payload"), channelstest.WithHeader("User-Agent", "test"))
	resp, err := c.GetResponse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.Header.Get("Content-Type") != "text/plain" || string(resp.Body) != "POST /greet name=gopher body=payload ua=test" {
		t.Fatalf("got %d %v %q", resp.Status, resp.Header, resp.Body)
	}
}

func TestHTTPFailures(t *testing.T) {
	ctx := testCtx(t)
	logger, logs := newLogger()
	app := consumer.HTTP[hello](consumer.WithLogger(logger), consumer.WithMaxBodySize(10))
	for _, tc := range []struct {
		path   string
		body   string
		status int
	}{
		{"/fail", "", 500},
		{"/panic", "", 500},
		{"/nothing", "", 500},
		{"/big", "more than ten bytes", 413},
		{"/open", "", 200},
	} {
		resp, err := channelstest.NewHTTPCommunicator(app, "GET", tc.path, []byte(tc.body)).GetResponse(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if resp.Status != tc.status {
			t.Fatalf("%s: status %d, want %d (%q)", tc.path, resp.Status, tc.status, resp.Body)
		}
	}
	for _, want := range []string{"handle failed", "panic: handle panicked", "the Handle method returned without a response"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// ticker streams server-sent events fed by a group, until a "ticker.stop" message.
type ticker struct{ consumer.HTTPConsumer }

func (t *ticker) Groups() []string { return []string{"ticks"} }

func (t *ticker) Handle(ctx context.Context, req *consumer.Request) error {
	return t.SSE(ctx, "hello", "welcome\nto the stream")
}

func (t *ticker) TickerTick(ctx context.Context, msg channels.Message) error {
	return t.SSE(ctx, "tick", msg.String("n"))
}

func (t *ticker) TickerStop(ctx context.Context, msg channels.Message) error {
	return t.SendBody(ctx, nil, false)
}

func TestHTTPServerSentEventsFromGroup(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	c := channelstest.NewHTTPCommunicator(consumer.HTTP[ticker](consumer.WithLayer(l)), "GET", "/events", nil)
	status, hdr, err := c.ReceiveStart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status != 200 || hdr.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("start: %d %v", status, hdr)
	}
	ev, err := c.ReceiveEvent(ctx)
	if err != nil || ev.Event != "hello" || ev.Data != "welcome\nto the stream" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	for i := range 3 {
		if err := l.GroupSend(ctx, "ticks", channels.Message{"type": "ticker.tick", "n": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		ev, err := c.ReceiveEvent(ctx)
		if err != nil || ev.Event != "tick" || ev.Data != fmt.Sprint(i) {
			t.Fatalf("tick %d: %+v, %v", i, ev, err)
		}
	}
	if err := l.GroupSend(ctx, "ticks", channels.Message{"type": "ticker.stop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReceiveEvent(ctx); !errors.Is(err, channelstest.ErrNoOutput) {
		t.Fatalf("after stop: %v", err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPClientGoesAway(t *testing.T) {
	ctx := testCtx(t)
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	c := channelstest.NewHTTPCommunicator(consumer.HTTP[ticker](consumer.WithLayer(l)), "GET", "/events", nil)
	if _, _, err := c.ReceiveStart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
}
