package multichat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
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
// served by HistoryConsumer storing into store. Host it with RunBackground, or with a worker
// process (worker/runworker) by the channel names it answers to.
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

// RunBackground hosts app on the named normal channels of layer, in this process: one
// application instance per channel with a "channel" scope, fed by a goroutine that receives
// from the layer. It is the small in-process stand-in for the worker package; stop ends it and
// waits.
func RunBackground(ctx context.Context, layer layers.Layer, app channels.Application, logger *slog.Logger, names ...string) (stop func()) {
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, name := range names {
		mb := channels.NewMailbox(channels.DefaultMailboxCapacity)
		scope := &channels.Scope{Type: channels.ScopeChannel, Channel: name}
		wg.Add(2)
		go func() {
			defer wg.Done()
			noSend := channels.SendFunc(func(ctx context.Context, msg channels.Message) error {
				return fmt.Errorf("multichat: background consumer on %q cannot emit %q", name, msg.Type())
			})
			if err := app.Serve(ctx, scope, mb, noSend); err != nil && ctx.Err() == nil {
				logger.Error("multichat: background consumer ended", "channel", name, "error", err)
			}
		}()
		go func() {
			defer wg.Done()
			defer mb.Close(nil)
			backoff := 50 * time.Millisecond
			for {
				msg, err := layer.Receive(ctx, name)
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, layers.ErrLayerClosed) {
						return
					}
					logger.Warn("multichat: background receive failed; retrying", "channel", name, "error", err)
					select {
					case <-ctx.Done():
						return
					case <-time.After(backoff):
					}
					backoff = min(2*backoff, 2*time.Second)
					continue
				}
				backoff = 50 * time.Millisecond
				if err := mb.Put(ctx, msg); err != nil {
					return
				}
			}
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
}
