// Command runworker serves the example applications' background consumers on named channels
// of a channel layer, as Django's manage.py runworker does:
//
//	go run ./cmd/runworker -layer redis://localhost:6379/0 background-tasks
//	go run ./cmd/runworker -layer redis://localhost:6379/0 multichat-history
//
// The layer defaults to $CHANNEL_LAYER_URL. Run it with -h for the flags and the channels it
// routes:
//
//   - background-tasks: examples/background's task consumer;
//   - multichat-history: examples/multichat's history consumer, which stores chat messages in
//     the database named by $MULTICHAT_DB, an SQLite file or a postgres:// URL (default
//     multichat.db, as the multichat server's -db flag).
//
// SIGINT or SIGTERM stops it gracefully: no more messages are received, and those in flight
// get -stop-timeout to finish.
//
// This is the examples' worker, not a general one: it imports the examples, so it lives in its
// own module (github.com/gochannels/gochannels/cmd, beside the library's and the examples'
// modules) and a program that imports only the library never builds it. The reusable part is
// worker.Main; your own application's runworker is one call to it with your channels' routing:
//
//	func main() {
//		worker.Main(func(l layers.Layer) channels.Application {
//			return router.ChannelName{"thumbnails": thumbnails.NewConsumer(l)}
//		})
//	}
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/background/tasks"
	"github.com/gochannels/gochannels/examples/multichat/multichat"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer" // redis:// layer URLs
	"github.com/gochannels/gochannels/router"
	"github.com/gochannels/gochannels/worker"
)

func main() {
	worker.Main(newApplication, worker.MainOptions{Name: "runworker"})
}

// newApplication routes every example's background channels.
func newApplication(l layers.Layer) channels.Application {
	return router.ChannelName{
		tasks.Channel:            tasks.NewWorkerApplication(l),
		multichat.HistoryChannel: channels.ApplicationFunc(serveMultichatHistory),
	}
}

// serveMultichatHistory opens multichat's database for as long as the worker serves its
// history channel.
func serveMultichatHistory(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	path := os.Getenv("MULTICHAT_DB")
	if path == "" {
		path = "multichat.db"
	}
	store, err := multichat.OpenStore(ctx, path, 0)
	if err != nil {
		return fmt.Errorf("runworker: open the multichat database %q: %w", multichat.RedactDSN(path), err)
	}
	defer store.Close()
	return multichat.BackgroundApp(store, nil).Serve(ctx, scope, receive, send)
}
