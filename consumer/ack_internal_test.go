package consumer

import (
	"encoding/json"
	"testing"
)

// FuzzAckID checks ackID against what encoding/json makes of the frame: the top-level
// "gc_id" of a valid JSON object, last one wins, escapes decoded.
func FuzzAckID(f *testing.F) {
	for _, s := range []string{
		`{"gc_id":"1"}`, `{"a":{"gc_id":"x"},"gc_id":"2"}`, `{"gc_id":5}`, `{"gc_id":""}`,
		`{"gc_id":"a","gc_id":"b"}`, `{"gc\u005fid":"e"}`, `{"GC_ID":"x"}`, `["gc_id"]`,
		`{"text":"\"gc_id\""}`, `{"gc_id":"\u00e9\ud800"}`, `{}`, `"gc_id"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame string) {
		if !json.Valid([]byte(frame)) {
			return // ackID only sees valid JSON
		}
		id, present, ok := ackID([]byte(frame))
		var m map[string]json.RawMessage
		wantPresent := false
		var want string
		wantOK := false
		if json.Unmarshal([]byte(frame), &m) == nil && m != nil {
			if v, has := m[AckIDKey]; has {
				wantPresent = true
				wantOK = json.Unmarshal(v, &want) == nil && want != "" && len(want) <= MaxAckIDLen
			}
		}
		if present != wantPresent || ok != wantOK || (ok && id != want) {
			t.Fatalf("ackID(%q) = %q, %v, %v; want %q, %v, %v", frame, id, present, ok, want, wantPresent, wantOK)
		}
	})
}
