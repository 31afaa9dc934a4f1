package layertest

import (
	"testing"

	"github.com/gochannels/gochannels/layers"
)

// capableFunc makes a fresh layer for one test and gives it with one of its optional
// capabilities (layers.Historian, layers.Presencer).
type capableFunc[T any] func(t *testing.T) (layers.Layer, T)

// capability returns the capableFunc that makes layers with newLayer and rules and finds
// their capability with as; a layer without it fails the test, naming what it lacks.
func capability[T any](newLayer Factory, rules []layers.HistoryRule, as func(layers.Layer) (T, error), what string) capableFunc[T] {
	return func(t *testing.T) (layers.Layer, T) {
		t.Helper()
		l := newLayer(t, rules)
		c, err := as(l)
		if err != nil {
			t.Fatalf("the layer is no %s: %v", what, err)
		}
		return l, c
	}
}
