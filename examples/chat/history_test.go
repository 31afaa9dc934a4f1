package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
)

// TestHistoryFlag: with -history the chat's frames carry their position (and without it they
// are the tutorial's, as TestServer shows); a bad -history is refused at start.
func TestHistoryFlag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := run(ctx, []string{"-addr", "127.0.0.1:0", "-layer", "memory://", "-history", "-1"}, logger, nil); err == nil || !strings.Contains(err.Error(), "-history") {
		t.Fatalf("-history -1: got %v, want an error", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-addr", "127.0.0.1:0", "-layer", "memory://?capacity=100", "-history", "5"}, logger, ready)
	}()
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	c, err := dial(t, ctx, addr, "lobby", "http://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	c.send(t, "hi")
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := wsutil.ReadServerText(c.rw)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Message string
		Pos     struct {
			Stream string
			Offset int
			Epoch  string
		}
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Message != "hi" || f.Pos.Stream != "chat_lobby" || f.Pos.Offset != 1 || f.Pos.Epoch == "" {
		t.Fatalf("frame %s (%v): want the message with its position", b, err)
	}
	c.conn.Close()
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
