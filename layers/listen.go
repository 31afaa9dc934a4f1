package layers

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// Listen creates a new process-specific channel on l and hands each message sent to it to
// deliver, until stop is called. Layers that implement Listener do this from their one
// receive loop per process; for any other layer Listen runs a goroutine that calls Receive.
//
// deliver must not block; it returns false when it cannot take a message (the message is then
// dropped and, where the layer keeps statistics, counted).
func Listen(ctx context.Context, l Layer, prefix string, deliver func(channels.Message) bool) (channel string, stop func(), err error) {
	if ln, ok := l.(Listener); ok {
		return ln.Listen(ctx, prefix, deliver)
	}
	channel, err = l.NewChannel(ctx, prefix)
	if err != nil {
		return "", nil, err
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		backoff := 10 * time.Millisecond
		for {
			msg, err := l.Receive(loopCtx, channel)
			if err != nil {
				if loopCtx.Err() != nil || errors.Is(err, ErrLayerClosed) {
					return
				}
				// A failing layer (Redis away): wait before trying again, up to a second.
				select {
				case <-loopCtx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			backoff = 10 * time.Millisecond
			deliver(msg)
		}
	}()
	var once sync.Once
	return channel, func() { once.Do(func() { cancel(); <-done }) }, nil
}
