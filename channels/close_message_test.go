package channels

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// handshakeStatus sends a handshake and returns the response status (0 on failure), for a
// goroutine other than the test's.
func handshakeStatus(addr string) int {
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		return 0
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(conn, upgradeRequest(addr, "/ws/")); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	return resp.StatusCode
}

// injectorApp accepts (unless accept is false), hands its Injector to the test, sends
// a text frame for each "test.say" message, and reports every other event on seen.
func injectorApp(accept bool, injs chan<- Injector, seen chan<- Message) Application {
	return ApplicationFunc(func(ctx context.Context, scope *Scope, receive Receiver, send Sender) error {
		injs <- receive.(Injector)
		for {
			m, err := receive.Receive(ctx)
			if err != nil {
				return nil
			}
			switch m.Type() {
			case TypeWebsocketConnect:
				if !accept {
					continue // the test closes the handshake with a message
				}
				if err := send.Send(ctx, Message{"type": TypeWebsocketAccept}); err != nil {
					return err
				}
			case "test.say":
				if err := send.Send(ctx, Message{"type": TypeWebsocketSend, "text": m.String("text")}); err != nil {
					return err
				}
			default:
				seen <- m
				if m.Type() == TypeWebsocketDisconnect {
					return nil
				}
			}
		}
	})
}

func TestCloseMessage(t *testing.T) {
	bothModes(t, func(t *testing.T, configure func(*Server)) {
		injs := make(chan Injector, 1)
		seen := make(chan Message, 4)
		_, addr := startServer(t, injectorApp(true, injs, seen), configure)
		c := dial(t, addr, "/ws/")
		inj := <-injs
		if err := inj.Inject(Message{"type": "test.say", "text": "goodbye"}); err != nil {
			t.Fatal(err)
		}
		// Sent as channels_redis decodes it: a small integer in the smallest type.
		if err := inj.Inject(Message{"type": TypeClose, "code": uint16(4003), "reason": "banned"}); err != nil {
			t.Fatal(err)
		}
		c.expectText("goodbye")
		if reason := c.expectClose(4003); reason != "banned" {
			t.Errorf("close reason %q", reason)
		}
		c.send(0x8, closePayload(4003, ""))
		m := <-seen
		if m.Type() != TypeWebsocketDisconnect || m.String("closed_by") != "server" {
			t.Fatalf("the application got %v, want only the disconnect", m)
		}
		if code, _ := m.Int("code"); code != 4003 {
			t.Fatalf("disconnect code %d", code)
		}
	})
}

func TestCloseMessageBeforeAccept(t *testing.T) {
	injs := make(chan Injector, 1)
	seen := make(chan Message, 4)
	_, addr := startServer(t, injectorApp(false, injs, seen), nil)
	done := make(chan int, 1)
	go func() { done <- handshakeStatus(addr) }()
	inj := <-injs
	if err := inj.Inject(CloseMessage(4001, "logged out")); err != nil {
		t.Fatal(err)
	}
	if st := <-done; st != 403 {
		t.Fatalf("handshake answered %d, want 403", st)
	}
	if m := <-seen; m.Type() != TypeWebsocketDisconnect {
		t.Fatalf("the application got %v", m)
	}
}

func TestCloseCodeReason(t *testing.T) {
	for _, tc := range []struct {
		msg    Message
		code   int
		reason string
	}{
		{CloseMessage(4001, "logged out"), 4001, "logged out"},
		{Message{"type": TypeClose}, 1000, ""},
		{Message{"type": TypeClose, "code": 1005}, 1000, ""},
		{Message{"type": TypeClose, "code": "4000"}, 1000, ""},
		{Message{"type": TypeClose, "code": int8(100), "reason": string(make([]byte, 200))}, 1000, string(make([]byte, 123))},
	} {
		code, reason := CloseCodeReason(tc.msg)
		if code != tc.code || reason != tc.reason {
			t.Errorf("%v: %d, reason of %d bytes", tc.msg, code, len(reason))
		}
	}
}
