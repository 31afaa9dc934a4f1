package bareserver_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gochannels/gochannels/tools/bareserver"
)

// A bare server on a loopback port: a client in room "lobby" sends {"message": "hi"} and,
// as every member of the room, receives {"message":"hi"}.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := bareserver.New(bareserver.Config{Logger: quiet})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	c, _, _, err := ws.Dial(dctx, "ws://"+ln.Addr().String()+"/ws/chat/lobby/")
	if err != nil {
		panic(err)
	}
	_ = wsutil.WriteClientText(c, []byte(`{"message": "hi"}`))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	frame, err := wsutil.ReadServerText(c)
	fmt.Println(string(frame), err)
	c.Close()

	cancel()
	fmt.Println("serve:", <-done, "slow closes:", srv.Stats().SlowCloses)
	// Output:
	// {"message":"hi"} <nil>
	// serve: <nil> slow closes: 0
}
