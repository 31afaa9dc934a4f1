package redislayer

import (
	"testing"
	"time"
)

// waitTimeout bounds every wait on a condition in these tests. It only stops a hung test: it
// asserts nothing about speed, since a two-core machine running -race beside other jobs may be
// slow. How long recoveries take is logged (t.Logf) and measured by the benchmarks.
const waitTimeout = 60 * time.Second

// waitUntil polls cond until it holds; after waitTimeout it fails the test, saying what did
// not happen.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: did not happen within %v", what, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
