package consumer

import (
	"context"
	"errors"
	"testing"

	"github.com/gochannels/gochannels/channels"
)

type counter struct {
	Consumer
	n int
}

func (c *counter) ChatMessage(ctx context.Context, msg channels.Message) error {
	c.n++
	return nil
}

func (c *counter) Boom(ctx context.Context, msg channels.Message) error { panic("boom") }

func TestDispatchCacheAndPanic(t *testing.T) {
	ti, err := lookupInfo[*counter](kindGeneric)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := lookupInfo[*counter](kindGeneric)
	if again != ti {
		t.Fatal("type info not cached")
	}
	c := &counter{}
	msg := channels.Message{"type": "chat.message"}
	for range 3 {
		if err := ti.dispatch(c, context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	if c.n != 3 {
		t.Fatalf("n = %d", c.n)
	}
	var pe *channels.PanicError
	if err := ti.dispatch(c, context.Background(), channels.Message{"type": "boom"}); !errors.As(err, &pe) || pe.Value != "boom" || len(pe.Stack) == 0 {
		t.Fatalf("panic: %v", err)
	}
	var nh *NoHandlerError
	for range 2 { // the second time from the cache
		err := ti.dispatch(c, context.Background(), channels.Message{"type": "x.y"})
		if !errors.As(err, &nh) || nh.Method != "XY" || !errors.Is(err, ErrNoHandler) {
			t.Fatalf("missing handler: %v", err)
		}
	}
	// The cache is bounded.
	for i := range 2 * maxCachedTypes {
		_, _ = ti.handler("t" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
	}
	if n := len(*ti.cache.Load()); n > maxCachedTypes {
		t.Fatalf("cache grew to %d", n)
	}
}

// BenchmarkDispatch measures finding and calling a handler for a message: a cached lookup by
// type and a call through a typed function value.
func BenchmarkDispatch(b *testing.B) {
	ti, err := lookupInfo[*counter](kindGeneric)
	if err != nil {
		b.Fatal(err)
	}
	c := &counter{}
	msg := channels.Message{"type": "chat.message", "text": "hi"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := ti.dispatch(c, ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}
