package layers

import (
	"context"
	"flag"
	"log/slog"
)

// FlagName is the name of the flag every command reads its channel layer URL from.
const FlagName = "layer"

// URLFlag is a command's -layer flag: the URL of the channel layer it serves on, falling back
// to $CHANNEL_LAYER_URL and then to memory://. Flag defines it; ops.OpenLayer opens it with
// metrics, worker.Command without.
type URLFlag struct {
	value string
}

// Flag defines the -layer flag on fs, the same in every command, and returns it. Read it
// after fs is parsed.
func Flag(fs *flag.FlagSet) *URLFlag {
	f := &URLFlag{}
	fs.StringVar(&f.value, FlagName, "", "channel layer URL (default $"+EnvURL+", else memory://, which serves only this process)")
	return f
}

// URL returns the layer URL the command opens: the flag's value, else $CHANNEL_LAYER_URL,
// else "memory://" (see EnvURLOr). It may hold a password: log Redacted instead.
func (f *URLFlag) URL() string { return EnvURLOr(f.value) }

// Redacted returns URL with its secrets hidden (see Redact), for logs and messages.
func (f *URLFlag) Redacted() string { return Redact(f.URL()) }

// Open opens the layer the flag names and logs it, its URL redacted, on logger. First it
// routes the linked-in layer packages' own logs through logger too (UseSlog), so that the
// command writes one log stream.
func (f *URLFlag) Open(ctx context.Context, logger *slog.Logger) (Layer, error) {
	UseSlog(logger)
	l, err := Open(ctx, f.URL())
	if err != nil {
		return nil, err
	}
	logger.Info("channel layer", "url", f.Redacted())
	return l, nil
}
