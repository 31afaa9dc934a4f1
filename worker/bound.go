package worker

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// errUnbound is returned by a boundLayer used before Command opened the real layer.
var errUnbound = errors.New("worker: the channel layer is not open yet (the application used it while being built)")

// boundLayer is the layer Command hands to NewApplication: it forwards to the real layer once
// that is open, so that the application can be built (and list its channels for -h) before
// the layer URL is even read.
type boundLayer struct {
	l atomic.Pointer[layers.Layer]
}

var (
	_ layers.Layer    = (*boundLayer)(nil)
	_ layers.Listener = (*boundLayer)(nil)
)

func (b *boundLayer) bind(l layers.Layer) { b.l.Store(&l) }

func (b *boundLayer) get() (layers.Layer, error) {
	p := b.l.Load()
	if p == nil {
		return nil, errUnbound
	}
	return *p, nil
}

func (b *boundLayer) Send(ctx context.Context, channel string, msg channels.Message) error {
	l, err := b.get()
	if err != nil {
		return err
	}
	return l.Send(ctx, channel, msg)
}

func (b *boundLayer) Receive(ctx context.Context, channel string) (channels.Message, error) {
	l, err := b.get()
	if err != nil {
		return nil, err
	}
	return l.Receive(ctx, channel)
}

func (b *boundLayer) NewChannel(ctx context.Context, prefix string) (string, error) {
	l, err := b.get()
	if err != nil {
		return "", err
	}
	return l.NewChannel(ctx, prefix)
}

func (b *boundLayer) GroupAdd(ctx context.Context, group, channel string) error {
	l, err := b.get()
	if err != nil {
		return err
	}
	return l.GroupAdd(ctx, group, channel)
}

func (b *boundLayer) GroupDiscard(ctx context.Context, group, channel string) error {
	l, err := b.get()
	if err != nil {
		return err
	}
	return l.GroupDiscard(ctx, group, channel)
}

func (b *boundLayer) GroupSend(ctx context.Context, group string, msg channels.Message) error {
	l, err := b.get()
	if err != nil {
		return err
	}
	return l.GroupSend(ctx, group, msg)
}

func (b *boundLayer) Flush(ctx context.Context) error {
	l, err := b.get()
	if err != nil {
		return err
	}
	return l.Flush(ctx)
}

// Close does nothing: Command closes the real layer.
func (b *boundLayer) Close() error { return nil }

// Listen forwards to the real layer's push delivery when it has one.
func (b *boundLayer) Listen(ctx context.Context, prefix string, deliver func(channels.Message) bool) (string, func(), error) {
	l, err := b.get()
	if err != nil {
		return "", nil, err
	}
	return layers.Listen(ctx, l, prefix, deliver)
}
