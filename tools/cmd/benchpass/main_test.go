package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestPlan: -plan lists every section with its commands and a total, and runs nothing.
func TestPlan(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"-plan"}, &out, &errOut); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	for _, want := range []string{"idle-redis", "go run ./tools/cmd/chatload -mode idle -layer redis -procs 3 -per-server 5000 -rooms 100 -server django",
		"go run ./tools/redisbench", "total"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
}

// TestFlags: a pass needs -out, and sections must exist.
func TestFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(t.Context(), nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "-out") {
		t.Fatalf("no -out: %v", err)
	}
	if err := run(t.Context(), []string{"-plan", "-only", "nope"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown section: %v", err)
	}
}
