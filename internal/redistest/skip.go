package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// EnvCI names the environment variable that marks a CI run: with CI=true a missing
// dependency fails the test instead of skipping it, and Short reports false.
const EnvCI = "CI"

// inCI reports whether the tests run under CI=true.
func inCI() bool { return os.Getenv(EnvCI) == "true" }

// SkipOrFail skips the test because a dependency is missing, or fails it when CI=true (CI
// installs every dependency, so there a missing one is an error, never a silent skip).
func SkipOrFail(t testing.TB, msg string) {
	t.Helper()
	if inCI() {
		t.Fatal(msg + " (" + EnvCI + "=true: not skipping)")
	}
	t.Skip(msg)
}

// Short reports whether tests should take their short path: testing.Short(), except under
// CI=true, where it is always false, so that neither -short nor GOFLAGS=-short can shrink or
// skip a test in CI.
func Short() bool {
	return testing.Short() && !inCI()
}

// PythonPath is the interpreter that has Debian's channels_redis; the python3 on PATH may be
// a different one.
const PythonPath = "/usr/bin/python3"

// pythonBase lists the modules every Python interop test needs: channels_redis with its
// dependencies, and Django's channels, which channels_redis builds on.
var pythonBase = []string{"channels", "channels_redis", "msgpack", "cryptography"}

// pythonPackages maps a module to the Debian package that provides it, for the messages.
var pythonPackages = map[string]string{
	"channels":       "python3-django-channels",
	"channels_redis": "python3-channels-redis",
	"msgpack":        "python3-msgpack",
	"cryptography":   "python3-cryptography",
	"daphne":         "python3-daphne",
	"django_redis":   "python3-django-redis",
	"psycopg2":       "python3-psycopg2",
}

// RequirePython returns the path of a Python interpreter that can import Django's channels,
// channels_redis, msgpack, cryptography and every one of extra (say "daphne"), skipping the
// test when there is none (failing when CI=true).
func RequirePython(t testing.TB, extra ...string) string {
	t.Helper()
	if _, err := os.Stat(PythonPath); err != nil {
		SkipOrFail(t, "python3 not found at "+PythonPath+"; install python3-channels-redis")
	}
	modules := append(append([]string(nil), pythonBase...), extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, PythonPath, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput()
	if err != nil {
		SkipOrFail(t, fmt.Sprintf("%s cannot import %s (%v: %s); install %s",
			PythonPath, strings.Join(modules, ", "), err, strings.TrimSpace(string(out)), debianPackages(modules)))
	}
	return PythonPath
}

// debianPackages names the Debian packages that provide modules.
func debianPackages(modules []string) string {
	var pkgs []string
	seen := map[string]bool{}
	for _, m := range modules {
		p, ok := pythonPackages[m]
		if !ok {
			p = "python3-" + m
		}
		if !seen[p] {
			seen[p] = true
			pkgs = append(pkgs, p)
		}
	}
	return strings.Join(pkgs, " ")
}
