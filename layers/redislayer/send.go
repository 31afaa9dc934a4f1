package redislayer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Send puts msg on channel. For a process-specific channel the message goes to the process
// inbox with __asgi_channel__ naming the channel. The trim, capacity check, add and TTL refresh
// are one atomic script call; a full channel is an error wrapping layers.ErrChannelFull.
func (l *Layer) Send(ctx context.Context, channel string, msg channels.Message) error {
	if l.closed.Load() {
		return l.closedErr("send")
	}
	if err := layers.ValidateChannelName(channel); err != nil {
		return fmt.Errorf("redislayer: send: %w", err)
	}
	if err := layers.CheckMessage(msg); err != nil {
		return fmt.Errorf("redislayer: send to %q: %w", channel, err)
	}
	key, idx, specific := l.target(channel, true)
	var ch any
	if specific {
		ch = channel
	}
	m, err := l.member(msg, ch)
	if err != nil {
		return fmt.Errorf("redislayer: send to %q: %w", channel, err)
	}
	if err := l.pipeBarrier(ctx, "send to "+strconv.Quote(channel)); err != nil {
		return err
	}
	now := time.Now()
	capacity := l.capacity(channel, specific)
	sc, trim := l.pipeScore(now), now.Unix()-l.expiry
	var added int
	err = l.outage.do(ctx, func(ctx context.Context) (err error) {
		added, err = sendScript.Run(ctx, l.shards[idx].client, []string{key}, m, sc, l.expiry, capacity, trim).Int()
		return err
	})
	if err != nil {
		return l.redisErr("send to "+strconv.Quote(channel), err)
	}
	if added == 0 {
		return fmt.Errorf("redislayer: send to %q: %w (capacity %d)", channel, layers.ErrChannelFull, capacity)
	}
	l.st.sent.Add(1)
	return nil
}
