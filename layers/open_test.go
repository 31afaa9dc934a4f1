package layers

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
)

func TestOpenUnknownScheme(t *testing.T) {
	_, err := Open(context.Background(), "nosuch://x")
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("error should name the scheme and the registered ones: %v", err)
	}
	if _, err := Open(context.Background(), "localhost:6379"); err == nil {
		t.Fatal("no error for a URL without a proper scheme")
	}
	if _, err := Open(context.Background(), "/just/a/path"); err == nil || !strings.Contains(err.Error(), "no scheme") {
		t.Fatalf("no-scheme error unclear: %v", err)
	}
	if _, err := Open(context.Background(), "memory://%zz"); err == nil {
		t.Fatal("no error for a malformed URL")
	}
}

func TestOpenRedisHint(t *testing.T) {
	for _, scheme := range []string{"redis", "rediss", "redis+sentinel", "redis+cluster", "redis+pubsub"} {
		if slices.Contains(Schemes(), scheme) {
			continue // linked in by some test binary; nothing to hint
		}
		_, err := Open(context.Background(), scheme+"://localhost:6379/0")
		if err == nil || !strings.Contains(err.Error(), "layers/redislayer") {
			t.Errorf("%s: error should say which package to import: %v", scheme, err)
		}
	}
}

var registerFailing sync.Once

func TestOpenErrorsDoNotLeakPasswords(t *testing.T) {
	const scheme = "test-failing"
	registerFailing.Do(func() {
		Register(scheme, func(ctx context.Context, u *url.URL) (Layer, error) {
			return nil, errors.New("cannot connect")
		})
	})
	_, err := Open(context.Background(), scheme+"://user:s3cret@localhost/0")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "cannot connect") {
		t.Fatalf("error = %v", err)
	}
	_, err = Open(context.Background(), "nosuch://user:s3cret@localhost/0")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error = %v", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	mustPanic("duplicate", func() { Register("memory", openMemory) })
	mustPanic("nil", func() { Register("test-nil", nil) })
}

func TestOpenMemoryDefaults(t *testing.T) {
	for _, raw := range []string{"", "memory://", "memory:///", "memory:", "memory://?prefix=asgi"} {
		l, err := Open(context.Background(), raw)
		if err != nil {
			t.Fatalf("Open(%q): %v", raw, err)
		}
		m, ok := l.(*Memory)
		if !ok {
			t.Fatalf("Open(%q) = %T", raw, l)
		}
		if m.caps.Default() != DefaultCapacity || m.expiry != int64(DefaultExpiry) || m.groupExpiry != int64(DefaultGroupExpiry) {
			t.Fatalf("Open(%q): defaults not applied", raw)
		}
		_ = l.Close()
	}
}

func TestOpenMemoryParameters(t *testing.T) {
	l, err := Open(context.Background(), `memory://?capacity=3&expiry=0.5&group_expiry=2m&channel_capacity=http.*:7,re:^bg-\d:9&channel_capacity=x:1`)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.(*Memory)
	if m.caps.Capacity("other") != 3 || m.caps.Capacity("http.request") != 7 || m.caps.Capacity("bg-1") != 9 || m.caps.Capacity("x") != 1 {
		t.Fatal("capacities not applied")
	}
	if m.expiry != int64(500*time.Millisecond) || m.groupExpiry != int64(2*time.Minute) {
		t.Fatalf("expiry %v, group expiry %v", time.Duration(m.expiry), time.Duration(m.groupExpiry))
	}
	// The capacity is enforced.
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := l.Send(ctx, "other", channels.Message{"type": "t"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Send(ctx, "other", channels.Message{"type": "t"}); !errors.Is(err, ErrChannelFull) {
		t.Fatalf("fourth send: %v", err)
	}
}

func TestOpenMemoryErrors(t *testing.T) {
	cases := map[string]string{
		"memory://host":                     "no host",
		"memory:///path":                    "no host",
		"memory://?capacity=0":              "capacity",
		"memory://?capacity=abc":            "capacity",
		"memory://?expiry=-1":               "expiry",
		"memory://?expiry=soon":             "expiry",
		"memory://?group_expiry=0":          "group_expiry",
		"memory://?channel_capacity=a":      "channel_capacity",
		"memory://?channel_capacity=re:(:3": "channel_capacity",
		"memory://?capacty=3":               `"capacty"`,
		"memory://?capacity=1;x":            "query",
	}
	for raw, want := range cases {
		_, err := Open(context.Background(), raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want an error mentioning %q", raw, err, want)
		}
	}
}

func TestEnvURLOr(t *testing.T) {
	t.Setenv(EnvURL, "")
	if got := EnvURLOr(""); got != "memory://" {
		t.Errorf("EnvURLOr with nothing set = %q, want memory://", got)
	}
	t.Setenv(EnvURL, "redis://env:6379/0")
	if got := EnvURLOr(""); got != "redis://env:6379/0" {
		t.Errorf("EnvURLOr with $%s set = %q", EnvURL, got)
	}
	if got := EnvURLOr("redis://flag:6379/1"); got != "redis://flag:6379/1" {
		t.Errorf("EnvURLOr with a flag value = %q", got)
	}
}

type wrapped struct{ Layer }

func (w wrapped) Unwrap() Layer { return w.Layer }

type pingCounter struct {
	Layer
	n int
}

func (p *pingCounter) Ping(context.Context) error { p.n++; return nil }

func TestPingAndUnwrap(t *testing.T) {
	ctx := t.Context()
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	if err := Ping(ctx, m); err != nil {
		t.Fatalf("Ping of the memory layer (fallback round trip): %v", err)
	}
	p := &pingCounter{Layer: m}
	if err := Ping(ctx, p); err != nil || p.n != 1 {
		t.Fatalf("Ping of a Pinger: %v, %d calls", err, p.n)
	}
	if got := Unwrap(wrapped{wrapped{m}}); got != Layer(m) {
		t.Fatalf("Unwrap = %T, want the memory layer", got)
	}
	if got := Unwrap(m); got != Layer(m) {
		t.Fatalf("Unwrap of an unwrapped layer = %T", got)
	}
	m.Close()
	if err := Ping(ctx, m); err == nil {
		t.Fatal("Ping of a closed layer succeeded")
	}
}
