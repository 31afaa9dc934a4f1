package multichat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/router"
)

// HistoryChannel is the normal (not process-specific) channel the chat sockets send each
// message to, for the background consumer to store. With a Redis layer every process running
// a worker receives from it, and each message is received by exactly one of them.
const HistoryChannel = "multichat-history"

// HistorySaveType is the type of the messages on HistoryChannel ("history.save", handled by
// HistoryConsumer.HistorySave). Keys: "id", "room" (string), "user_id" (string), "username",
// "message", "ts" (Unix milliseconds).
const HistorySaveType = "history.save"

type storeKey struct{}

// HistoryConsumer is the background consumer that stores chat messages, off the sockets' hot
// path.
type HistoryConsumer struct {
	consumer.Consumer
}

// HistorySave stores one message sent by a chat socket. A malformed message is an error
// (logged by the consumer); it loses only itself.
func (h *HistoryConsumer) HistorySave(ctx context.Context, msg channels.Message) error {
	store, _ := h.Scope().Value(storeKey{}).(*Store)
	if store == nil {
		return errors.New("multichat: history consumer without a store in its scope")
	}
	room, err := strconv.ParseInt(msg.String("room"), 10, 64)
	if err != nil {
		return fmt.Errorf("multichat: history.save: bad room %q: %w", msg.String("room"), err)
	}
	uid, _ := strconv.ParseInt(msg.String("user_id"), 10, 64)
	ts, ok := msg.Int("ts")
	id := msg.String("id")
	if !ok || id == "" {
		return fmt.Errorf("multichat: history.save: message without id or ts: %v", msg)
	}
	return store.SaveMessage(ctx, ChatLine{
		MsgID: id, RoomID: room, UserID: uid, Username: msg.String("username"),
		Text: msg.String("message"), TS: int64(ts),
	})
}

// BackgroundApp returns the background application: a channel router with HistoryChannel,
// served by HistoryConsumer storing into store. Config.Worker hosts it in-process with the worker
// package; cmd/runworker hosts it in a process of its own.
func BackgroundApp(store *Store, logger *slog.Logger) channels.Application {
	if logger == nil {
		logger = slog.Default()
	}
	hist := consumer.New[HistoryConsumer](consumer.WithLogger(logger))
	withStore := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		scope.Set(storeKey{}, store)
		return hist.Serve(ctx, scope, receive, send)
	})
	return router.ChannelName{HistoryChannel: withStore}
}
