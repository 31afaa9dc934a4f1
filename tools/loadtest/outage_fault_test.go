package loadtest

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/internal/redistest"
)

// outageFaultServer speaks examples/chat's protocol over real loopback WebSockets and makes
// the faults an outage makes, counting each: every errEvery-th message is answered with an
// error frame to its sender only (reaching nobody), every closeEvery-th (up to maxCloses)
// reaches the room and then its sender's socket is closed with 1011, and the handshake after
// each such close is refused with 503. Every dupEvery-th reaches the room twice, and after
// every foreignEvery-th the room gets a frame from a sender that does not exist and a
// malformed one.
type outageFaultServer struct {
	errEvery, closeEvery, maxCloses, dupEvery, foreignEvery int

	ln net.Listener
	wg sync.WaitGroup

	mu                            sync.Mutex
	rooms                         map[string]map[*outageFaultConn]bool
	n, errFrames, closes, refused int
	dups, foreign                 int // deliveries of duplicate copies, foreign frames sent
	refuseNext                    int
	done                          bool
}

type outageFaultConn struct {
	net.Conn
	room string
	wmu  sync.Mutex
}

func (c *outageFaultConn) write(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = wsutil.WriteServerText(c, b)
}

func startOutageFaultServer(t *testing.T, s *outageFaultServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.rooms = ln, map[string]map[*outageFaultConn]bool{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go s.serve(nc)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		s.done = true
		for _, m := range s.rooms {
			for c := range m {
				c.Close()
			}
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return "ws://" + ln.Addr().String()
}

func (s *outageFaultServer) serve(nc net.Conn) {
	defer s.wg.Done()
	defer nc.Close()
	c := &outageFaultConn{Conn: nc}
	up := ws.Upgrader{OnRequest: func(uri []byte) error {
		room, ok := strings.CutPrefix(string(uri), "/ws/chat/")
		if !ok {
			return ws.RejectConnectionError(ws.RejectionStatus(404))
		}
		c.room = strings.TrimSuffix(room, "/")
		return nil
	}, OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.done {
			return nil, ws.RejectConnectionError(ws.RejectionStatus(503))
		}
		if s.refuseNext > 0 {
			s.refuseNext--
			s.refused++
			return nil, ws.RejectConnectionError(ws.RejectionStatus(503))
		}
		if s.rooms[c.room] == nil {
			s.rooms[c.room] = map[*outageFaultConn]bool{}
		}
		s.rooms[c.room][c] = true
		return nil, nil
	}}
	defer func() {
		s.mu.Lock()
		delete(s.rooms[c.room], c)
		s.mu.Unlock()
	}()
	if _, err := up.Upgrade(nc); err != nil {
		return
	}
	for {
		msg, op, err := wsutil.ReadClientData(nc)
		if err != nil || !s.message(c, msg, op) {
			return
		}
	}
}

// message handles one client frame; false means the connection was closed.
func (s *outageFaultServer) message(c *outageFaultConn, msg []byte, op ws.OpCode) bool {
	if op != ws.OpText {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.n%s.errEvery == 0 {
		var in struct{ Message string }
		_ = json.Unmarshal(msg, &in)
		b, _ := json.Marshal(map[string]string{"error": "MESSAGE_NOT_DELIVERED", "message": in.Message})
		s.errFrames++
		c.write(b)
		return true
	}
	for m := range s.rooms[c.room] {
		m.write(msg)
		if s.n%s.dupEvery == 0 {
			m.write(msg)
			s.dups++
		}
		if s.n%s.foreignEvery == 0 {
			m.write([]byte(`{"message":"999999:1:1"}`))
			m.write([]byte(`{"nope":1}`))
			s.foreign += 2
		}
	}
	if s.n%s.closeEvery == 0 && s.closes < s.maxCloses {
		s.closes++
		s.refuseNext++
		delete(s.rooms[c.room], c)
		c.wmu.Lock()
		_ = ws.WriteFrame(c, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusInternalServerError, "boom")))
		c.wmu.Unlock()
		_ = c.Close()
		return false
	}
	return true
}

// TestOutageReportsFaults runs the outage mode against outageFaultServer (standing in for two
// chat processes) with a real redis-server killed and restarted, and checks that the report
// shows exactly the faults the server made: its error frames, the deliveries they cost as
// "sender told", its 1011 closes, duplicates and foreign frames; reconnects and 503 refusals
// at most as many as it made.
func TestOutageReportsFaults(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		redistest.SkipOrFail(t, "redis-server not found: install redis-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := &outageFaultServer{errEvery: 7, closeEvery: 10, maxCloses: 3, dupEvery: 11, foreignEvery: 13}
	url := startOutageFaultServer(t, srv)
	cl := &Cluster{log: quiet, dir: t.TempDir()}
	defer cl.Close()
	var err error
	if cl.LayerURL, err = cl.startRedis(ctx); err != nil {
		t.Fatal(err)
	}
	cl.URLs = []string{url, url} // two "processes"
	cfg := OutageConfig{
		Clients: 6, Rate: 600, Duration: 2 * time.Second, Drain: 2 * time.Second,
		KillAfter: 500 * time.Millisecond, Gap: 300 * time.Millisecond, Reconnect: 20 * time.Millisecond, Logger: quiet,
	}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	rep, err := newOutageRun(cfg, cl).run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	errFrames, closes, refused, dups, foreign := srv.errFrames, srv.closes, srv.refused, srv.dups, srv.foreign
	srv.mu.Unlock()

	var text strings.Builder
	_ = rep.WriteText(&text)
	t.Log("\n" + text.String())
	all := rep.Row(WindowWhole, -1)
	if errFrames == 0 || closes == 0 {
		t.Fatalf("the server made %d error frames and %d closes: the run was too short", errFrames, closes)
	}
	if all.ErrorFrames != int64(errFrames) || all.LostErrorFrame != int64(errFrames*rep.Clients) {
		t.Errorf("report: %d error frames costing %d deliveries; the server sent %d error frames (%d deliveries)",
			all.ErrorFrames, all.LostErrorFrame, errFrames, errFrames*rep.Clients)
	}
	if all.Closes["1011"] != int64(closes) || len(all.Closes) != 1 {
		t.Errorf("report: closes %v; the server closed %d with 1011", all.Closes, closes)
	}
	if all.Reconnects > int64(closes) || all.Refused["503"] > int64(refused) || len(all.Refused) > 1 {
		t.Errorf("report: %d reconnects, refusals %v; the server closed %d and refused %d", all.Reconnects, all.Refused, closes, refused)
	}
	if dups == 0 || foreign == 0 || all.Duplicates != int64(dups) || all.Foreign != int64(foreign) || all.Reordered != 0 {
		t.Errorf("report: %d duplicates, %d foreign, %d reordered; the server made %d, %d and none", all.Duplicates, all.Foreign, all.Reordered, dups, foreign)
	}
	for _, r := range rep.Rows {
		if r.Received+r.Lost != r.Expected || r.LostErrorFrame+r.LostDisconnected+r.LostSilent != r.Lost {
			t.Errorf("row %s/%d does not add up: %+v", r.Window, r.Process, r)
		}
	}
}
