package channels

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestSlowClientClosedWith1008(t *testing.T) {
	bothModes(t, func(t *testing.T, mode func(*Server)) {
		const limit = 256 << 10
		result := make(chan error, 1)
		discs := make(chan Message, 1)
		var sent atomic.Int64
		app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
			_, _ = receive.Receive(ctx)
			if err := send.Send(ctx, Message{"type": TypeWebsocketAccept}); err != nil {
				return err
			}
			chunk := make([]byte, 32<<10)
			var err error
			for i := 0; i < 100000 && err == nil; i++ { // bounded: ~3 GB if never slow
				err = send.Send(ctx, Message{"type": TypeWebsocketSend, "bytes": chunk})
				if err == nil {
					sent.Add(int64(len(chunk)))
				}
			}
			result <- err
			m, rerr := receive.Receive(ctx)
			if rerr == nil {
				discs <- m
			}
			return nil
		})
		_, addr := startServer(t, app, func(s *Server) {
			mode(s)
			s.OutboundQueueBytes = limit
			s.WriteTimeout = 200 * time.Millisecond
		})
		c := dial(t, addr, "/")
		_ = c // never reads
		select {
		case err := <-result:
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != 1008 || ce.Reason != "slow client" {
				t.Fatalf("Send error %v, want close 1008 slow client", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("Send never failed for a client that does not read")
		}
		// Memory is bounded: what was accepted is at most the queue limit plus what the
		// kernel buffers took.
		if n := sent.Load(); n > 64<<20 {
			t.Errorf("accepted %d bytes for a client that never reads", n)
		}
		waitDisconnect(t, discs, 1008)
	})
}

func TestShutdownClosesWith1001AndWaits(t *testing.T) {
	var finished atomic.Int32
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		for {
			m, err := receive.Receive(ctx)
			if err != nil {
				return err
			}
			switch m.Type() {
			case TypeWebsocketConnect:
				_ = send.Send(ctx, Message{"type": TypeWebsocketAccept})
			case TypeWebsocketReceive:
				_ = send.Send(ctx, m.Clone().withType(TypeWebsocketSend))
			case TypeWebsocketDisconnect:
				if n, _ := m.Int("code"); n != 1001 {
					t.Errorf("disconnect %v", m)
				}
				time.Sleep(50 * time.Millisecond) // cleanup work Shutdown must wait for
				finished.Add(1)
				return nil
			}
		}
	})
	s := &Server{Application: app}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	addr := l.Addr().String()
	clients := []*wsClient{dial(t, addr, "/"), dial(t, addr, "/"), dial(t, addr, "/")}
	for _, c := range clients {
		c.send(ws.OpText, "hi")
		c.expectText("hi")
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for _, c := range clients {
			if reason := c.expectClose(1001); reason != "going away" {
				t.Errorf("reason %q", reason)
			}
			c.send(ws.OpClose, closePayload(1001, ""))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := finished.Load(); n != 3 {
		t.Fatalf("Shutdown returned before the applications: %d of 3 finished", n)
	}
	<-closed
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("listener still accepting after Shutdown")
	}
}

func (m Message) withType(t string) Message { m["type"] = t; return m }

func TestShutdownForcedByContext(t *testing.T) {
	stuck := make(chan struct{})
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		_, _ = receive.Receive(ctx)
		_ = send.Send(ctx, Message{"type": TypeWebsocketAccept})
		<-ctx.Done() // ignores its disconnect; only the context ends it
		close(stuck)
		return ctx.Err()
	})
	s := &Server{Application: app, Logger: discardLogger(), CloseTimeout: time.Minute}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	c := dial(t, l.Addr().String(), "/")
	_ = c
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	select {
	case <-stuck:
	case <-time.After(testTimeout):
		t.Fatal("application context not canceled by a forced shutdown")
	}
	<-served
}

func TestMountedInServeMux(t *testing.T) {
	s := &Server{Application: echoApp(nil)}
	mux := http.NewServeMux()
	mux.Handle("/ws/", s)
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from mux") })
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	hs := &http.Server{Handler: mux}
	go hs.Serve(l)
	addr := l.Addr().String()

	resp, err := http.Get("http://" + addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello from mux" {
		t.Fatalf("body %q", body)
	}
	c := dial(t, addr, "/ws/echo")
	c.send(ws.OpText, "via mux")
	c.expectText("via mux")

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	go func() {
		c.expectClose(1001)
		c.send(ws.OpClose, "")
	}()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := hs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestMaxConnections(t *testing.T) {
	_, addr := startServer(t, echoApp(nil), func(s *Server) { s.MaxConnections = 1 })
	c := dial(t, addr, "/")
	refused := rawHandshake(t, addr, upgradeRequest(addr, "/"))
	if refused.resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %s, want 503", refused.resp.Status)
	}
	c.send(ws.OpClose, closePayload(1000, ""))
	c.expectClose(1000)
	c.expectEOF()
	// The slot is free again (released asynchronously after the socket closes).
	deadline := time.Now().Add(testTimeout)
	for {
		c2 := rawHandshake(t, addr, upgradeRequest(addr, "/"))
		if c2.resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never released: %s", c2.resp.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxHeaderBytes(t *testing.T) {
	_, addr := startServer(t, echoApp(nil), func(s *Server) { s.MaxHeaderBytes = 1024 })
	c := rawHandshake(t, addr, upgradeRequest(addr, "/", "X-Big: "+strings.Repeat("a", 16<<10)))
	if c.resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %s, want 431", c.resp.Status)
	}
}

func TestBackPressureKeepsOrder(t *testing.T) {
	bothModes(t, func(t *testing.T, mode func(*Server)) {
		const n = 300
		got := make(chan string, n)
		app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
			for {
				m, err := receive.Receive(ctx)
				if err != nil {
					return err
				}
				switch m.Type() {
				case TypeWebsocketConnect:
					_ = send.Send(ctx, Message{"type": TypeWebsocketAccept})
				case TypeWebsocketReceive:
					time.Sleep(100 * time.Microsecond) // slower than the client
					got <- m.String("text")
				case TypeWebsocketDisconnect:
					return nil
				}
			}
		})
		_, addr := startServer(t, app, func(s *Server) { mode(s); s.MailboxCapacity = 4 })
		c := dial(t, addr, "/")
		w := bufio.NewWriter(c.conn)
		for i := 0; i < n; i++ {
			w.Write(frame(ws.OpText, true, []byte(fmt.Sprint(i))))
		}
		w.Flush()
		for i := 0; i < n; i++ {
			select {
			case s := <-got:
				if s != fmt.Sprint(i) {
					t.Fatalf("message %d is %q", i, s)
				}
			case <-time.After(testTimeout):
				t.Fatalf("message %d never arrived", i)
			}
		}
	})
}

func TestInjectReachesApplication(t *testing.T) {
	injectors := make(chan Injector, 1)
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		for {
			m, err := receive.Receive(ctx)
			if err != nil {
				return err
			}
			switch m.Type() {
			case TypeWebsocketConnect:
				_ = send.Send(ctx, Message{"type": TypeWebsocketAccept})
				injectors <- receive.(Injector)
			case "chat.message":
				_ = send.Send(ctx, Message{"type": TypeWebsocketSend, "text": m.String("text")})
			case TypeWebsocketDisconnect:
				return nil
			}
		}
	})
	_, addr := startServer(t, app, nil)
	c := dial(t, addr, "/")
	inj := <-injectors
	if err := inj.Inject(Message{"type": "chat.message", "text": "from the layer"}); err != nil {
		t.Fatal(err)
	}
	c.expectText("from the layer")
}
