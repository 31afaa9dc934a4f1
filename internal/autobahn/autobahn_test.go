// Package autobahn checks the gochannels server against an independent WebSocket client:
// AutobahnPython's asyncio client (Debian's python3-autobahn), driven by testdata/client.py.
package autobahn

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const python = "/usr/bin/python3"

// echo is a WebSocket consumer that sends every frame back.
type echo struct{ consumer.WebsocketConsumer }

func (e *echo) Receive(ctx context.Context, text string, data []byte) error {
	if data != nil {
		return e.SendBytes(ctx, data)
	}
	return e.SendText(ctx, text)
}

// needAutobahn skips the test when python3-autobahn is missing, except in CI.
func needAutobahn(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import autobahn, sys; print(autobahn.__version__)").CombinedOutput()
	if err == nil {
		t.Logf("AutobahnPython %s", strings.TrimSpace(string(out)))
		return
	}
	redistest.SkipOrFail(t, "AutobahnPython is not available (apt-get install python3-autobahn): "+strings.TrimSpace(string(out)))
}

func startServer(t *testing.T) string {
	t.Helper()
	s := &channels.Server{
		Application: consumer.Websocket[echo](),
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Compression: channels.Compression{Enabled: true},
	}
	return channelstest.Serve(t, s)
}

func TestAutobahnClient(t *testing.T) {
	needAutobahn(t)
	addr := startServer(t)
	want := []string{"OK text", "OK binary", "OK utf8", "OK large-text", "OK large-binary",
		"OK empty-text", "OK fragmented", "OK auto-fragmented", "CLOSE clean=True code=1000"}
	for _, mode := range []string{"plain", "deflate"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, "testdata/client.py", "ws://"+addr+"/ws/echo/", mode)
			out, err := cmd.CombinedOutput()
			t.Logf("client output:\n%s", out)
			if err != nil {
				t.Fatalf("client failed: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) == 0 || !strings.HasPrefix(lines[0], "OPEN ") {
				t.Fatalf("no OPEN line")
			}
			deflate := strings.Contains(lines[0], "PerMessageDeflate")
			if deflate != (mode == "deflate") {
				t.Errorf("mode %s: negotiated %q", mode, lines[0])
			}
			if got := strings.Join(lines[1:], "\n"); got != strings.Join(want, "\n") {
				t.Errorf("client saw:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
		})
	}
}
