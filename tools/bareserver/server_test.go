package bareserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gochannels/gochannels/tools/bareserver"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start serves a bare server on a loopback port until the test ends.
func start(t *testing.T, cfg bareserver.Config) (string, *bareserver.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	srv := bareserver.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), srv
}

// dial opens a WebSocket to room on addr; it is closed when the test ends.
func dial(t *testing.T, addr, room string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, _, err := ws.Dial(ctx, "ws://"+addr+"/ws/chat/"+room+"/")
	if err != nil {
		t.Fatalf("dial %s: %v", room, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if err := wsutil.WriteClientText(c, fmt.Appendf(nil, `{"message": %q}`, msg)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// recv reads one text message within 10s.
func recv(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := wsutil.ReadServerText(c)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return string(b)
}

// waitFor polls cond until it holds, failing after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBroadcastReachesEveryMemberOfTheRoomOnly(t *testing.T) {
	addr, srv := start(t, bareserver.Config{})
	a := []net.Conn{dial(t, addr, "a"), dial(t, addr, "a"), dial(t, addr, "a")}
	b := dial(t, addr, "b")
	waitFor(t, "4 connections", func() bool { return srv.Stats().Connections == 4 })

	send(t, a[1], "hello")
	for i, c := range a {
		if got := recv(t, c); got != `{"message":"hello"}` {
			t.Errorf("member %d of a got %s", i, got)
		}
	}
	// b heard nothing: the first frame it reads is its own message.
	send(t, b, "only b")
	if got := recv(t, b); got != `{"message":"only b"}` {
		t.Errorf("b got %s", got)
	}
	// Any JSON value is forwarded as it came (compacted).
	send2 := `{"message": {"n": [1, 2]}}`
	if err := wsutil.WriteClientText(a[0], []byte(send2)); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, a[2]); got != `{"message":{"n":[1,2]}}` {
		t.Errorf("object message: got %s", got)
	}
	st := srv.Stats()
	if st.Messages != 3 || st.Deliveries != 7 || st.SlowCloses != 0 {
		t.Errorf("stats %+v, want 3 messages, 7 deliveries, no slow closes", st)
	}
}

func TestEveryMemberGetsEverySendersMessagesInOrder(t *testing.T) {
	addr, _ := start(t, bareserver.Config{})
	const members, senders, perSender = 6, 3, 300
	conns := make([]net.Conn, members)
	for i := range conns {
		conns[i] = dial(t, addr, "order")
	}
	var wg sync.WaitGroup
	errs := make(chan error, members+senders)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := make([]int, senders)
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for range senders * perSender {
				b, err := wsutil.ReadServerText(c)
				if err != nil {
					errs <- fmt.Errorf("member %d: %w", i, err)
					return
				}
				var s, n int
				if _, err := fmt.Sscanf(string(b), `{"message":"%d-%d"}`, &s, &n); err != nil || n != next[s] {
					errs <- fmt.Errorf("member %d: got %s, want sender %d's message %d", i, b, s, next[s])
					return
				}
				next[s]++
			}
		}()
	}
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perSender {
				if err := wsutil.WriteClientText(conns[s], fmt.Appendf(nil, `{"message":"%d-%d"}`, s, n)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSlowClientIsClosedWith1008AndCounted(t *testing.T) {
	addr, srv := start(t, bareserver.Config{QueueBytes: 64 << 10})
	sender := dial(t, addr, "slow")
	slow := dial(t, addr, "slow") // never reads until its queue overflowed
	waitFor(t, "2 connections", func() bool { return srv.Stats().Connections == 2 })

	// The sender waits for each echo before its next message, so only the slow client falls
	// behind; it sends until the slow client's queue overflowed (its socket buffers fill
	// first), at most 20,000 messages of 4 KiB.
	big := strings.Repeat("x", 4<<10)
	for i := 0; srv.Stats().SlowCloses == 0; i++ {
		if i == 20000 {
			t.Fatal("no slow close after 20,000 messages")
		}
		send(t, sender, big)
		recv(t, sender)
	}
	// The slow client reads what was written before, then the close frame.
	_ = slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, err := wsutil.ReadServerText(slow)
		var ce wsutil.ClosedError
		if errors.As(err, &ce) {
			if ce.Code != ws.StatusPolicyViolation || ce.Reason != bareserver.ReasonSlowClient {
				t.Errorf("closed with %d %q, want 1008 %q", ce.Code, ce.Reason, bareserver.ReasonSlowClient)
			}
			break
		}
		if err != nil {
			t.Fatalf("slow client: %v before the close frame", err)
		}
	}
	waitFor(t, "the slow client gone", func() bool { return srv.Stats().Connections == 1 })
}

func TestRefusesOtherPathsAndBadMessages(t *testing.T) {
	addr, srv := start(t, bareserver.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, path := range []string{"/ws/chat/", "/ws/chat/a/b/", "/other/"} {
		if c, _, _, err := ws.Dial(ctx, "ws://"+addr+path); err == nil {
			c.Close()
			t.Errorf("%s: upgraded", path)
		}
	}
	c := dial(t, addr, "bad")
	if err := wsutil.WriteClientText(c, []byte(`{"text": "no message"}`)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if code, err := readClose(c); err != nil || code != ws.StatusInvalidFramePayloadData {
		t.Errorf("bad JSON: got close %d, %v; want a 1007 close", code, err)
	}
	// A ping over 125 bytes is a protocol error (1002), not a crash.
	c2 := dial(t, addr, "bad")
	if err := ws.WriteFrame(c2, ws.MaskFrame(ws.NewFrame(ws.OpPing, true, make([]byte, 200)))); err != nil {
		t.Fatal(err)
	}
	_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if code, err := readClose(c2); err != nil || code != ws.StatusProtocolError {
		t.Errorf("big ping: got close %d, %v; want a 1002 close", code, err)
	}
	waitFor(t, "bad requests counted", func() bool { return srv.Stats().BadRequests == 5 })
}

func TestPingIsAnswered(t *testing.T) {
	addr, _ := start(t, bareserver.Config{})
	c := dial(t, addr, "ping")
	if err := wsutil.WriteClientMessage(c, ws.OpPing, []byte("p1")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	msgs, err := wsutil.ReadServerMessage(c, nil)
	if err != nil || len(msgs) != 1 || msgs[0].OpCode != ws.OpPong || string(msgs[0].Payload) != "p1" {
		t.Errorf("got %v, %v; want a pong p1", msgs, err)
	}
}

func TestMetricsAndShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := bareserver.New(bareserver.Config{Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	addr := ln.Addr().String()
	c := dial(t, addr, "m")
	send(t, c, "x")
	recv(t, c)

	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"bare_messages_total 1\n", "bare_deliveries_total 1\n", "bare_slow_client_closes_total 0\n", "bare_connections 1\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if code, err := readClose(c); err != nil || code != ws.StatusGoingAway {
		t.Errorf("at shutdown: got close %d, %v; want a 1001 close", code, err)
	}
}

// readClose reads frames until the server's close frame and returns its code. It does not
// answer the close (wsutil's readers do, and that write can meet a socket the server has
// already shut, which would hide the code behind a broken pipe).
func readClose(c net.Conn) (ws.StatusCode, error) {
	for {
		h, err := ws.ReadHeader(c)
		if err != nil {
			return 0, err
		}
		if h.Length > 1<<20 {
			return 0, fmt.Errorf("a frame of %d bytes", h.Length)
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(c, payload); err != nil {
			return 0, err
		}
		if h.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(payload)
			return code, nil
		}
	}
}
