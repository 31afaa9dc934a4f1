package channels

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// detachedEcho is an EventHandler that echoes text, closes on "close:<code>", panics on
// "panic", returns a *CloseError on "fail", and reports how the scope ended on ends.
type detachedEcho struct {
	ctx  context.Context
	send Sender
	ends chan<- string

	mu     sync.Mutex
	active int // HandleEvent calls in progress: must never exceed 1
	max    int
}

func (h *detachedEcho) HandleEvent(msg Message, err error) (bool, error) {
	h.mu.Lock()
	h.active++
	h.max = max(h.max, h.active)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.active--
		h.mu.Unlock()
	}()
	if err != nil {
		h.ends <- "error: " + err.Error()
		return true, err
	}
	switch msg.Type() {
	case TypeWebsocketReceive:
		text := msg.String("text")
		switch text {
		case "panic":
			panic("handler panicked on purpose")
		case "fail":
			return true, &CloseError{Code: 4001, Reason: "failed"}
		case "goexit":
			runtime.Goexit()
		}
		if err := h.send.Send(h.ctx, Message{"type": TypeWebsocketSend, "text": text}); err != nil {
			return true, err
		}
	case TypeWebsocketDisconnect:
		h.mu.Lock()
		m := h.max
		h.mu.Unlock()
		code, _ := msg.Int("code")
		h.ends <- fmt.Sprintf("disconnect %d max %d", code, m)
		return true, nil
	case "test.inject":
		if err := h.send.Send(h.ctx, Message{"type": TypeWebsocketSend, "text": msg.String("text")}); err != nil {
			return true, err
		}
	}
	return false, nil
}

// detachingApp accepts, then detaches; it hands its Injector out on injectors.
func detachingApp(ends chan<- string, injectors chan<- Injector) Application {
	return ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		m, err := receive.Receive(ctx)
		if err != nil || m.Type() != TypeWebsocketConnect {
			return fmt.Errorf("first event %v, %v", m, err)
		}
		if err := send.Send(ctx, Message{"type": TypeWebsocketAccept}); err != nil {
			return err
		}
		d, ok := receive.(Detacher)
		if !ok {
			return errors.New("the server's Receiver is not a Detacher")
		}
		if err := d.Detach(ctx, &detachedEcho{ctx: ctx, send: send, ends: ends}); err != nil {
			return err
		}
		if injectors != nil {
			injectors <- receive.(Injector)
		}
		return ErrDetached
	})
}

func TestMailboxDetachRefused(t *testing.T) {
	m := NewMailbox(4)
	if err := m.Detach(context.Background(), &detachedEcho{}); !errors.Is(err, ErrNotDetachable) {
		t.Fatalf("Detach on a NewMailbox: %v, want ErrNotDetachable", err)
	}
}

func TestDetachedApplication(t *testing.T) {
	bothModes(t, func(t *testing.T, configure func(*Server)) {
		ends := make(chan string, 16)
		injectors := make(chan Injector, 16)
		_, addr := startServer(t, detachingApp(ends, injectors), configure)

		c := dial(t, addr, "/")
		inj := <-injectors
		// Events from the socket and injected ones are handled one at a time, in order.
		for i := range 20 {
			c.send(ws.OpText, fmt.Sprint("m", i))
			if err := inj.Inject(Message{"type": "test.inject", "text": fmt.Sprint("i", i)}); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]int{}
		var order []string
		for range 40 {
			op, p := c.next()
			if op != ws.OpText {
				t.Fatalf("got op %v", op)
			}
			got[string(p)]++
			order = append(order, string(p))
		}
		next := map[byte]int{'m': 0, 'i': 0}
		for _, s := range order {
			if want := fmt.Sprint(string(s[0]), next[s[0]]); s != want {
				t.Fatalf("out of order: got %q, want %q (all: %q)", s, want, order)
			}
			next[s[0]]++
		}
		c.send(ws.OpClose, closePayload(1000, ""))
		c.expectClose(1000)
		if end := <-ends; end != "disconnect 1000 max 1" {
			t.Fatalf("end %q, want a 1000 disconnect with one handler call at a time", end)
		}
	})
}

func TestDetachedApplicationFailures(t *testing.T) {
	bothModes(t, func(t *testing.T, configure func(*Server)) {
		ends := make(chan string, 16)
		_, addr := startServer(t, detachingApp(ends, nil), func(s *Server) {
			configure(s)
			s.Logger = discardLogger()
		})

		c := dial(t, addr, "/")
		c.send(ws.OpText, "panic")
		c.expectClose(CloseInternalError) // a panicking handler is a panicking application

		c = dial(t, addr, "/")
		c.send(ws.OpText, "hello")
		c.expectText("hello")
		c.send(ws.OpText, "fail")
		if reason := c.expectClose(4001); reason != "failed" {
			t.Fatalf("close reason %q", reason)
		}

		c = dial(t, addr, "/")
		c.send(ws.OpText, "goexit")
		c.expectClose(CloseNormal) // as an application goroutine that exits: Serve returned nil
	})
}

// settledGoroutines returns the number of goroutines once it stops changing (or after
// testTimeout).
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(testTimeout); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// TestDetachedIdleHoldsNoGoroutine checks that idle detached connections keep no goroutine:
// the count does not grow with the number of connections.
func TestDetachedIdleHoldsNoGoroutine(t *testing.T) {
	ends := make(chan string, 64)
	_, addr := startServer(t, detachingApp(ends, nil), nil)
	warm := dial(t, addr, "/")
	warm.send(ws.OpText, "x")
	warm.expectText("x")
	before := settledGoroutines()
	var clients []*wsClient
	for range 30 {
		c := dial(t, addr, "/")
		c.send(ws.OpText, "y")
		c.expectText("y")
		clients = append(clients, c)
	}
	after := settledGoroutines()
	// The client side of each connection is in this process too but holds no goroutine.
	if after-before > 5 {
		t.Fatalf("goroutines: %d before, %d with 30 more idle detached connections", before, after)
	}
	for _, c := range append(clients, warm) {
		c.send(ws.OpClose, closePayload(1000, ""))
		c.expectClose(1000)
	}
}

// TestDetachedForcedShutdown checks that a forced shutdown reaches an idle detached handler
// (through its context or the end of its events) and the server returns.
func TestDetachedForcedShutdown(t *testing.T) {
	ends := make(chan string, 4)
	s := &Server{Application: detachingApp(ends, nil), Logger: discardLogger()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	c := dial(t, l.Addr().String(), "/")
	c.send(ws.OpText, "x")
	c.expectText("x")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace: force at once
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case end := <-ends:
		if end == "" {
			t.Fatal("no end reported")
		}
	case <-time.After(testTimeout):
		t.Fatal("the detached handler never heard of the shutdown")
	}
	<-done
	c.conn.Close()
}
