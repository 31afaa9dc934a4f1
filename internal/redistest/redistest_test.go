package redistest

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartKillRestart(t *testing.T) {
	s := StartPrivate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := s.Client()
	if err := c.Set(ctx, s.Prefix()+"k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Kill()
	if err := ping(s.URL(), time.Second); err == nil {
		t.Fatal("server still answers after Kill")
	}
	s.Restart()
	if err := c.Ping(ctx).Err(); err != nil {
		// the client's old connection died with the server; one retry reconnects
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING after Restart: %v", err)
		}
	}
	if n, _ := c.Exists(ctx, s.Prefix()+"k").Result(); n != 0 {
		t.Fatalf("restarted server kept data (save is off): %d", n)
	}
}

func TestStartN(t *testing.T) {
	ss := StartN(t, 3)
	seen := map[string]bool{}
	for _, s := range ss {
		if seen[s.URL()] {
			t.Fatalf("duplicate server URL %s", s.URL())
		}
		seen[s.URL()] = true
	}
}

func TestRequirePython(t *testing.T) {
	if p := RequirePython(t); p == "" {
		t.Fatal("empty python path")
	}
}
