package channels_test

import (
	"bufio"
	"compress/flate"
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/gochannels/gochannels/channels"
)

// Compression turns on permessage-deflate: a client that offers it gets it, without context
// takeover in either direction, so idle connections hold no compression state.
func ExampleCompression() {
	accept := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		for {
			msg, err := receive.Receive(ctx)
			if err != nil || msg.Type() == channels.TypeWebsocketDisconnect {
				return err
			}
			if msg.Type() == channels.TypeWebsocketConnect {
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
					return err
				}
			}
		}
	})
	srv := &channels.Server{
		Application: accept,
		Compression: channels.Compression{Enabled: true, Level: flate.BestSpeed, MinSize: 512},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("Sec-WebSocket-Extensions"))
	// Output: 101 permessage-deflate; server_no_context_takeover; client_no_context_takeover
}
