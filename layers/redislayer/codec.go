package redislayer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// channelKey is the payload key that names the local channel(s) a message on a process inbox
// is for: a string (send) or a list of strings (group send).
const channelKey = "__asgi_channel__"

// maxDepth bounds nesting when encoding and decoding, so that a cyclic value or a hostile
// payload cannot exhaust the stack.
const maxDepth = 100

// encodeMessage appends the msgpack encoding of msg, as Python's msgpack.packb(use_bin_type=True)
// writes it, to buf. When channel is non-nil its value (a string or []string) is added under
// __asgi_channel__. Values that the wire cannot carry (time.Time, structs, maps with non-string
// keys, ...) are an error wrapping layers.ErrInvalidMessage that names the key.
func encodeMessage(buf *bytes.Buffer, msg channels.Message, channel any) error {
	enc := msgpack.NewEncoder(buf)
	n := len(msg)
	if channel != nil {
		n++
	}
	if err := enc.EncodeMapLen(n); err != nil {
		return err
	}
	if err := encodeEntries(enc, msg); err != nil {
		return err
	}
	if channel != nil {
		if err := enc.EncodeString(channelKey); err != nil {
			return err
		}
		return encodeValue(enc, channelKey, channel, 1)
	}
	return nil
}

// encodeEntries writes the key/value pairs of msg (no map header).
func encodeEntries(enc *msgpack.Encoder, msg channels.Message) error {
	for k, v := range msg {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := encodeValue(enc, k, v, 1); err != nil {
			return err
		}
	}
	return nil
}

func badValue(path string, v any, why string) error {
	return fmt.Errorf("%w: key %q: %s (%T)", layers.ErrInvalidMessage, path, why, v)
}

// encodeValue writes v. Integers use the smallest encoding (as Python does), floats are always
// float64, []byte is bin, strings are str.
func encodeValue(enc *msgpack.Encoder, path string, v any, depth int) error {
	if depth > maxDepth {
		return badValue(path, v, "nested too deeply")
	}
	switch x := v.(type) {
	case nil:
		return enc.EncodeNil()
	case string:
		return enc.EncodeString(x)
	case []byte:
		return enc.EncodeBytes(x)
	case bool:
		return enc.EncodeBool(x)
	case int:
		return enc.EncodeInt(int64(x))
	case int64:
		return enc.EncodeInt(x)
	case int32:
		return enc.EncodeInt(int64(x))
	case int16:
		return enc.EncodeInt(int64(x))
	case int8:
		return enc.EncodeInt(int64(x))
	case uint:
		return enc.EncodeUint(uint64(x))
	case uint64:
		return enc.EncodeUint(x)
	case uint32:
		return enc.EncodeUint(uint64(x))
	case uint16:
		return enc.EncodeUint(uint64(x))
	case uint8:
		return enc.EncodeUint(uint64(x))
	case float64:
		return enc.EncodeFloat64(x)
	case float32:
		return enc.EncodeFloat64(float64(x))
	case []any:
		if err := enc.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for i, e := range x {
			if err := encodeValue(enc, path+"["+strconv.Itoa(i)+"]", e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case []string:
		if err := enc.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, e := range x {
			if err := enc.EncodeString(e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		return encodeMap(enc, path, x, depth)
	case channels.Message:
		return encodeMap(enc, path, x, depth)
	}
	return encodeReflect(enc, path, v, depth)
}

func encodeMap(enc *msgpack.Encoder, path string, m map[string]any, depth int) error {
	if err := enc.EncodeMapLen(len(m)); err != nil {
		return err
	}
	for k, e := range m {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := encodeValue(enc, path+"."+k, e, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// encodeReflect handles named types and typed containers ([][2]string headers, []int,
// map[string]string, ...) by their kind; anything else is refused.
func encodeReflect(enc *msgpack.Encoder, path string, v any, depth int) error {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return enc.EncodeString(rv.String())
	case reflect.Bool:
		return enc.EncodeBool(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return enc.EncodeInt(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return enc.EncodeUint(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return enc.EncodeFloat64(rv.Float())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return enc.EncodeNil()
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return enc.EncodeBytes(b)
		}
		if err := enc.EncodeArrayLen(rv.Len()); err != nil {
			return err
		}
		for i := 0; i < rv.Len(); i++ {
			if err := encodeValue(enc, path+"["+strconv.Itoa(i)+"]", rv.Index(i).Interface(), depth+1); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return badValue(path, v, "map keys must be strings")
		}
		if rv.IsNil() {
			return enc.EncodeNil()
		}
		if err := enc.EncodeMapLen(rv.Len()); err != nil {
			return err
		}
		it := rv.MapRange()
		for it.Next() {
			k := it.Key().String()
			if err := enc.EncodeString(k); err != nil {
				return err
			}
			if err := encodeValue(enc, path+"."+k, it.Value().Interface(), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return badValue(path, v, "type cannot be sent (use string, []byte, bool, integers, floats, nil, []any, map[string]any)")
}

// errBadPayload marks a stored message that cannot be decoded.
var errBadPayload = errors.New("redislayer: undecodable message")

// decodeMessage decodes a msgpack map into a Message. Nested maps become map[string]any,
// arrays []any, integers int64 (uint64 above math.MaxInt64), floats float64, str string and
// bin []byte. Ext types, non-string keys and truncated data are errors wrapping errBadPayload.
func decodeMessage(data []byte) (channels.Message, error) {
	return decodeTop(bytes.NewReader(data), len(data), nil)
}

// decodeMessageString is decodeMessage of a payload held in a string, read in place.
func decodeMessageString(s string) (channels.Message, error) {
	return decodeTop(strings.NewReader(s), len(s), nil)
}

// decodeTop decodes the size-byte payload that r reads: a msgpack map, nothing after it. With
// names set, the __asgi_channel__ entry is read by names instead of going into the message.
func decodeTop(r io.Reader, size int, names func(*msgpack.Decoder) error) (channels.Message, error) {
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(r) // an io.ByteScanner is read directly: its offset stays the decoder's
	c, err := dec.PeekCode()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadPayload, err)
	}
	if !msgpcode.IsFixedMap(c) && c != msgpcode.Map16 && c != msgpcode.Map32 {
		return nil, fmt.Errorf("%w: top level is msgpack type 0x%02x, not a map", errBadPayload, c)
	}
	m, err := decodeMap(dec, size, 0, names)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadPayload, err)
	}
	if _, err := dec.PeekCode(); err == nil {
		return nil, fmt.Errorf("%w: trailing bytes after the message", errBadPayload)
	}
	return channels.Message(m), nil
}

func decodeValue(dec *msgpack.Decoder, limit, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deeply")
	}
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case msgpcode.IsFixedNum(c), c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32, c == msgpcode.Int64:
		return dec.DecodeInt64()
	case c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32, c == msgpcode.Uint64:
		u, err := dec.DecodeUint64()
		if err != nil {
			return nil, err
		}
		if u <= math.MaxInt64 {
			return int64(u), nil
		}
		return u, nil
	case c == msgpcode.Nil:
		return nil, dec.DecodeNil()
	case c == msgpcode.True, c == msgpcode.False:
		return dec.DecodeBool()
	case c == msgpcode.Float, c == msgpcode.Double:
		return dec.DecodeFloat64()
	case msgpcode.IsString(c), msgpcode.IsBin(c):
		b, err := decodeBlob(dec, limit)
		if err != nil || !msgpcode.IsString(c) {
			return b, err
		}
		return blobString(b), nil
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		if n > limit {
			return nil, fmt.Errorf("array of %d elements in %d bytes", n, limit)
		}
		if n < 0 {
			return nil, nil
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = decodeValue(dec, limit, depth+1); err != nil {
				return nil, err
			}
		}
		return a, nil
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		m, err := decodeMap(dec, limit, depth, nil)
		if err != nil || m == nil {
			return nil, err // a nil map decodes as nil, not as a typed nil in an interface
		}
		return m, nil
	}
	return nil, fmt.Errorf("unsupported msgpack type 0x%02x (not part of the wire format)", c)
}

// decodeInbox decodes a process inbox message held in s (the msgpack payload, in clear) into
// the message without its __asgi_channel__ entry and the channel names that entry lists (one
// str, or an array of them; elements of other types are skipped). The names are substrings of
// s, not copies: a group message to a process lists each of its members there, and the names
// only serve to look up local channels.
func decodeInbox(s string) (channels.Message, []string, error) {
	r := strings.NewReader(s)
	var names []string
	m, err := decodeTop(r, len(s), func(dec *msgpack.Decoder) (err error) {
		names, err = decodeNames(dec, r, s)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return m, names, nil
}

// decodeMap reads a map (its header is next) of at most limit entries whose keys are str; see
// decodeTop for names. A nil map is nil.
func decodeMap(dec *msgpack.Decoder, limit, depth int, names func(*msgpack.Decoder) error) (map[string]any, error) {
	n, err := dec.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("map of %d entries in %d bytes", n, limit)
	}
	if n < 0 {
		return nil, nil
	}
	m := make(map[string]any, n)
	for range n {
		kc, err := dec.PeekCode()
		if err != nil {
			return nil, err
		}
		if !msgpcode.IsString(kc) {
			return nil, fmt.Errorf("map key of msgpack type 0x%02x, want a string", kc)
		}
		k, err := decodeBlob(dec, limit)
		if err != nil {
			return nil, err
		}
		key := blobString(k)
		if names != nil && key == channelKey {
			if err := names(dec); err != nil {
				return nil, err
			}
			continue
		}
		if m[key], err = decodeValue(dec, limit, depth+1); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// decodeNames reads the value of __asgi_channel__ as substrings of s.
func decodeNames(dec *msgpack.Decoder, r *strings.Reader, s string) ([]string, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	count := 1
	if msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32 {
		if count, err = dec.DecodeArrayLen(); err != nil {
			return nil, err
		}
		if count > r.Len() {
			return nil, fmt.Errorf("array of %d elements in %d bytes", count, r.Len())
		}
	}
	names := make([]string, 0, max(count, 0))
	for range count {
		if c, err = dec.PeekCode(); err != nil {
			return nil, err
		}
		if !msgpcode.IsString(c) {
			if _, err := decodeValue(dec, len(s), 2); err != nil { // bounded, unlike Skip
				return nil, err
			}
			continue
		}
		n, err := dec.DecodeBytesLen()
		if err != nil {
			return nil, err
		}
		if n < 0 || n > r.Len() {
			return nil, fmt.Errorf("%d-byte string in %d bytes", n, r.Len())
		}
		off := len(s) - r.Len()
		names = append(names, s[off:off+n])
		if _, err := r.Seek(int64(n), io.SeekCurrent); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// blobString returns b, a buffer decodeBlob made and nothing else holds, as a string without
// copying it (a group message's __asgi_channel__ list has one string per member).
func blobString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// decodeBlob reads a str or bin. It reads the declared length first and checks it against
// limit (the payload size), so a few bytes declaring a 4 GB str or bin cannot make the
// decoder allocate it.
func decodeBlob(dec *msgpack.Decoder, limit int) ([]byte, error) {
	n, err := dec.DecodeBytesLen()
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%d-byte string or bin in %d bytes", n, limit)
	}
	if n < 0 {
		return nil, nil
	}
	b := make([]byte, n)
	if err := dec.ReadFull(b); err != nil {
		return nil, err
	}
	return b, nil
}

func newEncoder(buf *bytes.Buffer) *msgpack.Encoder { return msgpack.NewEncoder(buf) }
