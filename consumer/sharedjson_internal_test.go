package consumer

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/gochannels/gochannels/channels"
)

// checkSharedJSONBounds checks that s's byte count is the sum of its cached texts, within
// the budget, and that the index holds exactly the ring's entries.
func checkSharedJSONBounds(t *testing.T, s *SharedJSON) (entries int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := 0
	for _, e := range s.ring {
		if e == nil {
			continue
		}
		entries++
		sum += len(e.text)
		if got, ok := s.index.Load(*(*unsafe.Pointer)(unsafe.Pointer(&e.msg))); !ok || got != e {
			t.Fatal("a ring entry is not in the index")
		}
	}
	indexed := 0
	s.index.Range(func(any, any) bool { indexed++; return true })
	if indexed != entries {
		t.Fatalf("%d entries indexed, %d in the ring", indexed, entries)
	}
	if sum != s.bytes || s.bytes > sharedJSONMaxBytes {
		t.Fatalf("bytes = %d, texts sum to %d, budget %d", s.bytes, sum, sharedJSONMaxBytes)
	}
	return entries
}

// TestSharedJSONBounds checks the byte budget with large frames and the slot bound with
// many small ones, that frames over sharedJSONMaxText are not kept, and that the last
// sharedJSONSlots messages are all found without encoding them again.
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
	msgs := make([]channels.Message, 3*sharedJSONSlots)
	for i := range msgs {
		msgs[i] = channels.Message{"text": "small", "i": i}
		if _, err := s.Text(msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n := checkSharedJSONBounds(t, s); n != sharedJSONSlots {
		t.Fatalf("%d of %d slots used after %d small messages", n, sharedJSONSlots, len(msgs))
	}
	before = encodings
	for _, m := range msgs[len(msgs)-sharedJSONSlots:] {
		if _, err := s.Text(m); err != nil {
			t.Fatal(err)
		}
	}
	if encodings != before {
		t.Fatalf("%d of the last %d messages encoded again", encodings-before, sharedJSONSlots)
	}
}
