// Command runworker serves the example applications' background consumers on named channels
// of a channel layer, as Django's manage.py runworker does:
//
//	go run ./cmd/runworker -layer redis://localhost:6379/0 background-tasks
//
// The layer defaults to $CHANNEL_LAYER_URL. Run it with -h for the flags and the channels it
// routes. SIGINT or SIGTERM stops it gracefully: no more messages are received, and those in
// flight get -stop-timeout to finish.
package main

import (
	"github.com/gochannels/gochannels/examples/background/tasks"
	_ "github.com/gochannels/gochannels/layers/redislayer" // redis:// layer URLs
	"github.com/gochannels/gochannels/worker"
)

func main() {
	worker.Main(tasks.NewWorkerApplication, worker.WithName("runworker"))
}
