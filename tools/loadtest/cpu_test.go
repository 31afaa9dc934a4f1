package loadtest

import (
	"os"
	"testing"
	"time"
)

func TestCPUTime(t *testing.T) {
	start, err := CPUTime(0)
	if err != nil {
		t.Fatal(err)
	}
	// Spin until this process's CPU time moves past start (a clock tick is 10 ms). How long
	// that takes depends on what else the machine runs, so the loop waits on the condition,
	// bounded only to stop a broken CPUTime.
	var self time.Duration
	x := 0
	for t0 := time.Now(); self <= start && time.Since(t0) < 30*time.Second; {
		for i := 0; i < 1_000_000; i++ {
			x++
		}
		if self, err = CPUTime(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	if self <= start {
		t.Fatalf("CPU time %v before 30 s of busy looping, %v after (%d loops)", start, self, x)
	}
	if _, err := CPUTime(-5); err == nil {
		t.Fatal("no error for pid -5")
	}
	if _, err := VmRSS(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
