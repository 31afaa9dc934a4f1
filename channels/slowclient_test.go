package channels_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
)

// Slow-client test configuration.
const (
	scReaders   = 100       // clients that read everything
	scSlow      = 100       // clients that never read
	scMessages  = 2000      // group messages broadcast
	scSize      = 1024      // bytes of text per message (1 KiB)
	scWindow    = 16        // messages the broadcast may run ahead of the slowest reader
	scQueue     = 64 << 10  // Server.OutboundQueueBytes
	scClientBuf = 4 << 10   // SO_RCVBUF of every slow client socket
	scServerBuf = 32 << 10  // SO_SNDBUF of the server's accepted sockets
	scRoom      = "sc-room" // the group
)

// sizeListener sets a small send buffer on every accepted connection, so that the kernel
// absorbs little of what a non-reading client is sent (Linux would otherwise grow a
// loopback socket's send buffer to about a megabyte) and the server's own queue is what
// fills. The connection keeps its *net.TCPConn type.
type sizeListener struct{ net.Listener }

func (l sizeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(scServerBuf)
	}
	return c, err
}

// TestSlowClientsAreClosedAndHeapStaysBounded broadcasts to one room holding clients that
// read and clients that never read: the readers get every message in order, the others are
// closed with 1008 "slow client", and the server's heap does not grow with what the
// non-readers fail to take.
func TestSlowClientsAreClosedAndHeapStaysBounded(t *testing.T) {
	if redistest.Short() { // never under CI=true
		t.Skip("slow-client test opens 200 connections and sends 2 MiB to each")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second) // safety net only
	defer cancel()

	layer := layers.NewMemory(layers.MemoryOptions{})
	defer layer.Close()

	// The consumer: join the room, forward each room message to the socket, and report the
	// code of the disconnect, by client kind (the path).
	var joined sync.WaitGroup
	joined.Add(scReaders + scSlow)
	codes := make(chan [2]string, scReaders+scSlow) // {path, code}
	app := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if m, err := receive.Receive(ctx); err != nil || m.Type() != channels.TypeWebsocketConnect {
			return fmt.Errorf("want websocket.connect, got %v, %w", m, err)
		}
		if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
			return err
		}
		inj := receive.(channels.Injector)
		name, stop, err := layers.Listen(ctx, layer, "specific", func(m channels.Message) bool { return inj.Inject(m) == nil })
		if err != nil {
			return err
		}
		defer stop()
		if err := layer.GroupAdd(ctx, scRoom, name); err != nil {
			return err
		}
		defer func() { _ = layer.GroupDiscard(context.WithoutCancel(ctx), scRoom, name) }()
		joined.Done()
		for {
			m, err := receive.Receive(ctx)
			if err != nil {
				codes <- [2]string{scope.Path, "receive error: " + err.Error()}
				return nil
			}
			switch m.Type() {
			case channels.TypeWebsocketDisconnect:
				code, _ := m.Int("code")
				codes <- [2]string{scope.Path, strconv.Itoa(code)}
				return nil
			case "room.message":
				// A failed send means the connection is closing: its disconnect follows.
				_ = send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": m.String("text")})
			}
		}
	})

	srv := &channels.Server{
		Application:        app,
		OutboundQueueBytes: scQueue,
		WriteTimeout:       time.Second,
		PingInterval:       -1,
		MailboxCapacity:    4 * scWindow,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sizeListener{ln}) }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) && err.Error() != "http: Server closed" {
			t.Errorf("Serve: %v", err)
		}
	}()
	addr := ln.Addr().String()

	// acked[i] counts the readers that got message i; done[i] closes when all have.
	acked := make([]atomic.Int32, scMessages)
	done := make([]chan struct{}, scMessages)
	for i := range done {
		done[i] = make(chan struct{})
	}
	readerFailed := make(chan error, scReaders)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var readersWG sync.WaitGroup
	for i := 0; i < scReaders; i++ {
		conn, br := dialWS(t, ctx, addr, "/read/", 0)
		conns = append(conns, conn)
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			if err := readAll(conn, br, acked, done); err != nil {
				readerFailed <- err
			}
		}()
	}
	slow := make([]net.Conn, 0, scSlow)
	slowBR := make([]*bufio.Reader, 0, scSlow)
	for i := 0; i < scSlow; i++ {
		conn, br := dialWS(t, ctx, addr, "/slow/", scClientBuf)
		conns = append(conns, conn)
		slow = append(slow, conn)
		slowBR = append(slowBR, br)
	}
	waitGroup(t, ctx, &joined, "consumers joining the room")

	runtime.GC()
	before := heapInuse()
	var peak uint64
	bcastStart := time.Now()

	// Broadcast, never more than scWindow messages ahead of the slowest reader.
	pad := strings.Repeat("x", scSize-7)
	for i := 0; i < scMessages; i++ {
		if i >= scWindow {
			select {
			case <-done[i-scWindow]:
			case err := <-readerFailed:
				t.Fatalf("a reader failed at message %d: %v", i, err)
			case <-ctx.Done():
				t.Fatalf("readers stalled before message %d: %v", i-scWindow, ctx.Err())
			}
		}
		text := fmt.Sprintf("%06d:%s", i, pad)
		if err := layer.GroupSend(ctx, scRoom, channels.Message{"type": "room.message", "text": text}); err != nil {
			t.Fatalf("GroupSend %d: %v", i, err)
		}
		if i%250 == 249 {
			runtime.GC()
			peak = max(peak, heapInuse())
		}
	}
	for i := max(0, scMessages-scWindow); i < scMessages; i++ {
		select {
		case <-done[i]:
		case err := <-readerFailed:
			t.Fatalf("a reader failed: %v", err)
		case <-ctx.Done():
			t.Fatalf("readers never got message %d: %v", i, ctx.Err())
		}
	}
	runtime.GC()
	peak = max(peak, heapInuse())
	readersWG.Wait()

	// Every non-reader was closed as slow (1008) while the readers were not: the server
	// reports each disconnect through the consumer.
	got := map[string]int{}
	for len(got) == 0 || got["/slow/ 1008"] < scSlow {
		select {
		case c := <-codes:
			if c[0] == "/read/" {
				t.Fatalf("a reader was disconnected during the broadcast: %s", c[1])
			}
			got[c[0]+" "+c[1]]++
			if c[1] != strconv.Itoa(int(channels.ClosePolicyViolation)) {
				t.Fatalf("a slow client was disconnected with %s, want %d (slow client)", c[1], channels.ClosePolicyViolation)
			}
		case <-ctx.Done():
			t.Fatalf("only %d of %d slow clients were closed: %v", got["/slow/ 1008"], scSlow, ctx.Err())
		}
	}

	// On the wire, a slow client finds what the kernel buffered, then the 1008 close frame
	// when it fitted in the socket, else the end of the connection; the kernel may take long
	// to deliver that end (retransmission backoff towards a zero window), so this is checked
	// for a while only: any close frame seen must say 1008.
	var frames, ended atomic.Int32
	var drains sync.WaitGroup
	for i, conn := range slow {
		drains.Add(1)
		go func() {
			defer drains.Done()
			code, closed, err := drainToClose(conn, slowBR[i], 3*time.Second)
			if err != nil {
				t.Errorf("slow client %d: %v", i, err)
			}
			if code != 0 {
				frames.Add(1)
			} else if closed {
				ended.Add(1)
			}
		}()
	}
	drains.Wait()
	elapsed := time.Since(bcastStart)

	// The live heap grew by at most what the bounded queues and the readers' windows can
	// hold (twice, for slack), plus a fixed margin; unbounded queues would hold about
	// scSlow*scMessages*scSize = 195 MiB.
	bound := uint64(2*(scSlow*scQueue+scReaders*scWindow*(scSize+16))) + 32<<20
	grown := uint64(0)
	if peak > before {
		grown = peak - before
	}
	t.Logf("broadcast and close: %v; heap in use: %d KiB before, peak %d KiB (+%d KiB, bound %d KiB); slow clients: %d saw the 1008 close frame, %d the end of the connection, %d nothing yet",
		elapsed.Round(time.Millisecond), before>>10, peak>>10, grown>>10, bound>>10, frames.Load(), ended.Load(), int32(scSlow)-frames.Load()-ended.Load())
	if grown > bound {
		t.Fatalf("heap grew by %d KiB during the broadcast, over the bound of %d KiB: outbound queues are not bounded", grown>>10, bound>>10)
	}
}

func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func waitGroup(t *testing.T, ctx context.Context, wg *sync.WaitGroup, what string) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("%s: %v", what, ctx.Err())
	}
}

// dialWS opens a WebSocket to path; rcvbuf > 0 shrinks the socket's receive buffer first.
func dialWS(t *testing.T, ctx context.Context, addr, path string, rcvbuf int) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := ws.Dialer{
		Timeout: 10 * time.Second,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			c, err := nd.DialContext(ctx, network, addr)
			if err == nil && rcvbuf > 0 {
				err = c.(*net.TCPConn).SetReadBuffer(rcvbuf)
			}
			return c, err
		},
	}
	conn, br, _, err := d.Dial(ctx, "ws://"+addr+path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	if br == nil {
		br = bufio.NewReaderSize(conn, 4096)
	}
	return conn, br
}

// readAll reads the broadcast in order: message i must start with its number.
func readAll(conn net.Conn, br *bufio.Reader, acked []atomic.Int32, done []chan struct{}) error {
	_ = conn.SetReadDeadline(time.Now().Add(110 * time.Second)) // safety net only
	buf := make([]byte, scSize)
	for want := 0; want < len(acked); want++ {
		h, err := ws.ReadHeader(br)
		if err != nil {
			return fmt.Errorf("read header of message %d: %w", want, err)
		}
		if h.OpCode != ws.OpText || !h.Fin || h.Length != scSize {
			return fmt.Errorf("message %d: frame %v fin=%v length %d, want a final text frame of %d bytes", want, h.OpCode, h.Fin, h.Length, scSize)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("read message %d: %w", want, err)
		}
		if got, err := strconv.Atoi(string(buf[:6])); err != nil || got != want {
			return fmt.Errorf("got message %q, want %d (out of order or lost)", buf[:6], want)
		}
		if acked[want].Add(1) == scReaders {
			close(done[want])
		}
	}
	return nil
}

// drainToClose reads a slow client's connection for at most d: it returns the code of a
// close frame, or closed when the connection ended without one. A close frame that is not
// 1008 is an error.
func drainToClose(conn net.Conn, br *bufio.Reader, d time.Duration) (code int, closed bool, err error) {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			var ne net.Error
			return 0, !(errors.As(err, &ne) && ne.Timeout()), nil
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			var ne net.Error
			return 0, !(errors.As(err, &ne) && ne.Timeout()), nil
		}
		if h.OpCode == ws.OpClose {
			if len(payload) < 2 {
				return 0, true, fmt.Errorf("close frame without a code")
			}
			code := int(binary.BigEndian.Uint16(payload))
			if code != channels.ClosePolicyViolation {
				return code, true, fmt.Errorf("close code %d (%q), want %d slow client", code, payload[2:], channels.ClosePolicyViolation)
			}
			return code, true, nil
		}
	}
}
