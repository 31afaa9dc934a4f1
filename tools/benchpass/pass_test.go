package benchpass

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
)

// repoRoot is the repository this test runs in.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse --show-toplevel: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestQuickPass runs the sections that need every kind of service with -quick sizes
// against real processes: a redis-server, daphne with channels_redis, channels_redis in
// separate Python processes, the Go tools built once. Every command must succeed and
// every row must have its figures; the report must name the commit and each command.
func TestQuickPass(t *testing.T) {
	only := []string{"idle-redis", "redisbench", "connect"}
	sections, err := Select(only)
	if err != nil {
		t.Fatal(err)
	}
	if why := Missing(t.Context(), sections); len(why) > 0 {
		redistest.SkipOrFail(t, strings.Join(why, "; "))
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	// The developer's tree may have uncommitted work (the CI clone has none): flag it.
	rep, err := Pass(ctx, Options{Repo: repoRoot(t), Out: out, Only: only, Quick: true, AllowDirty: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sections) != len(only) {
		t.Fatalf("sections run: %+v", rep.Sections)
	}
	for _, s := range rep.Sections {
		if s.Skipped != "" {
			t.Fatalf("%s skipped: %s", s.Name, s.Skipped)
		}
		for _, r := range s.Runs {
			if r.Error != "" || r.Runs != 1 || len(r.Rows) == 0 {
				t.Errorf("%s / %s: %d runs, %d rows, error %q", s.Name, r.Name, r.Runs, len(r.Rows), r.Error)
			}
			for _, f := range r.RawFiles {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("raw output: %v", err)
				}
			}
		}
	}
	if rep.Failed() {
		t.Fatal("the pass reports a failure")
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{rep.Machine.Commit, "## idle-redis", "daphne, Redis, 3 × 5,000", "KiB per connection",
		"go run ./tools/redisbench", "python lost", "handshakes/s", "-quick"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "report.json")); err != nil {
		t.Error(err)
	}
}

// TestDirtyTree: a work tree with uncommitted changes is refused unless allowed, and then
// flagged.
func TestDirtyTree(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	git("init", "-q")
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "f")
	git("commit", "-q", "-m", "one")
	m, err := Describe(t.Context(), dir, false)
	if err != nil || m.Dirty || len(m.Commit) != 40 || m.Subject != "one" {
		t.Fatalf("clean tree: %+v, %v", m, err)
	}
	if err := os.WriteFile(file, []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Describe(t.Context(), dir, false); !errors.Is(err, ErrDirty) {
		t.Fatalf("dirty tree: got %v, want ErrDirty", err)
	}
	if m, err := Describe(t.Context(), dir, true); err != nil || !m.Dirty {
		t.Fatalf("dirty tree allowed: %+v, %v", m, err)
	}
}

// TestSelect: unknown sections are refused with the list of known ones.
func TestSelect(t *testing.T) {
	if _, err := Select([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "idle-redis") {
		t.Fatalf("unknown section: %v", err)
	}
	s, err := Select([]string{"micro", "outage"})
	if err != nil || len(s) != 2 || s[0].Name != "outage" {
		t.Fatalf("selection in pass order: %+v, %v", s, err)
	}
}
