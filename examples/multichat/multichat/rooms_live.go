package multichat

import (
	"context"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// RoomsGroup is the channel-layer group every chat socket joins (on every process): room
// list changes are sent to it, and each socket forwards them to its client.
const RoomsGroup = "rooms"

// typeRoomCreated is the layer message a new room is announced with; ChatConsumer.RoomCreated
// handles it.
const typeRoomCreated = "room.created"

// announceTimeout bounds the announcement of a new room, which runs inside the creator's
// request.
const announceTimeout = 5 * time.Second

// announceRoom tells every connected user about a new room. Policy when the layer cannot carry
// it: the room exists and the creator is sent to it all the same; the failure is logged, and
// the other users see the room when their page next loads the list.
func (a *App) announceRoom(ctx context.Context, r Room) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	msg := channels.Message{"type": typeRoomCreated, "id": r.ID, "title": r.Title, "staff_only": r.StaffOnly}
	if err := a.layer.GroupSend(ctx, RoomsGroup, msg); err != nil {
		a.logger.Warn("multichat: new room not announced to connected users; they see it on reload",
			"room", r.ID, "title", r.Title, "error", err)
	}
}

// Groups puts every chat socket in RoomsGroup (joined before Connect, left when it ends).
func (c *ChatConsumer) Groups() []string { return []string{RoomsGroup} }

// RoomCreated forwards a new room to the client as {"room_created": {"id": N, "title": "…",
// "staff_only": false}}; a staff-only room reaches staff only.
func (c *ChatConsumer) RoomCreated(ctx context.Context, msg channels.Message) error {
	staffOnly, _ := msg["staff_only"].(bool)
	if staffOnly && (c.user == nil || !c.user.Staff) {
		return nil
	}
	id, _ := msg.Int("id")
	return c.SendJSON(ctx, map[string]any{"room_created": map[string]any{
		"id": id, "title": msg.String("title"), "staff_only": staffOnly,
	}})
}
