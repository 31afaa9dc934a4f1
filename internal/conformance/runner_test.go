package conformance

import (
	"strings"
	"testing"
	"time"
)

// quick keeps the runs against fakes that never act short: a case that needs the server to
// act gives up after Timeout. It is used only where the verdict cannot depend on how soon
// the fake acts (the fakes' frames are in flight before the client starts to wait).
var quick = Options{Timeout: 400 * time.Millisecond, FailFastWait: 100 * time.Millisecond, Parallel: 64}

// TestRunnerFailsBadServers plays every case against servers that break the protocol and
// checks that the runner does not let them pass. (TestConformance checks that the real
// server gets no FAILED and no UNCLEAN.)
func TestRunnerFailsBadServers(t *testing.T) {
	cases := casesFor(t)
	for _, tc := range []struct {
		name  string
		fake  fake
		opts  Options
		check func(t *testing.T, r Result)
		// all, when set, checks the results together.
		all func(t *testing.T, rs []Result)
	}{
		{"deaf", fake{serve: deaf}, quick, func(t *testing.T, r Result) {
			// Never closes: every must-fail case runs into the deadline, and nothing passes.
			if r.Case.MustFail() && (r.Verdict != Failed || !strings.Contains(r.Detail, "did not fail the connection")) {
				t.Errorf("case %s: %s %s, want FAILED for not failing the connection", r.Case.ID, r.Verdict, r.Detail)
			}
			wantNotPassed(t, r)
		}, nil},
		{"liar", fake{serve: liar}, quick, func(t *testing.T, r Result) {
			// Wrong echoes and pongs, no checks, the wrong close code for reserved opcodes.
			// (A wrong answer is FAILED; one that does not come in time makes 7.1.6,
			// whose answer is optional, UNCLEAN instead.)
			switch {
			case r.Case.MustFail() && r.Verdict != Failed:
				t.Errorf("case %s: %s %s, want FAILED", r.Case.ID, r.Verdict, r.Detail)
			case len(r.Case.Want) > 0:
				wantNotPassed(t, r)
			}
		}, nil},
		{"violator", fake{greet: violation, serve: violator}, quick, func(t *testing.T, r Result) {
			// Every connection starts with a protocol violation from the server.
			c := r.Case
			if r.Verdict != Failed {
				t.Errorf("case %s: %s %s, want FAILED", c.ID, r.Verdict, r.Detail)
			} else if !c.RefuseDeflate && c.WantExt == "" && !strings.HasPrefix(r.Detail, "server ") {
				t.Errorf("case %s: FAILED for %q, want it failed for the server's violation", c.ID, r.Detail)
			}
		}, func(t *testing.T, rs []Result) {
			// Each kind of violation opened some connection and was told apart.
			kinds := map[string]bool{}
			for _, r := range rs {
				if strings.HasPrefix(r.Detail, "server ") {
					kinds[r.Detail] = true
				}
			}
			if len(kinds) != len(violations) {
				t.Errorf("the runner reported %d kinds of violation, want %d: %v", len(kinds), len(violations), kinds)
			}
		}},
		// The drops must be seen before the deadline: the default one, which costs
		// nothing here as the dropper closes every connection at once.
		{"dropper", fake{serve: dropper}, Options{Parallel: 64}, func(t *testing.T, r Result) {
			// Drops the TCP connection at the first frame: acceptable (no close frame, a
			// SHOULD) where the connection must fail, and nothing else passes.
			if r.Case.MustFail() && (r.Verdict != NonStrict || !strings.Contains(r.Detail, "without a close frame")) {
				t.Errorf("case %s: %s %s, want NON-STRICT for the drop", r.Case.ID, r.Verdict, r.Detail)
			}
			if !r.Case.MustFail() {
				wantNotPassed(t, r)
			}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startFake(t, tc.fake)
			counts := map[Verdict]int{}
			rs := RunAll(addr, "/", cases, tc.opts)
			for _, r := range rs {
				counts[r.Verdict]++
				tc.check(t, r)
			}
			if tc.all != nil {
				tc.all(t, rs)
			}
			t.Logf("%d cases: %v", len(cases), counts)
		})
	}
}

// wantNotPassed fails the test unless r is FAILED or UNCLEAN.
func wantNotPassed(t *testing.T, r Result) {
	t.Helper()
	if r.Verdict != Failed && r.Verdict != Unclean {
		t.Errorf("case %s: %s %s, want FAILED or UNCLEAN", r.Case.ID, r.Verdict, r.Detail)
	}
}
