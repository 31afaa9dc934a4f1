package ops_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gochannels/gochannels/ops"
)

// ExampleMain is the whole main function of a gochannels command: the body gets a context
// that SIGINT or SIGTERM cancels, the arguments and a slog logger; -h and errors are handled.
func ExampleMain() {
	ops.Main("mychat", func(ctx context.Context, args []string, logger *slog.Logger) error {
		// Parse args into a flag.FlagSet (ops.Options.RegisterFlags, layers.Flag), open the
		// layer (ops.OpenLayer), then serve until ctx is done (ops.Serve).
		fmt.Println("serving until SIGTERM; context done:", ctx.Err() != nil)
		return nil
	})
	// Output:
	// serving until SIGTERM; context done: false
}
