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
	x := 0
	for t0 := time.Now(); time.Since(t0) < 100*time.Millisecond; {
		x++
	}
	self, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if self <= start || self < 50*time.Millisecond {
		t.Fatalf("CPU time %v before a 100 ms busy loop, %v after (%d loops)", start, self, x)
	}
	if _, err := CPUTime(-5); err == nil {
		t.Fatal("no error for pid -5")
	}
	if _, err := VmRSS(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
