package multichat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// Who's online: every socket joins its rooms' groups with presence (the user's id and name),
// so that the members of a room can be listed from any process on the layer, and the
// layer's presence.join / presence.leave events are forwarded to the room's pages:
//
//	{"presence": "join"|"leave", "room": "<id>", "user_id": "<id>", "name": "<name>", "sid": "<socket>"}
//
// "sid" is a short digest of the socket's channel name (the page counts a user with two tabs
// once, and removes them when their last socket leaves); the join reply and the answer to
// {"command": "who", "room": "<id>"} carry the room's members, one per user:
//
//	{"who": "<id>", "members": [{"user_id": "<id>", "name": "<name>", "sids": ["<socket>", ...]}, ...]}

// MaxListedMembers bounds the members a join reply or a who answer lists (the count stays
// exact); a room with more shows the first ones by name.
const MaxListedMembers = 200

// member is one user in a room, with their sockets there.
type member struct {
	UserID string   `json:"user_id"`
	Name   string   `json:"name"`
	SIDs   []string `json:"sids"`
}

// socketID is the digest of a channel name shown to pages instead of the name itself.
func socketID(channel string) string {
	sum := sha256.Sum256([]byte("multichat-sid\x00" + channel))
	return hex.EncodeToString(sum[:6])
}

// joinRoomGroup adds the socket to the room's group with presence, or with GroupAdd when
// the layer keeps no presence (the room then shows no member list).
func (c *ChatConsumer) joinRoomGroup(ctx context.Context, id string) error {
	// The room is in the information too: the layer's events name the member, not the group.
	info := map[string]any{"user_id": c.user.ID(), "name": c.user.Name, "room": id}
	err := c.PresenceAdd(ctx, RoomGroup(id), info, layers.PresenceOptions{Events: true})
	if errors.Is(err, layers.ErrNotSupported) {
		return c.GroupAdd(ctx, RoomGroup(id))
	}
	return err
}

// roomMembers lists the room's members, one per user, sorted by name; nil (and no error)
// when the layer keeps no presence. total is the number of distinct users.
func (c *ChatConsumer) roomMembers(ctx context.Context, id string) (list []member, total int, err error) {
	ms, err := c.Presence(ctx, RoomGroup(id))
	if errors.Is(err, layers.ErrNotSupported) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	byUser := map[string]*member{}
	for _, m := range ms {
		uid, _ := m.Info["user_id"].(string)
		name, _ := m.Info["name"].(string)
		if uid == "" {
			continue // a member without presence information (not a chat socket)
		}
		u := byUser[uid]
		if u == nil {
			u = &member{UserID: uid, Name: name}
			byUser[uid] = u
		}
		u.SIDs = append(u.SIDs, socketID(m.Channel))
	}
	list = make([]member, 0, len(byUser))
	for _, u := range byUser {
		sort.Strings(u.SIDs)
		list = append(list, *u)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Name != list[j].Name {
			return list[i].Name < list[j].Name
		}
		return list[i].UserID < list[j].UserID
	})
	total = len(list)
	if len(list) > MaxListedMembers {
		list = list[:MaxListedMembers]
	}
	return list, total, nil
}

// addMembers puts the room's members into a join reply (leaves them out, logged, when the
// layer cannot list them: the chat works without).
func (c *ChatConsumer) addMembers(ctx context.Context, id string, reply map[string]any) {
	list, total, err := c.roomMembers(ctx, id)
	if err != nil {
		c.Logger().Warn("multichat: room members not listed", "room", id, "error", err)
		return
	}
	if list != nil {
		reply["members"], reply["member_count"] = list, total
	}
}

// who answers {"command": "who", "room": "<id>"} for a room the socket has joined.
func (c *ChatConsumer) who(ctx context.Context, raw []byte) error {
	id, ok := roomID(raw)
	if !ok {
		return c.sendError(ctx, ErrCodeRoomInvalid, string(raw), "")
	}
	if _, joined := c.rooms[id]; !joined {
		return c.sendError(ctx, ErrCodeRoomAccessDenied, id, "join the room to see who is in it")
	}
	list, total, err := c.roomMembers(ctx, id)
	if err != nil {
		return fmt.Errorf("multichat: members of room %s: %w", id, err)
	}
	if list == nil {
		list = []member{}
	}
	return c.SendJSON(ctx, map[string]any{"who": id, "members": list, "member_count": total})
}

// PresenceJoin forwards a layer presence.join event of one of the socket's rooms.
func (c *ChatConsumer) PresenceJoin(ctx context.Context, msg channels.Message) error {
	return c.forwardPresence(ctx, msg, "join")
}

// PresenceLeave forwards a layer presence.leave event of one of the socket's rooms.
func (c *ChatConsumer) PresenceLeave(ctx context.Context, msg channels.Message) error {
	return c.forwardPresence(ctx, msg, "leave")
}

func (c *ChatConsumer) forwardPresence(ctx context.Context, msg channels.Message, kind string) error {
	info, _ := msg["info"].(map[string]any)
	uid, _ := info["user_id"].(string)
	id, _ := info["room"].(string)
	if uid == "" || id == "" {
		return nil // not a chat socket's event
	}
	if _, joined := c.rooms[id]; !joined {
		return nil // left meanwhile
	}
	name, _ := info["name"].(string)
	ev := map[string]any{"presence": kind, "room": id, "user_id": uid, "name": name, "sid": socketID(msg.String("channel"))}
	return c.SendJSON(ctx, consumer.AddPosition(ev, msg))
}
