package ops_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer"
	"github.com/gochannels/gochannels/ops"
)

func probe(t testing.TB, h http.Handler) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestHealthzAndReadyzMemory(t *testing.T) {
	if code, body := probe(t, ops.Healthz()); code != 200 || body != "ok\n" {
		t.Fatalf("healthz = %d %q", code, body)
	}
	mem := layers.NewMemory(layers.MemoryOptions{})
	m, reg := newMetrics()
	r := ops.Readyz(m.InstrumentLayer(mem), ops.ReadyOptions{})
	if code, body := probe(t, r); code != 200 || body != "ok\n" {
		t.Fatalf("readyz = %d %q", code, body)
	}
	expect(t, reg, map[string]float64{"gochannels_layer_operations_total{op=group_discard}": 1})
	mem.Close()
	if code, body := probe(t, r); code != 503 || !strings.Contains(body, "closed") {
		t.Fatalf("readyz on a closed layer = %d %q", code, body)
	}
	r2 := ops.Readyz(nil, ops.ReadyOptions{})
	if code, _ := probe(t, r2); code != 200 {
		t.Fatalf("readyz without a layer = %d", code)
	}
	r2.SetDraining()
	if code, body := probe(t, r2); code != 503 || !strings.Contains(body, "draining") || !r2.Draining() {
		t.Fatalf("readyz draining = %d %q", code, body)
	}
}

func TestReadyzRedisKilledAndRestarted(t *testing.T) {
	srv := redistest.StartPrivate(t)
	ctx := testCtx(t)
	l, err := layers.Open(ctx, srv.URL()+"?prefix="+srv.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := ops.Readyz(l, ops.ReadyOptions{Timeout: 500 * time.Millisecond})
	if code, body := probe(t, r); code != 200 {
		t.Fatalf("readyz = %d %q", code, body)
	}
	srv.Kill()
	eventually(t, "readyz to fail with Redis down", func() bool {
		code, _ := probe(t, r)
		return code == 503
	})
	code, body := probe(t, r)
	if code != 503 || !strings.Contains(body, "channel layer unreachable") {
		t.Fatalf("readyz with Redis down = %d %q", code, body)
	}
	srv.Restart()
	eventually(t, "readyz to pass with Redis back", func() bool {
		code, _ := probe(t, r)
		return code == 200
	})
	_ = context.Background()
}
