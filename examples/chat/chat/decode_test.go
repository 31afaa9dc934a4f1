package chat

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestDecodeMessageMatchesJSON checks the fast path of decodeMessage against the full decode
// it stands for, on frames it takes and frames it leaves to encoding/json.
func TestDecodeMessageMatchesJSON(t *testing.T) {
	for _, frame := range []string{
		`{"message":"hi"}`,
		` { "message" : "hi there" } `,
		"{\n\t\"message\":\r\n\"\"}",
		`{"message":"caf\u00e9"}`,
		`{"message":"a \"quote\""}`,
		`{"message":"é ✓"}`,
		`{"message":12}`,
		`{"message":1.5}`,
		`{"message":null}`,
		`{"message":["a",{"b":2}]}`,
		`{"message":"a","message":"b"}`,
		`{"message":"a","other":1}`,
		`{"other":1,"message":"a"}`,
		`{"Message":"a"}`,
		`{"other":"a"}`,
		`{}`,
		`["message"]`,
		`"message"`,
		`12`,
	} {
		if !json.Valid([]byte(frame)) {
			t.Fatalf("%s: not valid JSON", frame)
		}
		got, gotOK := decodeMessage([]byte(frame))
		var in map[string]any
		d := json.NewDecoder(strings.NewReader(frame))
		d.UseNumber()
		want, wantOK := any(nil), false
		if d.Decode(&in) == nil {
			want, wantOK = in["message"]
			want = layerValue(want)
		}
		if gotOK != wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, %v; want %#v, %v", frame, got, gotOK, want, wantOK)
		}
	}
}
