package chat

import (
	"bytes"
	"encoding/json"
)

// decodeMessage returns the "message" of a client's frame, {"message": m}, as a value every
// layer carries (see layerValue), and false when the frame is not an object with a
// "message". content is valid JSON (the consumer base checked it).
//
// The frame of nearly every chat message, {"message": "<text without escapes>"}, is read
// without encoding/json: no decoder, no map, one string. Anything else is decoded in full.
func decodeMessage(content []byte) (any, bool) {
	if s, ok := plainMessage(content); ok {
		return s, true
	}
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return nil, false
	}
	m, ok := in["message"]
	if !ok {
		return nil, false
	}
	return layerValue(m), true
}

// plainMessage reads content as {"message": "<text>"} with only whitespace around the
// tokens and no backslash in the text, and reports whether it is one. content is valid JSON,
// so the text holds no control character.
func plainMessage(content []byte) (string, bool) {
	b := skipSpace(content)
	if len(b) == 0 || b[0] != '{' {
		return "", false
	}
	b = skipSpace(b[1:])
	const key = `"message"`
	if !bytes.HasPrefix(b, []byte(key)) {
		return "", false
	}
	b = skipSpace(b[len(key):])
	if len(b) == 0 || b[0] != ':' {
		return "", false
	}
	b = skipSpace(b[1:])
	if len(b) == 0 || b[0] != '"' {
		return "", false
	}
	b = b[1:]
	end := bytes.IndexByte(b, '"')
	if end < 0 || bytes.IndexByte(b[:end], '\\') >= 0 {
		return "", false
	}
	text := b[:end]
	b = skipSpace(b[end+1:])
	if len(b) != 1 || b[0] != '}' {
		return "", false
	}
	return string(text), true
}

// skipSpace drops JSON whitespace from the front of b.
func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
