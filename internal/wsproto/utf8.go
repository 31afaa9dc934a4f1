package wsproto

import "unicode/utf8"

// CheckUTF8Prefix reports whether b can be the start of valid UTF-8 text, and how many
// leading bytes of b are complete, valid runes. It fails at the first byte that no valid
// text could contain, so a text message that goes wrong is rejected without waiting for its
// end (RFC 6455 §8.1 allows, and Autobahn expects, failing fast).
func CheckUTF8Prefix(b []byte) (complete int, ok bool) {
	// Fast path: ASCII.
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	if i == len(b) {
		return i, true
	}
	// Find where an incomplete trailing rune (at most 3 bytes) could start.
	tail := len(b)
	for k := len(b) - 1; k >= len(b)-3 && k >= i; k-- {
		if utf8.RuneStart(b[k]) {
			if !utf8.FullRune(b[k:]) {
				tail = k
			}
			break
		}
	}
	if !utf8.Valid(b[i:tail]) {
		return 0, false
	}
	if tail == len(b) {
		return len(b), true
	}
	return tail, validIncomplete(b[tail:])
}

// validIncomplete reports whether p (1 to 3 bytes, not a full rune) starts a valid
// multi-byte sequence (RFC 3629 table of well-formed byte sequences).
func validIncomplete(p []byte) bool {
	c := p[0]
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
	case c == 0xE0:
		lo = 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
	case c == 0xED:
		hi = 0x9F
	case c == 0xF0:
		lo = 0x90
	case c >= 0xF1 && c <= 0xF3:
	case c == 0xF4:
		hi = 0x8F
	default:
		return false
	}
	if len(p) > 1 && (p[1] < lo || p[1] > hi) {
		return false
	}
	if len(p) > 2 && (p[2] < 0x80 || p[2] > 0xBF) {
		return false
	}
	return true
}
