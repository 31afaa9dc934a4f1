package redislayer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Receive takes the next message from channel.
//
// A normal channel is popped from Redis (BZPOPMIN; with several shards, each in turn): each
// message goes to exactly one of its readers, in any process, Go or Python. Delivery is at
// most once: a message popped by a reader that then fails is not redelivered, and no
// "$inflight" copy is kept.
//
// A process-specific channel must belong to this layer (made by NewChannel); its messages
// arrive through the inbox's receive loop and wait in a bounded local buffer.
func (l *Layer) Receive(ctx context.Context, channel string) (channels.Message, error) {
	if l.closed.Load() {
		return nil, l.closedErr("receive")
	}
	if err := layers.ValidateChannelName(channel); err != nil {
		return nil, fmt.Errorf("redislayer: receive: %w", err)
	}
	if inbox, _, ok := layers.SplitProcessSpecific(channel); ok {
		return l.receiveLocal(ctx, inbox, channel)
	}
	return l.receiveNormal(ctx, channel)
}

func (l *Layer) receiveLocal(ctx context.Context, inbox, channel string) (channels.Message, error) {
	if !l.ownInbox(inbox) {
		return nil, fmt.Errorf("redislayer: receive on %q: %w: the channel belongs to another process (its messages go to that process's inbox)", channel, layers.ErrInvalidName)
	}
	if err := l.ensureInbox(inbox); err != nil {
		return nil, err
	}
	lc, err := l.buffer(channel)
	if err != nil {
		return nil, err
	}
	msg, err := lc.Receive(ctx)
	if err != nil {
		if errors.Is(err, channels.ErrClosed) {
			return nil, l.closedErr("receive")
		}
		return nil, err
	}
	return msg, nil
}

func (l *Layer) receiveNormal(ctx context.Context, channel string) (channels.Message, error) {
	key := l.prefix + channel
	n := len(l.shards)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if l.closed.Load() {
			return nil, l.closedErr("receive")
		}
		start := int(l.recvRR.Add(1)-1) % n
		var member string
		var found bool
		var err error
		if n > 1 {
			// Several shards: take what is waiting anywhere, else block briefly on one.
			for i := 0; i < n && !found && err == nil; i++ {
				member, found, err = popNow(ctx, l.shards[(start+i)%n].client, key)
			}
		}
		if !found && err == nil {
			block := receiveBlock
			if n > 1 {
				block = receiveBlock / time.Duration(n)
			}
			member, found, err = popBlocking(ctx, l.shards[start].client, key, block)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, l.redisErr("receive on "+strconv.Quote(channel), err)
		}
		if !found {
			continue
		}
		l.st.received.Add(1)
		msg, err := l.decodeMember(member)
		if err != nil {
			l.st.undecodable.Add(1)
			l.log.Error("dropping undecodable message", "channel", channel, "error", err)
			continue
		}
		delete(msg, channelKey)
		return msg, nil
	}
}

// popNow pops the oldest member of key without blocking.
func popNow(ctx context.Context, c redis.UniversalClient, key string) (string, bool, error) {
	zs, err := c.ZPopMin(ctx, key, 1).Result()
	if err != nil || len(zs) == 0 {
		return "", false, err
	}
	s, _ := zs[0].Member.(string)
	return s, true, nil
}

// popBlocking runs BZPOPMIN for at most block, shortened so that Redis answers before ctx's
// deadline (a reply lost to a deadline would be a lost message).
func popBlocking(ctx context.Context, c redis.UniversalClient, key string, block time.Duration) (string, bool, error) {
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl) - blockMargin
		if left < 10*time.Millisecond {
			return popNow(ctx, c, key)
		}
		block = min(block, left)
	}
	res, err := c.Do(ctx, "bzpopmin", key, strconv.FormatFloat(block.Seconds(), 'f', 3, 64)).Slice()
	if err == redis.Nil {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if len(res) != 3 {
		return "", false, fmt.Errorf("unexpected BZPOPMIN reply of %d elements", len(res))
	}
	s, ok := res[1].(string)
	if !ok {
		return "", false, fmt.Errorf("unexpected BZPOPMIN member of type %T", res[1])
	}
	return s, true, nil
}
