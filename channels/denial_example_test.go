package channels_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gochannels/gochannels/channels"
)

// An application refuses a WebSocket handshake with its own HTTP response by returning a
// *Denial before accept: here 401 with a WWW-Authenticate header and a JSON body, where the
// server would otherwise answer 403 with no body.
func ExampleDenial() {
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if scope.Type == channels.ScopeWebsocket && scope.QueryString == "" {
			return &channels.Denial{
				Status: http.StatusUnauthorized,
				Header: http.Header{"Www-Authenticate": {`Bearer realm="chat"`}, "Content-Type": {"application/json"}},
				Body:   []byte(`{"error": "token required"}`),
			}
		}
		return nil
	})
	ts := httptest.NewServer(&channels.Server{Application: app})
	defer ts.Close()

	// A WebSocket handshake without a token.
	req, _ := http.NewRequest("GET", ts.URL+"/ws/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := ts.Client().Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	fmt.Println(string(body))
	// Output:
	// 401 Bearer realm="chat"
	// {"error": "token required"}
}

// CloseMessage is the channel-layer message that closes the sockets it reaches: send it to
// a group (layer.GroupSend(ctx, "user.42", msg)) to close every socket in the group, on
// every server that shares the layer. CloseCodeReason reads one back as the server does.
func ExampleCloseMessage() {
	msg := channels.CloseMessage(4003, "banned")
	fmt.Println(msg.Type(), msg["code"], msg["reason"])

	// An invalid code closes with 1000.
	code, reason := channels.CloseCodeReason(channels.Message{"type": channels.TypeClose, "code": 1006})
	fmt.Println(code, reason == "")
	// Output:
	// gochannels.close 4003 banned
	// 1000 true
}
