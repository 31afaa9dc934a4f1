package multichat

import (
	"context"
	"errors"
	"sort"

	"github.com/gochannels/gochannels/layers"
)

// recentMessages returns a room's last HistoryLen chat messages for its join reply, oldest
// first, and the room's current position (nil when the layer keeps no history for it).
//
// They come from the framework's history of the room's group (RoomHistoryRule: the last 100
// group messages of the hour, one layer call, which also gives the position). The archive
// (Store.History) is read only when that history holds fewer than HistoryLen chat messages:
// a room quiet for longer than the rule's hour, a Redis restarted without persistence (a new
// epoch), a layer without history, or a young room. Its lines fill in the older part, each
// message once (by its id).
func (c *ChatConsumer) recentMessages(ctx context.Context, r Room) ([]map[string]any, *layers.Position) {
	id := r.StringID()
	var out []map[string]any
	var top *layers.Position
	page, err := layers.History(ctx, c.app.layer, RoomGroup(id), layers.Position{}, 0)
	switch {
	case err == nil:
		if page.Top.Epoch != "" {
			top = &page.Top
		}
		for _, m := range page.Messages {
			if m.Type() != typeChatMessage {
				continue // notices and presence events: the join reply lists messages only
			}
			ts, _ := m.Int("ts")
			out = append(out, map[string]any{
				"msg_type": MsgTypeMessage, "room": id, "username": m.String("username"),
				"message": m.String("message"), "id": m.String("id"), "ts": int64(ts),
			})
		}
	case !errors.Is(err, layers.ErrNotSupported):
		c.Logger().Warn("multichat: room history not available from the layer", "room", id, "error", err)
	}
	if len(out) >= HistoryLen {
		return out[len(out)-HistoryLen:], top
	}
	lines, err := c.app.store.History(ctx, r.ID, HistoryLen)
	if err != nil {
		c.Logger().Warn("multichat: archive not available", "room", id, "error", err)
		return out, top
	}
	seen := make(map[string]bool, len(out))
	for _, m := range out {
		seen[m["id"].(string)] = true
	}
	for _, l := range lines {
		if seen[l.MsgID] {
			continue
		}
		out = append(out, map[string]any{
			"msg_type": MsgTypeMessage, "room": id, "username": l.Username, "message": l.Text, "id": l.MsgID, "ts": l.TS,
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i]["ts"].(int64) < out[j]["ts"].(int64) })
	if len(out) > HistoryLen {
		out = out[len(out)-HistoryLen:]
	}
	return out, top
}
