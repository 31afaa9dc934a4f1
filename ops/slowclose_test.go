package ops_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
)

// overflowApp accepts and waits for the client's first message (so that the close does not
// arrive with the handshake response), then pushes layer-like messages into its own queue
// without reading it until the server refuses one for the queue's byte bound; then it reads
// to the end.
func overflowApp(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	if _, err := receive.Receive(ctx); err != nil {
		return err
	}
	if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
		return err
	}
	if _, err := receive.Receive(ctx); err != nil {
		return err
	}
	inj := receive.(channels.Injector)
	pad := strings.Repeat("x", 1000)
	for {
		err := inj.Inject(channels.Message{"type": "room.message", "text": pad})
		if errors.Is(err, channels.ErrEventOverflow) {
			break
		}
		if err != nil {
			return err
		}
	}
	for {
		m, err := receive.Receive(ctx)
		if err != nil || m.Type() == channels.TypeWebsocketDisconnect {
			return nil
		}
	}
}

// TestSlowClosesByReason: a connection closed for its event queue is counted as a slow
// close with reason "events", and its refused message as an overflow.
func TestSlowClosesByReason(t *testing.T) {
	m, reg := newMetrics()
	addr := startServer(t, m.Instrument(channels.ApplicationFunc(overflowApp)), nil, func(s *channels.Server) {
		s.EventQueueBytes = 8 << 10
	})
	c := dial(t, addr, "/ws/")
	sendText(t, c, "go")
	if code := readClose(t, c); code != channels.ClosePolicyViolation {
		t.Fatalf("close %d, want 1008", code)
	}
	c.Close()
	expect(t, reg, map[string]float64{
		"gochannels_websocket_closes_total{code=1008,side=server}":            1,
		"gochannels_websocket_slow_client_closes_total":                       1,
		"gochannels_websocket_slow_closes_total{reason=events}":               1,
		"gochannels_websocket_slow_closes_total{reason=outbound}":             0,
		"gochannels_layer_messages_total{type=websocket,result=overflow}":     1,
		"gochannels_layer_messages_total{type=websocket,result=mailbox_full}": 0,
	})
}
