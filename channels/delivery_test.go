package channels_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/layers"
)

// roomHost serves WebSockets that join one room on an in-memory layer and forward each
// room message's text to the client. A connection's path chooses its behaviour:
//
//   - /read/: forward everything (with an event bound of readerBound);
//   - /stuck/, /drop-newest/, /drop-oldest/: stop receiving until release is closed (an
//     application that cannot keep up), with a bound of stuckBound and the policy its path
//     names (close for /stuck/); then report what it received.
type roomHost struct {
	layer       *layers.Memory
	room        string
	readerBound int
	stuckBound  int
	joined      sync.WaitGroup
	release     chan struct{}
	results     chan stuckResult
}

// stuckResult is what a held connection found in its queue once released.
type stuckResult struct {
	path        string
	numbers     []int // the room messages received, by number
	queuedBytes int   // the mailbox's QueuedBytes when released
	dropped     uint64
	disconnect  channels.Message // nil when the queue ended without one
}

func newRoomHost(t *testing.T, room string) *roomHost {
	l := layers.NewMemory(layers.MemoryOptions{})
	t.Cleanup(func() { _ = l.Close() })
	return &roomHost{layer: l, room: room, release: make(chan struct{}), results: make(chan stuckResult, 64)}
}

func (h *roomHost) Serve(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	if m, err := receive.Receive(ctx); err != nil || m.Type() != channels.TypeWebsocketConnect {
		return fmt.Errorf("want websocket.connect, got %v, %w", m, err)
	}
	if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
		return err
	}
	policy := map[string]channels.OverflowPolicy{
		"/stuck/": channels.OverflowClose, "/drop-newest/": channels.OverflowDropNewest, "/drop-oldest/": channels.OverflowDropOldest,
	}
	lim := receive.(channels.InjectLimiter)
	if p, held := policy[scope.Path]; held {
		lim.LimitInjected(h.stuckBound, p)
	} else if h.readerBound > 0 {
		lim.LimitInjected(h.readerBound, channels.OverflowClose)
	}
	inj := receive.(channels.Injector)
	name, stop, err := layers.Listen(ctx, h.layer, "specific", func(m channels.Message) bool { return inj.Inject(m) == nil })
	if err != nil {
		return err
	}
	defer stop()
	if err := h.layer.GroupAdd(ctx, h.room, name); err != nil {
		return err
	}
	defer func() { _ = h.layer.GroupDiscard(context.WithoutCancel(ctx), h.room, name) }()
	h.joined.Done()
	if _, held := policy[scope.Path]; held {
		return h.held(ctx, scope.Path, receive)
	}
	for {
		m, err := receive.Receive(ctx)
		if err != nil {
			return nil
		}
		switch m.Type() {
		case channels.TypeWebsocketDisconnect:
			return nil
		case "room.message":
			// A failed send means the connection is closing: its disconnect follows.
			_ = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": m.String("text")})
		}
	}
}

// held waits for release, then reports what the queue held.
func (h *roomHost) held(ctx context.Context, path string, receive channels.Receiver) error {
	<-h.release
	mb := receive.(*channels.Mailbox)
	r := stuckResult{path: path, queuedBytes: mb.QueuedBytes(), dropped: mb.Dropped()}
	for mb.Len() > 0 {
		m, err := receive.Receive(ctx)
		if err != nil {
			break
		}
		if m.Type() == channels.TypeWebsocketDisconnect {
			r.disconnect = m
			break
		}
		n, _ := strconv.Atoi(m.String("text")[3:8])
		r.numbers = append(r.numbers, n)
	}
	h.results <- r
	return nil
}

// roomText is the text of message i of sender s: "ss:iiiii" and padding.
func roomText(s, i, pad int) string {
	return fmt.Sprintf("%02d:%05d", s, i) + strings.Repeat("x", pad)
}

// readRoom reads n text frames and checks that each sender's messages come in order, with
// none missing.
func readRoom(conn net.Conn, br *bufio.Reader, n, senders int) error {
	_ = conn.SetReadDeadline(time.Now().Add(110 * time.Second)) // safety net only
	next := make([]int, senders)
	for got := 0; got < n; got++ {
		h, err := ws.ReadHeader(br)
		if err != nil {
			return fmt.Errorf("after %d messages: %w", got, err)
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			return fmt.Errorf("after %d messages: %w", got, err)
		}
		if h.OpCode != ws.OpText {
			return fmt.Errorf("after %d messages: frame %v %q, want text", got, h.OpCode, payload)
		}
		s, err1 := strconv.Atoi(string(payload[:2]))
		i, err2 := strconv.Atoi(string(payload[3:8]))
		if err1 != nil || err2 != nil || s >= senders {
			return fmt.Errorf("bad message %q", payload)
		}
		if i != next[s] {
			return fmt.Errorf("sender %d: got message %d, want %d (lost or out of order)", s, i, next[s])
		}
		next[s]++
	}
	return nil
}

// TestBurstToReadingClientsLosesNothing sends a burst of thousands of small messages, from
// several senders at once and with no flow control, to a room of 100 clients that keep
// reading: every client gets every message, each sender's in order. With a 128-event cap
// on the queue about a fifth of them were lost.
func TestBurstToReadingClientsLosesNothing(t *testing.T) {
	const (
		clients = 100
		senders = 10
		each    = 300 // 3000 messages to each client
	)
	h := newRoomHost(t, "burst")
	addr := channelstest.Serve(t, &channels.Server{Application: h, PingInterval: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second) // safety net only
	defer cancel()

	h.joined.Add(clients)
	errs := make(chan error, clients)
	var readers sync.WaitGroup
	for range clients {
		conn, br := dialWS(t, ctx, addr, "/read/", 0)
		defer conn.Close()
		readers.Add(1)
		go func() {
			defer readers.Done()
			errs <- readRoom(conn, br, senders*each, senders)
		}()
	}
	waitGroup(t, ctx, &h.joined, "clients joining the room")

	var sending sync.WaitGroup
	for s := range senders {
		sending.Add(1)
		go func() {
			defer sending.Done()
			for i := range each {
				if err := h.layer.GroupSend(ctx, h.room, channels.Message{"type": "room.message", "text": roomText(s, i, 8)}); err != nil {
					t.Errorf("GroupSend: %v", err)
					return
				}
			}
		}()
	}
	sending.Wait()
	readers.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a client: %v", err)
		}
	}
	if st := h.layer.Stats(); st.Dropped != 0 {
		t.Fatalf("the layer dropped %d messages", st.Dropped)
	}
}

// readClose reads frames until a close frame and returns its code and reason, and the
// number of data frames before it.
func readCloseFrame(conn net.Conn, br *bufio.Reader) (code int, reason string, data int, err error) {
	_ = conn.SetReadDeadline(time.Now().Add(110 * time.Second)) // safety net only
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			return 0, "", data, err
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			return 0, "", data, err
		}
		switch h.OpCode {
		case ws.OpClose:
			if len(payload) < 2 {
				return 0, "", data, errors.New("close frame without a code")
			}
			return int(binary.BigEndian.Uint16(payload)), string(payload[2:]), data, nil
		case ws.OpText, ws.OpBinary:
			data++
		}
	}
}

// TestEventOverflowClosesOnlyTheStuck broadcasts to a room where some applications stop
// receiving: their connections are closed with 1008 "event queue full" (on the wire and in
// the disconnect event the application finds after the events that fitted, none missing
// before it), their queues never hold more than the bound plus one message, and the other
// clients receive everything in order. Under the drop policies the held connections stay
// open and count what they dropped: drop-newest keeps the first messages, drop-oldest the
// last ones.
func TestEventOverflowClosesOnlyTheStuck(t *testing.T) {
	const (
		readers  = 20
		held     = 4 // of each kind
		messages = 2000
		pad      = 100
		bound    = 16 << 10
	)
	h := newRoomHost(t, "overflow")
	h.readerBound, h.stuckBound = 64<<20, bound
	addr := channelstest.Serve(t, &channels.Server{Application: h, PingInterval: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second) // safety net only
	defer cancel()

	kinds := []string{"/stuck/", "/drop-newest/", "/drop-oldest/"}
	h.joined.Add(readers + held*len(kinds))
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		conn, br := dialWS(t, ctx, addr, "/read/", 0)
		defer conn.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readRoom(conn, br, messages, 1)
		}()
	}
	type heldConn struct {
		path string
		conn net.Conn
		br   *bufio.Reader
	}
	var helds []heldConn
	for _, k := range kinds {
		for range held {
			conn, br := dialWS(t, ctx, addr, k, 0)
			defer conn.Close()
			helds = append(helds, heldConn{k, conn, br})
		}
	}
	waitGroup(t, ctx, &h.joined, "clients joining the room")

	msgSize := channels.MessageSize(channels.Message{"type": "room.message", "text": roomText(0, 0, pad)})
	for i := range messages {
		if err := h.layer.GroupSend(ctx, h.room, channels.Message{"type": "room.message", "text": roomText(0, i, pad)}); err != nil {
			t.Fatalf("GroupSend: %v", err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a reader: %v", err)
		}
	}
	// The stuck clients were told: 1008 "event queue full", with nothing before it.
	for _, c := range helds[:held] {
		code, reason, data, err := readCloseFrame(c.conn, c.br)
		if err != nil || code != channels.ClosePolicyViolation || reason != "event queue full" || data != 0 {
			t.Fatalf("stuck client: close %d %q after %d data frames (%v), want 1008 \"event queue full\" alone", code, reason, data, err)
		}
		if !channels.IsSlowClient(code, reason) || channels.SlowCloseKind(code, reason) != channels.SlowEvents || !channels.ClosedByServer(code, reason) {
			t.Fatalf("1008 %q is not classified as a slow-client (events) close by the server", reason)
		}
	}

	close(h.release)
	fits := bound / msgSize
	for range held * len(kinds) {
		var r stuckResult
		select {
		case r = <-h.results:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		if r.queuedBytes > bound+msgSize {
			t.Fatalf("%s: %d bytes queued, over the bound %d plus one message", r.path, r.queuedBytes, bound)
		}
		n := len(r.numbers)
		if n < fits || n > fits+1 {
			t.Fatalf("%s: %d messages queued, want %d or %d", r.path, n, fits, fits+1)
		}
		first := 0
		if r.path == "/drop-oldest/" {
			first = messages - n
		}
		for j, got := range r.numbers {
			if got != first+j {
				t.Fatalf("%s: message %d is number %d, want %d", r.path, j, got, first+j)
			}
		}
		switch r.path {
		case "/stuck/":
			code, _ := r.disconnect.Int("code")
			if r.disconnect == nil || code != channels.ClosePolicyViolation || r.disconnect.String("reason") != "event queue full" || r.disconnect.String("closed_by") != "server" {
				t.Fatalf("stuck application: final event %v, want a websocket.disconnect 1008 \"event queue full\" by the server", r.disconnect)
			}
			if r.dropped != 0 {
				t.Fatalf("stuck: %d counted as dropped", r.dropped)
			}
		default:
			if r.disconnect != nil {
				t.Fatalf("%s: disconnected (%v) though its policy drops", r.path, r.disconnect)
			}
			if int(r.dropped) != messages-n {
				t.Fatalf("%s: %d counted as dropped, want %d", r.path, r.dropped, messages-n)
			}
		}
	}
	// The dropping connections are still open; the applications returned, so they close
	// normally.
	for _, c := range helds[held:] {
		code, _, data, err := readCloseFrame(c.conn, c.br)
		if err != nil || code != channels.CloseNormal || data != 0 {
			t.Fatalf("%s: close %d after %d data frames (%v), want 1000", c.path, code, data, err)
		}
	}
}
