package layers_test

import (
	"testing"

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
