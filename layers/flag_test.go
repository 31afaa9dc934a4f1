package layers

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
)

var registerFlagScheme sync.Once

// logged are the loggers the test's RegisterLogging function was given.
var logged struct {
	sync.Mutex
	loggers []*slog.Logger
}

func TestFlag(t *testing.T) {
	const scheme = "test-flag"
	registerFlagScheme.Do(func() {
		Register(scheme, func(ctx context.Context, u *url.URL) (Layer, error) { return NewMemory(MemoryOptions{}), nil })
		RegisterLogging(func(l *slog.Logger) {
			logged.Lock()
			defer logged.Unlock()
			logged.loggers = append(logged.loggers, l)
		})
	})
	parse := func(args ...string) *URLFlag {
		t.Helper()
		fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := Flag(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f
	}

	t.Setenv(EnvURL, "")
	if got := parse().URL(); got != "memory://" {
		t.Errorf("no flag, no $%s: URL %q, want memory://", EnvURL, got)
	}
	t.Setenv(EnvURL, "redis://:envpw@env:6379/0")
	if f := parse(); f.URL() != "redis://:envpw@env:6379/0" || f.Redacted() != "redis://:xxxxx@env:6379/0" {
		t.Errorf("from $%s: URL %q, Redacted %q", EnvURL, f.URL(), f.Redacted())
	}

	f := parse("-layer", scheme+"://:s3cret@host:1/0")
	if f.URL() != scheme+"://:s3cret@host:1/0" {
		t.Errorf("the flag should win over $%s: %q", EnvURL, f.URL())
	}
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	l, err := f.Open(context.Background(), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, ok := l.(*Memory); !ok {
		t.Errorf("Open = %T, want the scheme's layer", l)
	}
	if line := out.String(); strings.Contains(line, "s3cret") || !strings.Contains(line, "url="+scheme+"://:xxxxx@host:1/0") {
		t.Errorf("log line %q: want the URL, redacted", line)
	}
	logged.Lock()
	last := logged.loggers[len(logged.loggers)-1]
	logged.Unlock()
	if last != logger {
		t.Errorf("Open did not route the layer packages' logs through its logger")
	}

	if _, err := parse("-layer", "nosuch://:s3cret@h").Open(context.Background(), logger); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open of an unknown scheme: %v", err)
	}
}

func TestRegisterLoggingNil(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("RegisterLogging(nil) did not panic")
		}
	}()
	RegisterLogging(nil)
}
