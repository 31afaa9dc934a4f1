package consumer

import (
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
)

// checkSharedJSONBounds checks that s's byte count is the sum of its cached texts, within
// the budget, and that every cached entry sits in its own set and in the fifo.
func checkSharedJSONBounds(t *testing.T, s *SharedJSON) (entries int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	inFIFO := make(map[*sharedJSONEntry]bool)
	for _, e := range s.fifo {
		if e != nil {
			inFIFO[e] = true
		}
	}
	sum := 0
	for i := range s.slots {
		e := s.slots[i].Load()
		if e == nil {
			continue
		}
		entries++
		sum += len(e.text)
		if set := sharedJSONSet(e.id); i < set || i >= set+sharedJSONWays || e.slot != i {
			t.Fatalf("entry in slot %d, its set starts at %d, it says slot %d", i, set, e.slot)
		}
		if !inFIFO[e] {
			t.Fatalf("entry in slot %d is not in the fifo", i)
		}
	}
	if sum != s.bytes || s.bytes > sharedJSONMaxBytes {
		t.Fatalf("bytes = %d, texts sum to %d, budget %d", s.bytes, sum, sharedJSONMaxBytes)
	}
	return entries
}

// TestSharedJSONBounds checks the byte budget with large frames and the slot bound with
// many small ones, and that the last message stored is found without encoding it again.
func TestSharedJSONBounds(t *testing.T) {
	encodings := 0
	s := NewSharedJSON(func(msg channels.Message) any { encodings++; return msg["text"] })
	big := strings.Repeat("x", 60<<10) // under sharedJSONMaxText; 18 of them exceed the budget
	var last channels.Message
	for i := range 100 {
		last = channels.Message{"text": big, "i": i}
		if _, err := s.Text(last); err != nil {
			t.Fatal(err)
		}
	}
	if n := checkSharedJSONBounds(t, s); n == 0 || n > sharedJSONMaxBytes/len(big) {
		t.Fatalf("%d large entries cached", n)
	}
	before := encodings
	if _, err := s.Text(last); err != nil || encodings != before {
		t.Fatalf("the last large message encoded again (%v)", err)
	}
	huge := channels.Message{"text": strings.Repeat("y", sharedJSONMaxText)}
	for range 2 {
		if _, err := s.Text(huge); err != nil {
			t.Fatal(err)
		}
	}
	if encodings != before+2 {
		t.Fatalf("a frame over sharedJSONMaxText was cached (%d encodings)", encodings-before)
	}
	for i := range 3 * sharedJSONSlots {
		last = channels.Message{"text": "small", "i": i}
		if _, err := s.Text(last); err != nil {
			t.Fatal(err)
		}
	}
	if n := checkSharedJSONBounds(t, s); n < sharedJSONSlots/2 {
		t.Fatalf("only %d of %d slots used after %d small messages", n, sharedJSONSlots, 3*sharedJSONSlots)
	}
	before = encodings
	if _, err := s.Text(last); err != nil || encodings != before {
		t.Fatalf("the last small message encoded again (%v)", err)
	}
}
