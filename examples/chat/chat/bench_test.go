package chat_test

import (
	"context"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/examples/chat/chat"
	"github.com/gochannels/gochannels/layers"
)

// BenchmarkConnect measures one chat connection's life on a real server over loopback:
// handshake, joining the room, the client's close and the close handshake. Client and
// server share the process, so ns/op and allocs/op count both; compare runs, not figures.
func BenchmarkConnect(b *testing.B) {
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	srv := &channels.Server{Application: chat.NewWebsocketApplication(l, nil)}
	url := "ws://" + channelstest.Serve(b, srv) + "/ws/chat/bench/"
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			conn, _, _, err := ws.Dial(ctx, url)
			if err != nil {
				b.Error(err)
				return
			}
			_ = ws.WriteFrame(conn, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
			for {
				if _, _, err := wsutil.ReadServerData(conn); err != nil {
					break // the server's close frame (or EOF)
				}
			}
			conn.Close()
		}
	})
}
