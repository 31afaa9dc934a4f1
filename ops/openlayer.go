package ops

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gochannels/gochannels/layers"
)

// OpenLayer opens the channel layer a command's -layer flag names (define it with
// layers.Flag) the way every gochannels command does: layers.URLFlag.Open logs the URL,
// redacted, and routes the layer packages' own logs (go-redis's) through logger; then, when m
// is not nil, the layer is instrumented (Metrics.InstrumentLayer) and its own counters
// exported (Metrics.WatchLayer; a layer without them is logged as a warning). Close the
// returned layer when done.
func OpenLayer(ctx context.Context, f *layers.URLFlag, m *Metrics, logger *slog.Logger) (layers.Layer, error) {
	l, err := f.Open(ctx, logger)
	if err != nil {
		return nil, fmt.Errorf("open the channel layer: %w", err)
	}
	if m == nil {
		return l, nil
	}
	l = m.InstrumentLayer(l)
	if err := m.WatchLayer(l); err != nil {
		logger.Warn("no layer statistics in /metrics", "error", err)
	}
	return l, nil
}
