package multichat

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// Protocol limits.
const (
	// MaxMessageRunes is the longest chat message, in characters.
	MaxMessageRunes = 2000
	// MaxClientIDLen is the longest client_id a send command may carry.
	MaxClientIDLen = 64
	// HistoryLen is how many recent messages of a room arrive with its join reply.
	HistoryLen = 50
	// RatePerSecond and RateBurst are the token bucket every socket's commands draw from.
	RatePerSecond = 10
	RateBurst     = 20
)

// Message types of the multichat protocol (msg_type in events to the client).
const (
	MsgTypeMessage = 0
	MsgTypeEnter   = 4
	MsgTypeLeave   = 5
)

// Error codes sent as {"error": code}. The first three are the original protocol's.
const (
	ErrCodeRoomInvalid      = "ROOM_INVALID"
	ErrCodeRoomAccessDenied = "ROOM_ACCESS_DENIED"
	ErrCodeUserHasToLogin   = "USER_HAS_TO_LOGIN"
	ErrCodeMessageTooLong   = "MESSAGE_TOO_LONG"
	ErrCodeMessageEmpty     = "MESSAGE_EMPTY"
	ErrCodeRateLimited      = "RATE_LIMITED"
	ErrCodeBadCommand       = "BAD_COMMAND"
	// ErrCodeUnavailable answers a command the channel layer could not carry out (Redis
	// away for longer than the layer's send_timeout): nothing was sent, the socket stays
	// open, and the client may try again.
	ErrCodeUnavailable = "UNAVAILABLE"
)

// Layer message types the chat consumer handles.
const (
	typeChatMessage = "chat.message" // → ChatMessage: a message to a room group
	typeChatJoin    = "chat.join"    // → ChatJoin: a user entered a room
	typeChatLeave   = "chat.leave"   // → ChatLeave: a user left a room
	typeUserJoin    = "user.join"    // → UserJoin: one of the user's sockets joined a room
	typeUserLeave   = "user.leave"   // → UserLeave: one of the user's sockets left a room
	typeChatPong    = "chat.pong"    // → ChatPong: a ping's round trip through the layer
)

// RoomGroup is the group of a room's sockets: "room-<id>", as in the Django original.
func RoomGroup(roomID string) string { return "room-" + roomID }

// UserGroup is the group of one user's sockets (all tabs, all processes): the framework's
// auth.UserGroup, "user.<id>", joined by auth.UserGroups.Middleware for every socket.
func UserGroup(userID string) string { return auth.UserGroup(userID) }

// ChatConsumer is one chat socket at SocketPath, speaking the multichat protocol.
type ChatConsumer struct {
	consumer.JSONWebsocketConsumer
	app    *App
	user   *User
	rooms  map[string]Room // joined on this socket, by id
	bucket tokenBucket
	// clientID is the client_id of the command being run (one goroutine runs them all),
	// echoed in its error events.
	clientID string
	// replaying is true while a reconnecting page's missed messages are replayed
	// (enterSince): the user's own messages then carry their client_id (see ChatMessage).
	replaying bool
}

var _ consumer.Connecter = (*ChatConsumer)(nil)

// command is what a client sends.
type command struct {
	Command  string          `json:"command"`
	Room     json.RawMessage `json:"room"`
	Message  json.RawMessage `json:"message"`
	ClientID json.RawMessage `json:"client_id"`
	Since    json.RawMessage `json:"since"` // join: the last position the page saw (recovery.go)
}

// validClientID reports whether raw is absent (ok, "") or a JSON string of 1 to
// MaxClientIDLen characters from [A-Za-z0-9._:-].
func validClientID(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || s == "" || len(s) > MaxClientIDLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '.', b == '_', b == ':', b == '-':
		default:
			return "", false
		}
	}
	return s, true
}

// Connect accepts logged-in users (anonymous ones are refused by auth.RequireUser before
// this; the check here is a second line) and restores the rooms the user had open: since the
// position the page gives in ?resume= for a room's group (recovery.go), else with the
// archive's recent messages. The socket is already in the user's group
// (auth.UserGroups.Middleware).
func (c *ChatConsumer) Connect(ctx context.Context) error {
	c.app = appFrom(c.Scope())
	u, ok := userFrom(c.Scope())
	if c.app == nil || !ok {
		return fmt.Errorf("%w: %s", consumer.ErrDeny, ErrCodeUserHasToLogin)
	}
	c.user = u
	c.rooms = map[string]Room{}
	c.bucket = tokenBucket{rate: RatePerSecond, burst: RateBurst, tokens: RateBurst, last: time.Now()}
	if err := c.Accept(ctx); err != nil {
		return err
	}
	saved, err := c.app.store.UserRooms(ctx, u.UserID)
	if err != nil {
		c.Logger().Warn("multichat: could not restore the user's rooms", "user", u.Name, "error", err)
		return nil
	}
	resume := c.resumePositions() // the rooms' last positions, from a reconnecting page
	for _, r := range saved {
		if r.StaffOnly && !u.Staff {
			continue
		}
		if since, ok := resume[RoomGroup(r.StringID())]; ok {
			err = c.enterSince(ctx, r, since)
		} else {
			err = c.enter(ctx, r)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ReceiveJSON runs one client command.
func (c *ChatConsumer) ReceiveJSON(ctx context.Context, content json.RawMessage) error {
	var cmd command
	dec := json.NewDecoder(bytes.NewReader(content))
	if err := dec.Decode(&cmd); err != nil {
		return c.sendError(ctx, ErrCodeBadCommand, "", `want {"command": "join"|"leave"|"send"|"who", "room": "<id>", ...}`)
	}
	clientID, ok := validClientID(cmd.ClientID)
	if !ok {
		return c.sendError(ctx, ErrCodeBadCommand, string(cmd.Room),
			fmt.Sprintf(`"client_id" must be a string of 1 to %d characters from A-Z a-z 0-9 . _ : -`, MaxClientIDLen))
	}
	c.clientID = clientID
	defer func() { c.clientID = "" }()
	if !c.bucket.take(time.Now()) {
		return c.sendErrorEvent(ctx, ErrCodeRateLimited, string(cmd.Room),
			fmt.Sprintf("at most %d commands a second", RatePerSecond),
			map[string]any{"retry_after": retryAfter(c.bucket.wait())})
	}
	err := c.run(ctx, cmd)
	if errors.Is(err, layers.ErrUnavailable) {
		// One command the layer could not carry out need not cost the client its socket
		// (the consumer's policy would close it): it is told, and may send again.
		c.Logger().Warn("multichat: command not carried out: the channel layer is unavailable",
			"command", cmd.Command, "user", c.user.Name, "error", err)
		return c.sendError(ctx, ErrCodeUnavailable, string(cmd.Room), "the channel layer is unavailable; try again in a moment")
	}
	return err
}

// run carries out one command.
func (c *ChatConsumer) run(ctx context.Context, cmd command) error {
	switch cmd.Command {
	case "join":
		return c.join(ctx, cmd.Room, cmd.Since)
	case "leave":
		return c.leave(ctx, cmd.Room)
	case "who":
		return c.who(ctx, cmd.Room)
	case "send":
		return c.send(ctx, cmd.Room, cmd.Message)
	case "ping":
		// The answer goes through the channel layer and back, so a page learns whether the
		// server can carry its messages, not only whether its socket is open.
		pong := channels.Message{"type": typeChatPong}
		if c.clientID != "" {
			pong["client_id"] = c.clientID
		}
		return c.Send(ctx, c.ChannelName(), pong)
	}
	return c.sendError(ctx, ErrCodeBadCommand, "", fmt.Sprintf("unknown command %q (want join, leave, send, who or ping)", cmd.Command))
}

// roomID accepts a room id as a JSON string (the protocol) or number (lenient).
func roomID(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		s = n.String()
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return "", false
	}
	return strconv.FormatInt(id, 10), true
}

// lookup finds the room raw names and checks the user may enter it; code is the error to
// send otherwise.
func (c *ChatConsumer) lookup(ctx context.Context, raw json.RawMessage) (r Room, code string, err error) {
	id, ok := roomID(raw)
	if !ok {
		return Room{}, ErrCodeRoomInvalid, nil
	}
	n, _ := strconv.ParseInt(id, 10, 64)
	r, err = c.app.store.Room(ctx, n)
	if errors.Is(err, ErrRoomNotFound) {
		return Room{}, ErrCodeRoomInvalid, nil
	}
	if err != nil {
		return Room{}, "", err
	}
	if r.StaffOnly && !c.user.Staff {
		return Room{}, ErrCodeRoomAccessDenied, nil
	}
	return r, "", nil
}

func (c *ChatConsumer) join(ctx context.Context, raw, rawSince json.RawMessage) error {
	since, ok := parseSince(rawSince)
	if !ok {
		return c.sendError(ctx, ErrCodeBadCommand, string(raw), `"since" must be {"offset": <integer>, "epoch": "<string>"}`)
	}
	r, code, err := c.lookup(ctx, raw)
	if err != nil {
		return err
	}
	if code != "" {
		return c.sendError(ctx, code, string(raw), "")
	}
	added, err := c.app.store.AddUserRoom(ctx, c.user.UserID, r.ID)
	if err != nil {
		return err
	}
	if since != nil {
		err = c.enterSince(ctx, r, *since)
	} else {
		err = c.enter(ctx, r)
	}
	if err != nil {
		return err
	}
	if added {
		id := r.StringID()
		note := channels.Message{"type": typeChatJoin, "room": id, "username": c.user.Name}
		if err := c.GroupSend(ctx, RoomGroup(id), note); err != nil {
			return err
		}
		return c.GroupSend(ctx, UserGroup(c.user.ID()), channels.Message{"type": typeUserJoin, "room": id})
	}
	return nil
}

// enter joins the room's group (once, with presence) and sends the join reply with the
// room's history.
func (c *ChatConsumer) enter(ctx context.Context, r Room) error {
	id := r.StringID()
	if _, ok := c.rooms[id]; !ok {
		if err := c.joinRoomGroup(ctx, id); err != nil {
			return err
		}
		c.rooms[id] = r
	}
	return c.sendJoinReply(ctx, r)
}

// sendJoinReply sends the join reply: the room, its recent messages (joinhistory.go), its
// members (presence.go) and its current position, from which the page resumes.
func (c *ChatConsumer) sendJoinReply(ctx context.Context, r Room) error {
	id := r.StringID()
	history, top := c.recentMessages(ctx, r)
	if history == nil {
		history = []map[string]any{}
	}
	reply := map[string]any{"join": id, "title": r.Title, "staff_only": r.StaffOnly, "history": history}
	c.addMembers(ctx, id, reply)
	if top != nil {
		reply["pos"] = map[string]any{"stream": RoomGroup(id), "offset": top.Offset, "epoch": top.Epoch}
	}
	return c.SendJSON(ctx, reply)
}

func (c *ChatConsumer) leave(ctx context.Context, raw json.RawMessage) error {
	id, ok := roomID(raw)
	if !ok {
		return c.sendError(ctx, ErrCodeRoomInvalid, string(raw), "")
	}
	n, _ := strconv.ParseInt(id, 10, 64)
	if _, err := c.app.store.Room(ctx, n); err != nil {
		if errors.Is(err, ErrRoomNotFound) {
			return c.sendError(ctx, ErrCodeRoomInvalid, id, "")
		}
		return err
	}
	removed, err := c.app.store.RemoveUserRoom(ctx, c.user.UserID, n)
	if err != nil {
		return err
	}
	if removed {
		note := channels.Message{"type": typeChatLeave, "room": id, "username": c.user.Name}
		if err := c.GroupSend(ctx, RoomGroup(id), note); err != nil {
			return err
		}
		if err := c.GroupSend(ctx, UserGroup(c.user.ID()), channels.Message{"type": typeUserLeave, "room": id}); err != nil {
			return err
		}
	}
	return c.exit(ctx, id)
}

// exit leaves the room's group and tells the client.
func (c *ChatConsumer) exit(ctx context.Context, id string) error {
	if _, ok := c.rooms[id]; ok {
		delete(c.rooms, id)
		if err := c.GroupDiscard(ctx, RoomGroup(id)); err != nil {
			return err
		}
	}
	return c.SendJSON(ctx, map[string]any{"leave": id})
}

func (c *ChatConsumer) send(ctx context.Context, rawRoom, rawMsg json.RawMessage) error {
	id, ok := roomID(rawRoom)
	if !ok {
		return c.sendError(ctx, ErrCodeRoomInvalid, string(rawRoom), "")
	}
	if _, joined := c.rooms[id]; !joined {
		return c.sendError(ctx, ErrCodeRoomAccessDenied, id, "join the room before sending to it")
	}
	var text string
	if json.Unmarshal(rawMsg, &text) != nil {
		return c.sendError(ctx, ErrCodeBadCommand, id, `"message" must be a string`)
	}
	if strings.TrimSpace(text) == "" {
		return c.sendError(ctx, ErrCodeMessageEmpty, id, "the message is empty")
	}
	if utf8.RuneCountInString(text) > MaxMessageRunes {
		return c.sendError(ctx, ErrCodeMessageTooLong, id, fmt.Sprintf("a message has at most %d characters", MaxMessageRunes))
	}
	msgID := newMsgID()
	if c.clientID != "" {
		// A retry of a message that did arrive (its acknowledgement was lost with the
		// socket) gets the same id, so pages and the history keep it once.
		msgID = clientMsgID(c.user.ID(), c.clientID)
	}
	ts := time.Now().UnixMilli()
	out := channels.Message{
		"type": typeChatMessage, "room": id, "username": c.user.Name, "message": text, "id": msgID, "ts": ts,
	}
	if c.clientID != "" {
		// Only the socket that sent it gets the client_id back: that is its acknowledgement.
		out["client_id"] = c.clientID
		out["sender"] = c.ChannelName()
		out["sender_user"] = c.user.ID()
	}
	if err := c.GroupSend(ctx, RoomGroup(id), out); err != nil {
		return err
	}
	save := channels.Message{
		"type": HistorySaveType, "room": id, "user_id": c.user.ID(), "username": c.user.Name,
		"message": text, "id": msgID, "ts": ts,
	}
	if err := c.Send(ctx, HistoryChannel, save); err != nil {
		// The message reached the room; only its history entry is lost.
		c.Logger().Warn("multichat: message not queued for history", "room", id, "error", err)
	}
	return nil
}

// ChatMessage sends a room's message to the client (msg_type 0). The socket that sent it gets
// its client_id (the acknowledgement); so does a socket of the same user to which it is
// replayed after a reconnect, so that the page can match it with the message it shows as
// not sent, whose acknowledgement was lost with its previous socket.
func (c *ChatConsumer) ChatMessage(ctx context.Context, msg channels.Message) error {
	id := msg.String("room")
	if _, ok := c.rooms[id]; !ok {
		return nil // left meanwhile
	}
	ts, _ := msg.Int("ts")
	ev := map[string]any{
		"msg_type": MsgTypeMessage, "room": id, "username": msg.String("username"),
		"message": msg.String("message"), "id": msg.String("id"), "ts": ts,
	}
	if cid := msg.String("client_id"); cid != "" &&
		(msg.String("sender") == c.ChannelName() || (c.replaying && msg.String("sender_user") == c.user.ID())) {
		ev["client_id"] = cid
	}
	return c.SendJSON(ctx, consumer.AddPosition(ev, msg))
}

// ChatPong answers a ping: {"pong": true}, with the ping's client_id if it had one.
func (c *ChatConsumer) ChatPong(ctx context.Context, msg channels.Message) error {
	ev := map[string]any{"pong": true}
	if cid := msg.String("client_id"); cid != "" {
		ev["client_id"] = cid
	}
	return c.SendJSON(ctx, ev)
}

// ChatJoin tells the client a user entered a room (msg_type 4).
func (c *ChatConsumer) ChatJoin(ctx context.Context, msg channels.Message) error {
	return c.notice(ctx, msg, MsgTypeEnter)
}

// ChatLeave tells the client a user left a room (msg_type 5).
func (c *ChatConsumer) ChatLeave(ctx context.Context, msg channels.Message) error {
	return c.notice(ctx, msg, MsgTypeLeave)
}

func (c *ChatConsumer) notice(ctx context.Context, msg channels.Message, typ int) error {
	id := msg.String("room")
	if _, ok := c.rooms[id]; !ok {
		return nil
	}
	return c.SendJSON(ctx, consumer.AddPosition(map[string]any{"msg_type": typ, "room": id, "username": msg.String("username")}, msg))
}

// UserJoin follows a join made on another of the user's sockets.
func (c *ChatConsumer) UserJoin(ctx context.Context, msg channels.Message) error {
	id := msg.String("room")
	if _, ok := c.rooms[id]; ok {
		return nil
	}
	r, code, err := c.lookup(ctx, json.RawMessage(strconv.Quote(id)))
	if err != nil || code != "" {
		return err
	}
	return c.enter(ctx, r)
}

// UserLeave follows a leave made on another of the user's sockets.
func (c *ChatConsumer) UserLeave(ctx context.Context, msg channels.Message) error {
	id := msg.String("room")
	if _, ok := c.rooms[id]; !ok {
		return nil
	}
	return c.exit(ctx, id)
}

// sendError sends {"error": code} plus, as extensions, the room, a readable message (for
// developers: pages show their own sentence for the code) and the command's client_id.
func (c *ChatConsumer) sendError(ctx context.Context, code, room, text string) error {
	return c.sendErrorEvent(ctx, code, room, text, nil)
}

// sendErrorEvent is sendError with more keys (retry_after).
func (c *ChatConsumer) sendErrorEvent(ctx context.Context, code, room, text string, extra map[string]any) error {
	ev := map[string]any{"error": code}
	for k, v := range extra {
		ev[k] = v
	}
	if c.clientID != "" {
		ev["client_id"] = c.clientID
	}
	if room = strings.Trim(room, `"`); room != "" {
		if len(room) > 40 {
			room = room[:40]
		}
		ev["room"] = strings.ToValidUTF8(room, "")
	}
	if text != "" {
		ev["message"] = text
	}
	return c.SendJSON(ctx, ev)
}

// clientMsgID derives a message id from its sender and client_id (the same length as
// newMsgID's).
func clientMsgID(userID, clientID string) string {
	sum := sha256.Sum256([]byte("multichat-msg\x00" + userID + "\x00" + clientID))
	return hex.EncodeToString(sum[:9])
}

// retryAfter is wait in seconds, rounded up to the millisecond.
func retryAfter(wait time.Duration) float64 {
	return math.Ceil(wait.Seconds()*1000) / 1000
}

func newMsgID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// tokenBucket is a per-connection rate limit; the consumer uses it from one goroutine.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *tokenBucket) take(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// wait is how long after the last take until there is a token.
func (b *tokenBucket) wait() time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
