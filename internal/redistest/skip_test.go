package redistest

import (
	"fmt"
	"net/url"
	"runtime"
	"testing"
	"time"
)

// outcome records how a helper ended a test: by failing it, skipping it, or neither.
type outcome struct {
	testing.TB // the real test, for Helper, Cleanup, TempDir...; Fatal and Skip are caught
	failed     string
	skipped    string
}

func (o *outcome) Fatal(args ...any) { o.failed = fmt.Sprint(args...); runtime.Goexit() }
func (o *outcome) Fatalf(format string, args ...any) {
	o.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (o *outcome) Skip(args ...any) { o.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (o *outcome) Skipf(format string, args ...any) {
	o.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (o *outcome) SkipNow() { o.skipped = "SkipNow"; runtime.Goexit() }
func (o *outcome) FailNow() { o.failed = "FailNow"; runtime.Goexit() }

// run calls f with a recording TB on a goroutine of its own (Fatal and Skip end it with
// runtime.Goexit, as the testing package does) and returns how f ended.
func run(t *testing.T, f func(tb testing.TB)) *outcome {
	t.Helper()
	o := &outcome{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(o)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the helper under test did not return")
	}
	return o
}

func TestSkipOrFailFailsUnderCI(t *testing.T) {
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{
		{"true", true},
		{"", false},
		{"false", false},
		{"1", false}, // only CI=true turns skips into failures, as .ci/run sets it
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv(EnvCI, tc.ci)
			o := run(t, func(tb testing.TB) { SkipOrFail(tb, "some dependency is missing") })
			switch {
			case tc.wantFail && (o.failed == "" || o.skipped != ""):
				t.Fatalf("CI=%q: failed=%q skipped=%q, want a failure", tc.ci, o.failed, o.skipped)
			case !tc.wantFail && (o.skipped == "" || o.failed != ""):
				t.Fatalf("CI=%q: failed=%q skipped=%q, want a skip", tc.ci, o.failed, o.skipped)
			}
		})
	}
}

// TestStartPrivateIgnoresRedisURL: with CI=true and REDIS_URL set (here to a port nothing
// answers on, so that using it would fail), StartPrivate still starts a private server that
// Kill and Restart work on.
func TestStartPrivateIgnoresRedisURL(t *testing.T) {
	t.Setenv(EnvCI, "true")
	t.Setenv(EnvURL, "redis://127.0.0.1:1/0")
	servers := StartPrivateN(t, 2)
	for i, s := range servers {
		if s.External() {
			t.Fatalf("server %d comes from %s, want a private one", i, EnvURL)
		}
	}
	s := servers[1]
	s.Kill()
	if err := ping(s.URL(), time.Second); err == nil {
		t.Fatal("server still answers after Kill")
	}
	s.Restart()
	if err := ping(s.URL(), 5*time.Second); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}

// TestKillExternalFails: Kill and Restart on a REDIS_URL server fail the test instead of
// skipping it, so a test that forgot StartPrivate cannot pass in CI by being skipped.
func TestKillExternalFails(t *testing.T) {
	u, err := url.Parse("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func(*Server){"Kill": (*Server).Kill, "Restart": (*Server).Restart} {
		o := run(t, func(tb testing.TB) { op(&Server{t: tb, external: u}) })
		if o.failed == "" || o.skipped != "" {
			t.Errorf("%s on a %s server: failed=%q skipped=%q, want a failure", name, EnvURL, o.failed, o.skipped)
		}
	}
}

func TestShortIsFalseUnderCI(t *testing.T) {
	t.Setenv(EnvCI, "true")
	if Short() {
		t.Fatal("Short() = true under CI=true")
	}
	t.Setenv(EnvCI, "")
	if Short() != testing.Short() {
		t.Fatalf("Short() = %v outside CI, want testing.Short() = %v", Short(), testing.Short())
	}
}

// TestRequirePythonChecksEveryModule: a module the interpreter lacks is reported (as a
// failure under CI=true), so RequirePython really imports what it is given.
func TestRequirePythonChecksEveryModule(t *testing.T) {
	t.Setenv(EnvCI, "true")
	o := run(t, func(tb testing.TB) { RequirePython(tb, "gochannels_no_such_module") })
	if o.failed == "" || o.skipped != "" {
		t.Fatalf("failed=%q skipped=%q, want a failure naming the missing module", o.failed, o.skipped)
	}
}
