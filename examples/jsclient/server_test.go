package jsclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	gcjs "github.com/gochannels/gochannels/jsclient"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/router"
)

// streamName is the one stream (group) of the test server.
const streamName = "room"

// entry is one kept message of the stream.
type entry struct {
	offset int64
	text   string
}

// hub is the test server's state: the stream's kept messages and position, whether
// handshakes are refused (to make the client retry), and the resume parameters of the
// accepted connections.
type hub struct {
	layer layers.Layer
	down  atomic.Bool
	// release ends the wait of the frames {"wait": true}.
	release chan struct{}

	mu      sync.Mutex
	epoch   string
	epochs  int
	top     int64
	kept    []entry
	resumes []string // the raw ?resume= of each accepted connection, in order
}

func newHub(l layers.Layer) *hub {
	return &hub{layer: l, epoch: "e1", epochs: 1, release: make(chan struct{})}
}

// appendText adds text to the stream and sends it to the stream's group with its position,
// as a layer with history does.
func (h *hub) appendText(ctx context.Context, text string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.top++
	h.kept = append(h.kept, entry{offset: h.top, text: text})
	return h.layer.GroupSend(ctx, streamName, channels.Message{
		"type": "room.message", "text": text,
		layers.GroupKey: streamName, layers.OffsetKey: h.top, layers.EpochKey: h.epoch,
	})
}

// newEpoch loses the stream, as a Redis restarted without persistence would.
func (h *hub) newEpoch() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.epochs++
	h.epoch = "e" + strconv.Itoa(h.epochs)
	h.top, h.kept = 0, nil
}

// trim keeps only the last n messages.
func (h *hub) trim(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.kept) > n {
		h.kept = append([]entry(nil), h.kept[len(h.kept)-n:]...)
	}
}

func (h *hub) lastResume() (string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.resumes) == 0 {
		return "", 0
	}
	return h.resumes[len(h.resumes)-1], len(h.resumes)
}

// closeAll closes every connection with code and reason, through the group.
func (h *hub) closeAll(ctx context.Context, code int, reason string) error {
	return h.layer.GroupSend(ctx, streamName, channels.Message{"type": "control.close", "code": code, "reason": reason})
}

type hubKey struct{}

// resumePos is one stream's entry of ?resume=.
type resumePos struct {
	Offset int64  `json:"offset"`
	Epoch  string `json:"epoch"`
}

// posJSON is a frame's "pos".
type posJSON struct {
	Stream string `json:"stream"`
	Offset int64  `json:"offset"`
	Epoch  string `json:"epoch"`
}

// roomConsumer follows the client contract: frames of the stream carry "pos"; a connection
// with ?resume= gets what it missed, then "recovered" (or "unrecoverable"), then live
// messages, without duplicates. Its frames: {"say": t} appends t to the stream;
// {"refuse": true} is refused with a SendError; {"unavailable": true} with
// layers.ErrUnavailable; {"hold": true} closes the connection (1012) before any ack;
// {"wait": true} is acknowledged only once the test closes hub.release.
type roomConsumer struct {
	consumer.JSONWebsocketConsumer
	hub   *hub
	last  int64 // the offset of the last stream message sent to the client
	epoch string
}

var (
	_ consumer.Grouper      = (*roomConsumer)(nil)
	_ consumer.Connecter    = (*roomConsumer)(nil)
	_ consumer.JSONReceiver = (*roomConsumer)(nil)
)

func (c *roomConsumer) Groups() []string { return []string{streamName} }

func (c *roomConsumer) Connect(ctx context.Context) error {
	c.hub = c.Scope().Value(hubKey{}).(*hub)
	if c.hub.down.Load() {
		return consumer.ErrDeny
	}
	raw := ""
	var resume map[string]resumePos
	if q, err := url.ParseQuery(c.Scope().QueryString); err == nil && q.Has("resume") {
		raw = q.Get("resume")
		if err := json.Unmarshal([]byte(raw), &resume); err != nil {
			return fmt.Errorf("bad resume %q: %w", raw, err)
		}
	}
	if err := c.Accept(ctx); err != nil {
		return err
	}
	h := c.hub
	h.mu.Lock()
	h.resumes = append(h.resumes, raw)
	top, epoch := h.top, h.epoch
	kept := append([]entry(nil), h.kept...)
	h.mu.Unlock()
	c.epoch = epoch

	pos, ok := resume[streamName]
	if !ok {
		return nil // a fresh client: live messages only
	}
	topPos := posJSON{Stream: streamName, Offset: top, Epoch: epoch}
	c.last = top
	switch {
	case pos.Epoch != epoch:
		return c.SendJSON(ctx, map[string]any{"gochannels": "unrecoverable", "stream": streamName, "reason": "epoch", "pos": topPos})
	case pos.Offset < top && (len(kept) == 0 || kept[0].offset > pos.Offset+1):
		return c.SendJSON(ctx, map[string]any{"gochannels": "unrecoverable", "stream": streamName, "reason": "gap", "pos": topPos})
	}
	replayed := 0
	for _, e := range kept {
		if e.offset <= pos.Offset {
			continue
		}
		if err := c.SendJSON(ctx, map[string]any{"text": e.text, "pos": posJSON{streamName, e.offset, epoch}}); err != nil {
			return err
		}
		replayed++
	}
	return c.SendJSON(ctx, map[string]any{"gochannels": "recovered", "stream": streamName, "replayed": replayed, "pos": topPos})
}

func (c *roomConsumer) ReceiveJSON(ctx context.Context, content json.RawMessage) error {
	var in struct {
		Say         *string `json:"say"`
		Refuse      bool    `json:"refuse"`
		Unavailable bool    `json:"unavailable"`
		Hold        bool    `json:"hold"`
		Wait        bool    `json:"wait"`
	}
	if err := json.Unmarshal(content, &in); err != nil {
		return &consumer.SendError{Code: "bad_frame", Message: err.Error()}
	}
	switch {
	case in.Refuse:
		return &consumer.SendError{Code: "too_long", Message: "at most 10 characters", RetryAfter: 3 * time.Second}
	case in.Unavailable:
		return fmt.Errorf("group send: %w", layers.ErrUnavailable)
	case in.Hold:
		return &channels.CloseError{Code: channels.CloseServiceRestart, Reason: "restart"}
	case in.Wait:
		select { // acknowledged once the test releases it
		case <-c.hub.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	case in.Say != nil:
		return c.hub.appendText(ctx, *in.Say)
	}
	return nil
}

// RoomMessage forwards a stream message with its position, skipping those already replayed.
func (c *roomConsumer) RoomMessage(ctx context.Context, msg channels.Message) error {
	off, _ := msg[layers.OffsetKey].(int64)
	epoch := msg.String(layers.EpochKey)
	if epoch == c.epoch && off <= c.last {
		return nil // replayed at connect
	}
	c.epoch, c.last = epoch, off
	return c.SendJSON(ctx, map[string]any{"text": msg.String("text"), "pos": posJSON{streamName, off, epoch}})
}

// ControlClose closes the connection with the message's code and reason.
func (c *roomConsumer) ControlClose(ctx context.Context, msg channels.Message) error {
	code, _ := msg.Int("code")
	return c.CloseReason(ctx, code, msg.String("reason"))
}

// page is the test page: it imports the module and records everything it reports.
const page = `<!doctype html>
<meta charset="utf-8"><title>gochannels.js test</title>
<script type="module">
import { GoChannels, isPermanentClose } from "/gochannels.js";
window.isPermanentClose = isPermanentClose;
window.log = [];     // every event, in order
window.msgs = [];    // the data of the application messages
window.results = {}; // name -> outcome of an acked send
const types = ["state", "connecting", "open", "close", "retrying", "countdown", "failed", "message",
  "position", "recovered", "unrecoverable", "send", "framework"];
window.make = (opts, url = "/ws/") => {
  const gc = new GoChannels(url, opts);
  for (const t of types) gc.on(t, (e) => window.log.push({ type: t, detail: JSON.parse(JSON.stringify(e.detail ?? null)) }));
  gc.on("message", (e) => window.msgs.push(e.detail.data));
  window.gc = gc;
  return gc;
};
window.sendAcked = (name, obj) => {
  window.gc.send(obj, { ack: true }).then(
    (id) => { window.results[name] = { ok: true, id }; },
    (err) => { window.results[name] = { ok: false, id: err.id, code: err.code, message: err.message, retryAfter: err.retryAfter ?? null, name: err.name }; });
};
window.count = (type) => window.log.filter((e) => e.type === type).length;
window.ready = true;
</script>
`

// startServer runs the test server with the contract-following roomConsumer at /ws/ and
// returns its base URL and hub.
func startServer(t *testing.T) (string, *hub) {
	t.Helper()
	l := layers.NewMemory(layers.MemoryOptions{})
	t.Cleanup(func() { _ = l.Close() })
	h := newHub(l)
	ws := consumer.JSONWebsocket[roomConsumer](consumer.WithLayer(l), consumer.WithAcks())
	withHub := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		scope.Set(hubKey{}, h)
		return ws.Serve(ctx, scope, receive, send)
	})
	return serve(t, withHub), h
}

// serve runs a server on a loopback port: the module at /gochannels.js, the test page at /,
// and ws at /ws/. It returns the base URL.
func serve(t *testing.T, ws channels.Application) string {
	t.Helper()
	pageHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
	srv := &channels.Server{Application: router.ProtocolType{
		channels.ScopeHTTP: router.URL(
			router.Path(gcjs.Path, channels.FromHTTPHandler(gcjs.Handler())),
			router.Path("/", channels.FromHTTPHandler(pageHandler)),
		),
		channels.ScopeWebsocket: router.URL(router.Path("/ws/", ws)),
	}}
	return "http://" + channelstest.Serve(t, srv)
}
