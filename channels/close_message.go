package channels

import "github.com/gochannels/gochannels/internal/wsproto"

// TypeClose is the reserved channel-layer message type that closes WebSocket connections
// from anywhere: a message of this type sent to a connection's channel, or to a group it
// is in, closes it with the message's "code" (int, default 1000; an invalid code gives 1000)
// and "reason" (string, truncated to 123 bytes), after the events queued before it. Before
// accept it refuses the handshake (HTTP 403, or 503 for 1013, as websocket.close does).
//
// The server handles it for every application it serves, consumers or not: the application
// never receives it, and gets the usual websocket.disconnect (with that code, closed_by
// "server") once the connection is closed. A Receiver that is not the server's (a consumer
// run on its own Mailbox) hands it on, and the consumer bases handle it the same way.
//
// The message is plain channel-layer data, so any process can send it: Go with
// CloseMessage, Django with channels_redis:
//
//	async_to_sync(channel_layer.group_send)("user.42", {"type": "gochannels.close", "code": 4003, "reason": "banned"})
const TypeClose = "gochannels.close"

// CloseMessage returns the TypeClose message that closes with code and reason.
func CloseMessage(code int, reason string) Message {
	m := Message{"type": TypeClose, "code": code}
	if reason != "" {
		m["reason"] = reason
	}
	return m
}

// CloseCodeReason returns the code and reason of a TypeClose message: code 1000 when it is
// missing or not a valid close code to send, the reason truncated to 123 bytes.
func CloseCodeReason(msg Message) (code int, reason string) {
	code, ok := msg.Int("code")
	if !ok || !wsproto.ValidCloseCode(code) {
		code = CloseNormal
	}
	return code, wsproto.TruncateReason(msg.String("reason"))
}

// closeHost is a Mailbox host that carries out TypeClose messages.
type closeHost interface {
	closeRequested(msg Message)
}

// interceptClose carries out msg and reports true when it is a TypeClose message and the
// mailbox's host can close.
func interceptClose(host overflowHost, msg Message) bool {
	if host == nil || msg.Type() != TypeClose {
		return false
	}
	ch, ok := host.(closeHost)
	if !ok {
		return false
	}
	ch.closeRequested(msg)
	return true
}

// closeRequested closes the connection (or refuses its handshake) for a TypeClose message.
func (c *wsConn) closeRequested(msg Message) {
	code, reason := CloseCodeReason(msg)
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	switch st {
	case stateHandshake:
		c.answer(wsDecision{status: refusalStatus(code)})
	case stateOpen:
		c.closeWith(code, reason)
	default:
		return
	}
	c.srv.logger().Info("channels: websocket closed by a "+TypeClose+" message", "path", c.path, "code", code, "reason", reason)
}
