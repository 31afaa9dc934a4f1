package channels

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/gobwas/ws"
)

// BenchmarkEcho measures one WebSocket echo round trip (client frame -> application ->
// server frame) over a loopback socket.
func BenchmarkEcho(b *testing.B) {
	for _, mode := range []struct {
		name      string
		configure func(*Server)
	}{
		{"poller", nil},
		{"goroutine", func(s *Server) { s.DisablePoller = true }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			_, addr := startServer(b, echoApp(nil), mode.configure)
			c := dial(b, addr, "/")
			out := frame(ws.OpText, true, []byte("hello, benchmark"))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.write(out)
				if _, _, err := c.readFrame(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			c.conn.Close()
		})
	}
}

// BenchmarkBroadcast measures one server-side message fanned out to N connections (one
// Send per connection, as a group send delivers it) until every client has read it.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			benchBroadcast(b, n, "a broadcast message of moderate size, like a chat line", false)
		})
	}
}

// benchBroadcast sends text to n connections, one Send per connection, until every client
// has read it, b.N times; with compress the server offers permessage-deflate and every client
// negotiates it.
func benchBroadcast(b *testing.B, n int, text string, compress bool) {
	var mu sync.Mutex
	var senders []Sender
	ready := make(chan struct{}, n)
	app := ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		_, _ = receive.Receive(ctx)
		if err := send.Send(ctx, Message{"type": TypeWebsocketAccept}); err != nil {
			return err
		}
		mu.Lock()
		senders = append(senders, send)
		mu.Unlock()
		ready <- struct{}{}
		for {
			m, err := receive.Receive(ctx)
			if err != nil || m.Type() == TypeWebsocketDisconnect {
				return nil
			}
		}
	})
	_, addr := startServer(b, app, func(s *Server) {
		s.PingInterval = -1
		s.Compression.Enabled = compress
	})
	var extra []string
	if compress {
		extra = append(extra, deflateOffer)
	}
	clients := make([]*wsClient, n)
	for i := range clients {
		clients[i] = dial(b, addr, "/", extra...)
		<-ready
	}
	msg := Message{"type": TypeWebsocketSend, "text": text}
	ctx := context.Background()
	var wg sync.WaitGroup
	b.ReportAllocs()
	for b.Loop() {
		wg.Add(n)
		for _, c := range clients {
			go func(c *wsClient) {
				defer wg.Done()
				if _, _, err := c.readFrame(); err != nil {
					b.Error(err)
				}
			}(c)
		}
		for _, s := range senders {
			if err := s.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	}
	for _, c := range clients {
		c.conn.Close()
	}
}
