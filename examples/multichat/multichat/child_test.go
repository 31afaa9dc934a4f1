package multichat

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/proctest"
	"github.com/gochannels/gochannels/layers"
)

// childName is the name a child server logs its address under: `msg="<childName>: serving"`.
const childName = "multichat-child"

// childServer is the test binary run as one multichat server process (proctest.Start):
// -addr, -db (SQLite file), -layer (with the rooms' history added, WithRoomHistory) and
// -worker. It logs its address and pid, and serves until it is killed.
func childServer() {
	fs := flag.NewFlagSet(childName, flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	db := fs.String("db", "", "SQLite database file")
	layerURL := fs.String("layer", "memory://", "channel layer URL")
	worker := fs.Bool("worker", true, "run the history worker")
	_ = fs.Parse(os.Args[1:])
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fail := func(what string, err error) {
		logger.Error(childName+": "+what, "error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	layer, err := layers.Open(ctx, WithRoomHistory(*layerURL))
	if err != nil {
		fail("open the layer", err)
	}
	a, err := New(ctx, Config{DBPath: *db, Layer: layer, Worker: *worker, BcryptCost: 4, Logger: logger})
	if err != nil {
		fail("start", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fail("listen", err)
	}
	logger.Warn(childName+": serving", "addr", ln.Addr().String(), "pid", os.Getpid())
	fail("serve", a.Serve(ln))
}

// child is a multichat server process started by startChild.
type child struct {
	*proctest.Process
	pid int
}

var childPID = regexp.MustCompile(`pid=(\d+)`)

// startChild starts a multichat server process with args (see childServer).
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	p := proctest.Start(t, childName, args...)
	m := childPID.FindStringSubmatch(p.Log())
	if m == nil {
		t.Fatalf("the child did not log its pid:\n%s", p.Log())
	}
	pid, _ := strconv.Atoi(m[1])
	return &child{Process: p, pid: pid}
}

// kill ends the process with SIGKILL, as a crash would (no drain, no close frames), and
// waits until it is gone, so that its port can be listened on again.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(c.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", c.pid, err)
	}
	deadline := time.Now().Add(testTimeout)
	for syscall.Kill(c.pid, 0) == nil { // until proctest has reaped it
		if time.Now().After(deadline) {
			t.Fatalf("process %d still there after SIGKILL", c.pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *child) base() string { return fmt.Sprintf("http://%s", c.Addr) }
