package redislayer

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/gochannels/gochannels/channels"
)

// FuzzDecodeMessage decodes arbitrary bytes as a stored message payload. It must never
// panic; a failure must wrap errBadPayload; a message it accepts must encode again, and
// that encoding must decode to a message that encodes the same way (the codec is stable).
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range []channels.Message{
		{"type": "chat.message", "text": "hi"},
		{"type": "x", "n": int64(-5), "u": uint64(1 << 63), "f": 1.5, "b": []byte{0, 1}, "nil": nil, "ok": true},
		{"type": "nested", "list": []any{"a", int64(1), map[string]any{"k": []any{}}}},
	} {
		var buf bytes.Buffer
		if err := encodeMessage(&buf, m, nil); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0x81, 0xa1, 'a', 0xdf, 0xff, 0xff, 0xff, 0xff}) // map32 claiming 4G entries
	f.Add([]byte{0x81, 0xa1, 'a', 0xc7, 0x01, 0x05, 0x00})       // ext type
	f.Add([]byte{0x81, 0xa1, 'a', 0xc6, 0xc4, 0x00, 0x00, 0x00}) // bin32 claiming 3.3 GB
	f.Add([]byte{0x81, 0xdb, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a'}) // str32 key claiming 4 GB
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMessage(data)
		if err != nil {
			if !errors.Is(err, errBadPayload) {
				t.Fatalf("error does not wrap errBadPayload: %v", err)
			}
			return
		}
		if len(m) > len(data) {
			t.Fatalf("%d entries from %d bytes", len(m), len(data))
		}
		// Map iteration order varies, so compare one-entry re-encodings key by key.
		for k, v := range m {
			one := channels.Message{k: v}
			var b1, b2 bytes.Buffer
			if err := encodeMessage(&b1, one, nil); err != nil {
				t.Fatalf("decoded entry %q (%T) does not encode: %v", k, v, err)
			}
			m2, err := decodeMessage(b1.Bytes())
			if err != nil {
				t.Fatalf("re-encoded entry %q does not decode: %v", k, err)
			}
			if err := encodeMessage(&b2, m2, nil); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b1.Bytes(), b2.Bytes()) && !hasMap(v) {
				t.Fatalf("entry %q: encoding not stable: %x vs %x", k, b1.Bytes(), b2.Bytes())
			}
		}
	})
}

// hasMap reports whether v contains a map with more than one entry (whose encoding order
// varies).
func hasMap(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if len(v) > 1 {
			return true
		}
		for _, e := range v {
			if hasMap(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasMap(e) {
				return true
			}
		}
	}
	return false
}

// FuzzDecodeInbox decodes arbitrary bytes as a process inbox message. It must never panic; a
// failure must wrap errBadPayload; when the general decoder accepts the same bytes and takes
// __asgi_channel__ as a str or an array, the fast decoder must find the same names and the same
// other entries.
func FuzzDecodeInbox(f *testing.F) {
	for _, ch := range []any{"specific.abc!def", []any{"specific.abc!1", "specific.abc!2"}, []any{"a", int64(3), "b"}} {
		var buf bytes.Buffer
		if err := encodeMessage(&buf, channels.Message{"type": "chat.message", "message": "hi"}, ch); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0x81, 0xb0, '_', '_', 'a', 's', 'g', 'i', '_', 'c', 'h', 'a', 'n', 'n', 'e', 'l', '_', '_', 0xdd, 0xff, 0xff, 0xff, 0xff})       // array32 claiming 4G names
	f.Add([]byte{0x81, 0xb0, '_', '_', 'a', 's', 'g', 'i', '_', 'c', 'h', 'a', 'n', 'n', 'e', 'l', '_', '_', 0x91, 0xdb, 0x7f, 0xff, 0xff, 0xff}) // str32 name claiming 2 GB
	f.Fuzz(func(t *testing.T, data []byte) {
		m, names, err := decodeInbox(string(data))
		if err != nil {
			if !errors.Is(err, errBadPayload) {
				t.Fatalf("error does not wrap errBadPayload: %v", err)
			}
			return
		}
		if _, ok := m[channelKey]; ok {
			t.Fatalf("%s left in the message", channelKey)
		}
		ref, err := decodeMessage(data)
		if err != nil {
			return // the general decoder is stricter about a malformed __asgi_channel__ value
		}
		var want []string
		switch v := ref[channelKey].(type) {
		case string:
			want = []string{v}
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					want = append(want, s)
				}
			}
		default:
			return
		}
		delete(ref, channelKey)
		if !slices.Equal(names, want) || len(m) != len(ref) {
			t.Fatalf("decodeInbox: %v, %d entries; decodeMessage: %v, %d entries", names, len(m), want, len(ref))
		}
	})
}
