package ops_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, redistest.LeakOptions()...) }

const testTimeout = 10 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startServer serves app on a loopback listener (or l when given); the server is shut down
// at cleanup.
func startServer(t testing.TB, app channels.Application, l net.Listener, configure func(*channels.Server)) string {
	t.Helper()
	s := &channels.Server{Application: app, Logger: quiet}
	if configure != nil {
		configure(s)
	}
	if l == nil {
		return channelstest.Serve(t, s)
	}
	return channelstest.ServeListener(t, s, l)
}

// dial opens a WebSocket to addr+path.
func dial(t testing.TB, addr, path string) net.Conn {
	t.Helper()
	conn, _, _, err := ws.Dialer{Timeout: testTimeout}.Dial(testCtx(t), "ws://"+addr+path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	return conn
}

// closeFrom sends a close frame with code from the client.
func closeFrom(t testing.TB, conn net.Conn, code int) {
	t.Helper()
	body := ws.NewCloseFrameBody(ws.StatusCode(code), "")
	if err := ws.WriteFrame(conn, ws.MaskFrameInPlace(ws.NewCloseFrame(body))); err != nil {
		t.Fatalf("write close: %v", err)
	}
}

// readClose reads frames until a close frame and returns its code.
func readClose(t testing.TB, conn net.Conn) int {
	t.Helper()
	for {
		h, err := ws.ReadHeader(conn)
		if err != nil {
			t.Fatalf("reading until the close frame: %v", err)
		}
		if h.Length > 64<<10 {
			t.Fatalf("frame of %d bytes", h.Length)
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(conn, payload); err != nil {
			t.Fatalf("reading a frame: %v", err)
		}
		if h.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(payload)
			return int(code)
		}
	}
}

func sendText(t testing.TB, conn net.Conn, s string) {
	t.Helper()
	if err := wsutil.WriteClientText(conn, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func readText(t testing.TB, conn net.Conn) string {
	t.Helper()
	b, err := wsutil.ReadServerText(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

// value returns the value of the series name{labels} in reg (labels as name=value pairs),
// 0 when it does not exist.
func value(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		want[k] = v
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			case m.Untyped != nil:
				return m.GetUntyped().GetValue()
			}
		}
	}
	return 0
}

// dump lists every non-zero series of reg whose name starts with prefix, for failure
// messages.
func dump(reg prometheus.Gatherer, prefix string) string {
	mfs, _ := reg.Gather()
	var lines []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), prefix) {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			if v != 0 {
				lines = append(lines, fmt.Sprintf("%s{%s} %v", mf.GetName(), strings.Join(ls, ","), v))
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// eventually waits (bounded) until cond holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expect checks series values once they settle (the server counts the end of a scope after
// the client saw it end).
func expect(t testing.TB, reg prometheus.Gatherer, want map[string]float64) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		bad := ""
		for series, v := range want {
			name, rest, _ := strings.Cut(series, "{")
			var labels []string
			if rest = strings.TrimSuffix(rest, "}"); rest != "" {
				labels = strings.Split(rest, ",")
			}
			if got := value(t, reg, name, labels...); got != v {
				bad += fmt.Sprintf("\n  %s = %v, want %v", series, got, v)
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics:%s\nall:\n%s", bad, dump(reg, "gochannels"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wsDialer() ws.Dialer { return ws.Dialer{Timeout: testTimeout} }
