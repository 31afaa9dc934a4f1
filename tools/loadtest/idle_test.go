package loadtest

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// idleConfig is a tiny idle run against the in-process chat server at url: 50 clients in 5
// rooms, one client process.
func idleConfig(url string) IdleConfig {
	return IdleConfig{
		URLs: []string{url}, PIDs: []int{os.Getpid()}, Conns: 50, Rooms: 5,
		Settle: 100 * time.Millisecond, ProbeTimeout: 30 * time.Second, Dialer: Dialer{PerSource: 20},
	}
}

// TestIdleVerified: the run probes a sample before and after the RSS reading and counts the
// server's open sockets around it: 50 clients plus the warm-up connection.
func TestIdleVerified(t *testing.T) {
	url := startChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := RunIdle(ctx, idleConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Probes != ProbeSample(50) || rep.Probes != 10 {
		t.Fatalf("probes per round %d, want %d", rep.Probes, ProbeSample(50))
	}
	s := rep.Servers[0]
	if len(rep.Servers) != 1 || s.Clients != 50 || s.Open != 51 || s.OpenAfter != 51 || rep.Rooms != 5 {
		t.Fatalf("report %+v", rep)
	}
}

// TestIdleLostConnection: a client connection that dies during the run fails it, naming the
// connection.
func TestIdleLostConnection(t *testing.T) {
	url := startChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := idleConfig(url)
	cfg.afterOpen = func(r *idleRun) {
		_ = r.local.conns[7].Close()
		<-r.local.Failed() // its reader has seen it
	}
	rep, err := RunIdle(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "idle connection 7 lost") {
		t.Fatalf("a lost connection: report %+v, error %v", rep, err)
	}
}

// TestIdleServerClose: a connection the server closes (here for a message that is not
// {"message": ...}) fails the run, through its reader or the server's socket count.
func TestIdleServerClose(t *testing.T) {
	url := startChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := idleConfig(url)
	cfg.afterOpen = func(r *idleRun) {
		if err := r.local.conns[3].WriteFrame(ws.OpText, []byte(`{"nope": 1}`)); err != nil {
			t.Error(err)
		}
	}
	rep, err := RunIdle(ctx, cfg)
	if err == nil || !regexp.MustCompile(`idle connection 3 lost: .*1007|holds 50 open connections`).MatchString(err.Error()) {
		t.Fatalf("a connection closed by the server: report %+v, error %v", rep, err)
	}
}

// TestIdleExtraSocket: a socket on the server's port that is not one of the clients makes the
// count wrong, and the run fails.
func TestIdleExtraSocket(t *testing.T) {
	url := startChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := idleConfig(url)
	var extra *Conn
	cfg.afterOpen = func(*idleRun) {
		var err error
		if extra, err = (&Dialer{}).Dial(ctx, url+"/ws/chat/other/", 0); err != nil {
			t.Error(err)
		}
	}
	rep, err := RunIdle(ctx, cfg)
	if extra != nil {
		extra.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "holds 52 open connections") || !strings.Contains(err.Error(), "want 51") {
		t.Fatalf("an extra socket: report %+v, error %v", rep, err)
	}
}

func TestProbeSample(t *testing.T) {
	for n, want := range map[int]int{0: 0, 3: 3, 10: 10, 50: 10, 1000: 10, 1001: 11, 50000: 500} {
		if got := ProbeSample(n); got != want {
			t.Errorf("ProbeSample(%d) = %d, want %d", n, got, want)
		}
	}
}
