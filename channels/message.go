package channels

// Message is one event or channel-layer message: a map with a string "type" key and values
// that the Redis layer can encode as msgpack (string, []byte, bool, integers, floats, nil,
// []any, map[string]any; nested freely).
//
// A Message delivered to several receivers (a group send fanned out inside one process) is
// shared between them: treat a received Message as read-only, and do not change a Message
// after handing it to Send.
type Message map[string]any

// Type returns the message's "type", or "" when it has none or it is not a string.
func (m Message) Type() string {
	t, _ := m["type"].(string)
	return t
}

// String returns m[key] when it is a string, and "" otherwise.
func (m Message) String(key string) string {
	s, _ := m[key].(string)
	return s
}

// Bytes returns m[key] when it is a []byte, and nil otherwise.
func (m Message) Bytes(key string) []byte {
	b, _ := m[key].([]byte)
	return b
}

// Int returns m[key] as an int when it holds any Go integer type (msgpack decodes small
// integers into the smallest type that fits), and ok=false otherwise.
func (m Message) Int(key string) (n int, ok bool) {
	switch v := m[key].(type) {
	case int:
		return v, true
	case int8:
		return int(v), true
	case int16:
		return int(v), true
	case int32:
		return int(v), true
	case int64:
		return int(v), true
	case uint8:
		return int(v), true
	case uint16:
		return int(v), true
	case uint32:
		return int(v), true
	case uint64:
		return int(v), true
	case uint:
		return int(v), true
	}
	return 0, false
}

// Bool returns m[key] when it is a bool, and false otherwise.
func (m Message) Bool(key string) bool {
	b, _ := m[key].(bool)
	return b
}

// Clone returns a shallow copy of m: a new top-level map with the same values.
func (m Message) Clone() Message {
	c := make(Message, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Event types exchanged between the server and an application, as in the ASGI specification.
// The keys each one carries are listed beside it.
const (
	// WebSocket, server → application.

	// TypeWebsocketConnect opens a WebSocket scope; no keys. The application answers with
	// TypeWebsocketAccept or TypeWebsocketClose (a close before accept refuses the handshake
	// with HTTP 403, or with 503 and Retry-After when its code is 1013, try again later).
	TypeWebsocketConnect = "websocket.connect"
	// TypeWebsocketReceive carries one complete data message: "text" (string) or "bytes"
	// ([]byte).
	TypeWebsocketReceive = "websocket.receive"
	// TypeWebsocketDisconnect ends a WebSocket scope: "code" (int), "reason" (string) and
	// "closed_by" ("server" when the server closed first — the application, a limit, a
	// timeout or shutdown — or "client" when the peer closed first or its connection
	// dropped). No event follows it.
	TypeWebsocketDisconnect = "websocket.disconnect"

	// WebSocket, application → server.

	// TypeWebsocketAccept accepts the handshake: optional "subprotocol" (string, one the
	// client offered) and "headers" ([][2]string, added to the 101 response).
	TypeWebsocketAccept = "websocket.accept"
	// TypeWebsocketSend sends one data message: "text" (string) or "bytes" ([]byte).
	TypeWebsocketSend = "websocket.send"
	// TypeWebsocketClose closes the connection (or refuses it before accept): "code" (int,
	// default 1000) and "reason" (string, at most 123 bytes). A refusal may carry "status"
	// (int, an HTTP client error 400..499 but 401 and 407) to answer the handshake with that
	// status instead of 403, and "reason" as the response body, for a request that is wrong
	// (a bad query parameter) rather than forbidden.
	TypeWebsocketClose = "websocket.close"

	// HTTP, server → application.

	// TypeHTTPRequest carries (part of) the request body: "body" ([]byte) and "more_body"
	// (bool, true while more parts follow).
	TypeHTTPRequest = "http.request"
	// TypeHTTPDisconnect says the client went away or the response is complete.
	TypeHTTPDisconnect = "http.disconnect"

	// HTTP, application → server.

	// TypeHTTPResponseStart starts the response: "status" (int) and "headers"
	// ([][2]string).
	TypeHTTPResponseStart = "http.response.start"
	// TypeHTTPResponseBody sends (part of) the body: "body" ([]byte) and "more_body" (bool;
	// when true the part is flushed to the client at once, for streaming and server-sent
	// events).
	TypeHTTPResponseBody = "http.response.body"
)
