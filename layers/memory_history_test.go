package layers_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gochannels/gochannels/channels"

	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/layertest"
)

// newMemoryLayer is the contract suites' factory for the memory layer.
func newMemoryLayer(t *testing.T, history []layers.HistoryRule) layers.Layer {
	l := layers.NewMemory(layers.MemoryOptions{History: history})
	t.Cleanup(func() { l.Close() })
	return l
}

func TestMemoryPresenceContract(t *testing.T) { layertest.Presence(t, newMemoryLayer) }

func TestMemoryHistoryContract(t *testing.T) { layertest.History(t, newMemoryLayer) }

func TestMemoryRecoverContract(t *testing.T) { layertest.Recover(t, newMemoryLayer) }

// BenchmarkMemoryGroupSendHistory: a GroupSend to a group of 10 Listen members, with history
// off and on (the cost of a position and a ring slot per message).
func BenchmarkMemoryGroupSendHistory(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("history=%v", on), func(b *testing.B) {
			var rules []layers.HistoryRule
			if on {
				rules = []layers.HistoryRule{{Pattern: "room", Size: 100}}
			}
			l := layers.NewMemory(layers.MemoryOptions{History: rules})
			defer l.Close()
			ctx := context.Background()
			for range 10 {
				ch, stop, err := l.Listen(ctx, "specific", func(channels.Message) bool { return true })
				if err != nil {
					b.Fatal(err)
				}
				defer stop()
				if err := l.GroupAdd(ctx, "room", ch); err != nil {
					b.Fatal(err)
				}
			}
			msg := channels.Message{"type": "chat.message", "text": "hello"}
			b.ReportAllocs()
			for b.Loop() {
				if err := l.GroupSend(ctx, "room", msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
