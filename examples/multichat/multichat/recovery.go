package multichat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// Catch-up after a reconnect, through the channel layer's history. The rooms' groups keep
// their last messages (RoomHistoryRule, set on the layer's URL); every event of a room group
// carries its position, "pos": {"stream": "room-<id>", "offset": <n>, "epoch": "<e>"}, and so
// does the join reply (the room's top). A page that lost its socket reconnects with the last
// position it saw per room, as the framework's resume parameter (consumer.ResumeParam; the
// browser module gochannels.js sends it by itself):
//
//	/chat/stream/?resume={"room-<id>": {"offset": <n>, "epoch": "<e>"}, ...}
//
// and the server restores each of the user's rooms since its position: it replays exactly
// the messages after it, in order, then sends {"gochannels": "recovered", "stream":
// "room-<id>", "replayed": <n>, "pos": {...}} and a join reply with "resumed": true (no
// archive history: the page keeps its messages). When the messages cannot be replayed (the
// layer restarted: another epoch; or more were missed than the history keeps) it sends
// {"gochannels": "unrecoverable", ...} followed by the usual join reply with the room's recent
// messages from the SQLite archive. A join command may carry the position too:
//
//	{"command": "join", "room": "<id>", "since": {"offset": <n>, "epoch": "<e>"}}

// RoomHistoryRule is the layer history rule for the rooms' groups (see
// layers.ParseHistoryRules): the last 100 messages of each room, for an hour.
const RoomHistoryRule = "room-*:100:3600"

// WithRoomHistory returns the channel layer URL rawURL with RoomHistoryRule added as its
// history parameter, unless it has one already (which then decides). The memory and Redis
// layers keep history (memory://, redis://, rediss://); other URLs (redis+pubsub://, which
// keeps none) and those that cannot be parsed are returned unchanged: without history the
// chat works as before, and a reconnecting page reloads its rooms from the archive.
func WithRoomHistory(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "memory" && u.Scheme != "redis" && u.Scheme != "rediss") {
		return rawURL
	}
	q := u.Query()
	if q.Has("history") {
		return rawURL
	}
	sep := "&"
	if u.RawQuery == "" {
		sep = "?"
		if strings.HasSuffix(rawURL, "?") {
			sep = ""
		}
	}
	return rawURL + sep + "history=" + RoomHistoryRule
}

// resumePositions returns the positions the page gave in ?resume= (consumer.ResumePositions),
// by group. A parameter that cannot be parsed is logged and ignored: the rooms are then
// restored with the archive's recent messages, as for a first connection.
func (c *ChatConsumer) resumePositions() map[string]layers.Position {
	pos, err := consumer.ResumePositions(c.Scope())
	if err != nil {
		c.Logger().Warn("multichat: resume parameter ignored", "user", c.user.Name, "error", err)
		return nil
	}
	return pos
}

// parseSince reads a join command's "since": absent (ok, nil) or {"offset": <n>, "epoch": "<e>"}.
func parseSince(raw json.RawMessage) (*layers.Position, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	var p struct {
		Offset json.RawMessage `json:"offset"`
		Epoch  *string         `json:"epoch"`
	}
	if json.NewDecoder(bytes.NewReader(raw)).Decode(&p) != nil || p.Epoch == nil || len(*p.Epoch) > 128 {
		return nil, false
	}
	off, err := strconv.ParseUint(string(p.Offset), 10, 64)
	if err != nil || (off > 0 && *p.Epoch == "") {
		return nil, false
	}
	return &layers.Position{Offset: off, Epoch: *p.Epoch}, true
}

// enterSince joins the room for a page that saw its messages up to since: the missed ones
// are replayed, then the outcome and the join reply are sent (see above). A room the socket
// is in already (restored at connect) gets the usual join reply.
func (c *ChatConsumer) enterSince(ctx context.Context, r Room, since layers.Position) error {
	id := r.StringID()
	if _, ok := c.rooms[id]; ok {
		return c.enter(ctx, r)
	}
	if err := c.joinRoomGroup(ctx, id); err != nil {
		return err
	}
	c.rooms[id] = r // before the replay: events are forwarded for joined rooms only
	c.replaying = true
	rec, err := c.GroupAddSince(ctx, RoomGroup(id), since)
	c.replaying = false
	if errors.Is(err, layers.ErrNotSupported) {
		rec, err = consumer.Recovery{Group: RoomGroup(id), Reason: layers.ReasonEpoch}, nil
	}
	if err != nil {
		return err
	}
	if err := c.SendRecovery(ctx, rec); err != nil {
		return err
	}
	if !rec.Recovered {
		c.Logger().Info("multichat: missed messages not recoverable; the page reloads the room", "room", id, "reason", rec.Reason)
		return c.sendJoinReply(ctx, r)
	}
	reply := map[string]any{"join": id, "title": r.Title, "staff_only": r.StaffOnly, "resumed": true}
	c.addMembers(ctx, id, reply)
	return c.SendJSON(ctx, reply)
}
