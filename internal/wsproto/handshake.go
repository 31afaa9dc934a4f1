package wsproto

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
)

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// HandshakeError is a request that is not a valid WebSocket opening handshake. Reason is
// plain text for the 400 response.
type HandshakeError struct {
	Reason string
	// BadVersion is set when the only problem is an unsupported Sec-WebSocket-Version; the
	// response then carries "Sec-WebSocket-Version: 13".
	BadVersion bool
}

func (e *HandshakeError) Error() string { return "websocket handshake: " + e.Reason }

// IsUpgrade reports whether r asks for a WebSocket upgrade (an Upgrade header with the
// "websocket" token). Such a request is either a valid handshake or a 400.
func IsUpgrade(r *http.Request) bool {
	return HeaderHasToken(r.Header, "Upgrade", "websocket")
}

// CheckRequest validates r as a WebSocket opening handshake (RFC 6455 §4.2.1) and returns
// the client's key and offered subprotocols, in order.
func CheckRequest(r *http.Request) (key string, protocols []string, err error) {
	switch {
	case r.Method != http.MethodGet:
		return "", nil, &HandshakeError{Reason: "websocket handshake must use GET, not " + r.Method}
	case r.ProtoMajor != 1 || r.ProtoMinor < 1:
		return "", nil, &HandshakeError{Reason: "websocket handshake needs HTTP/1.1, not " + r.Proto}
	case r.Host == "":
		return "", nil, &HandshakeError{Reason: "websocket handshake is missing the Host header"}
	case !HeaderHasToken(r.Header, "Upgrade", "websocket"):
		return "", nil, &HandshakeError{Reason: "websocket handshake is missing \"Upgrade: websocket\""}
	case !HeaderHasToken(r.Header, "Connection", "upgrade"):
		return "", nil, &HandshakeError{Reason: "websocket handshake is missing \"Connection: Upgrade\""}
	}
	keys := r.Header.Values("Sec-Websocket-Key")
	if len(keys) != 1 {
		return "", nil, &HandshakeError{Reason: "websocket handshake needs exactly one Sec-WebSocket-Key header"}
	}
	key = strings.TrimSpace(keys[0])
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", nil, &HandshakeError{Reason: "Sec-WebSocket-Key is not 16 bytes in base64"}
	}
	if v := r.Header.Values("Sec-Websocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return "", nil, &HandshakeError{Reason: "unsupported Sec-WebSocket-Version (this server speaks 13)", BadVersion: true}
	}
	for _, v := range r.Header.Values("Sec-Websocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				protocols = append(protocols, p)
			}
		}
	}
	return key, protocols, nil
}

// HeaderHasToken reports whether a comma-separated header (all its lines) contains token,
// compared case-insensitively.
func HeaderHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// ValidHeaderName reports whether s is a valid HTTP header field name (an RFC 7230 token).
func ValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// ValidHeaderValue reports whether s can be sent as a header value (no control characters
// other than horizontal tab).
func ValidHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// AppendResponse appends a 101 Switching Protocols response for key, with subprotocol (when
// not "") and the extra headers (already validated), to dst.
func AppendResponse(dst []byte, key, subprotocol string, extra [][2]string) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, AcceptKey(key)...)
	dst = append(dst, "\r\n"...)
	if subprotocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, subprotocol...)
		dst = append(dst, "\r\n"...)
	}
	for _, h := range extra {
		dst = append(dst, h[0]...)
		dst = append(dst, ": "...)
		dst = append(dst, h[1]...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}
