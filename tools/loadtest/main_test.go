package loadtest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/examples/chat/chat"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/middleware"
	"go.uber.org/goleak"
)

// workerEnv makes the test binary act as an idle-mode client worker (see TestIdleWorkers).
const workerEnv = "LOADTEST_TEST_WORKER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		os.Exit(testWorker(spec))
	}
	goleak.VerifyTestMain(m, redistest.LeakOptions()...)
}

// testWorker runs ServeWorker from "url n offset".
func testWorker(spec string) int {
	f := strings.Fields(spec)
	n, _ := strconv.Atoi(f[1])
	off, _ := strconv.Atoi(f[2])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ServeWorker(ctx, Dialer{}, []string{f[0]}, n, 2, off, os.Stdin, os.Stdout); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}

// startChat serves the chat application on the in-memory layer on a loopback port in this
// process and returns its base WebSocket URL; it shuts down when the test ends.
func startChat(t *testing.T) string {
	t.Helper()
	url, _ := startChatLayer(t)
	return url
}

// startChatLayer is startChat that also returns the layer, for its statistics.
func startChatLayer(t *testing.T) (string, *layers.Memory) {
	t.Helper()
	layer := layers.NewMemory(layers.MemoryOptions{})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// As examples/chat does: WebSocket handshakes only from this machine's pages.
	app := middleware.AllowedHostsOriginValidator(chat.NewApplication(layer, logger))
	// A large mailbox, so that a consumer goroutine starved for a while on a busy machine
	// does not overflow and drop (the tests check the load tool, not the server's overload).
	srv := &channels.Server{Application: app, Logger: logger, MailboxCapacity: 4096}
	t.Cleanup(func() { layer.Close() }) // after the server has shut down (cleanups run last first)
	return "ws://" + channelstest.Serve(t, srv), layer
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
