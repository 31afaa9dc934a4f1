package loadtest

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	vals := []uint64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 1 << 20, 1<<40 + 12345, math.MaxUint64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		vals = append(vals, r.Uint64()>>r.IntN(64))
	}
	for _, v := range vals {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, i)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d [%d, %d]", v, i, lo, hi)
		}
		if v >= subCount && float64(hi-lo+1) > float64(lo)/subCount+1 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its values", i, lo, hi, subCount)
		}
	}
}

// exact returns the value of rank ceil(p/100 × n) of sorted values.
func exact(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestPercentiles(t *testing.T) {
	var h Histogram
	if h.Percentile(50) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("an empty histogram should report zeros")
	}
	r := rand.New(rand.NewPCG(3, 4))
	var vals []time.Duration
	for range 100000 {
		// Log-normal-ish latencies from 10µs to seconds.
		d := time.Duration(math.Exp(r.NormFloat64()*1.5+13) + 1e4)
		vals = append(vals, d)
		h.Record(d)
	}
	h.Record(-time.Second) // counts as zero
	vals = append(vals, 0)
	slices.Sort(vals)
	if h.Count() != uint64(len(vals)) {
		t.Fatalf("count %d, want %d", h.Count(), len(vals))
	}
	for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
		got, want := h.Percentile(p), exact(vals, p)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/subCount {
			t.Errorf("p%v = %v, want %v ± %.1f%% (off by %.2f%%)", p, got, want, 100.0/subCount, rel*100)
		}
	}
	if h.Max() != vals[len(vals)-1] {
		t.Errorf("max %v, want exactly %v", h.Max(), vals[len(vals)-1])
	}
	if h.Percentile(100) > h.Max() {
		t.Error("p100 above max")
	}

	var small Histogram
	for _, d := range []time.Duration{5, 1, 3, 2, 4} {
		small.Record(d)
	}
	for p, want := range map[float64]time.Duration{20: 1, 40: 2, 50: 3, 60: 3, 80: 4, 100: 5} {
		if got := small.Percentile(p); got != want {
			t.Errorf("small p%v = %v, want %v", p, got, want)
		}
	}
	s := small.Summary()
	if s.Count != 5 || s.Max != 0 || s.P50 != 0 {
		t.Errorf("summary of nanoseconds in ms: %+v", s)
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, size := range []int{0, 5, 100} {
		b := appendMessage(nil, 42, 7, 123456789, size)
		id, seq, ns, ok := parseMessage(b)
		if !ok || id != 42 || seq != 7 || ns != 123456789 {
			t.Fatalf("size %d: %s parsed as %d %d %d %v", size, b, id, seq, ns, ok)
		}
		if size > 0 && len(b) < size {
			t.Fatalf("size %d: message %s too short", size, b)
		}
	}
	// Spacing the server might add still parses (through encoding/json).
	if id, seq, ns, ok := parseMessage([]byte(`{ "message" : "1:2:3" }`)); !ok || id != 1 || seq != 2 || ns != 3 {
		t.Fatalf("spaced JSON: %d %d %d %v", id, seq, ns, ok)
	}
	for _, bad := range []string{`{"message":"x"}`, `{"message":"1:2"}`, `{"message":"1::3"}`, `nope`, `{"message":":1:2"}`} {
		if _, _, _, ok := parseMessage([]byte(bad)); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}
