package worker_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/router"
	"github.com/gochannels/gochannels/worker"
)

// Adder is a background consumer: "task.add" messages call TaskAdd.
type Adder struct {
	consumer.Consumer
}

// TaskAdd prints the sum of the message's "a" and "b".
func (c *Adder) TaskAdd(ctx context.Context, msg channels.Message) error {
	a, _ := msg.Int("a")
	b, _ := msg.Int("b")
	fmt.Printf("%s: %d + %d = %d\n", c.Scope().Channel, a, b, a+b)
	return nil
}

func ExampleWorker() {
	ctx := context.Background()
	l := layers.NewMemory(layers.MemoryOptions{})
	defer l.Close()
	app := router.ChannelName{"background-tasks": consumer.New[Adder](consumer.WithLayer(l))}

	w := &worker.Worker{Layer: l, Application: app} // serves every channel app routes
	if err := w.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	// Anything holding the layer can send to the channel: a view, a consumer, another process.
	for i := 1; i <= 3; i++ {
		_ = l.Send(ctx, "background-tasks", channels.Message{"type": "task.add", "a": i, "b": 10 * i})
	}
	for deadline := time.Now().Add(5 * time.Second); w.Stats()["background-tasks"].Handled < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if err := w.Stop(ctx); err != nil {
		fmt.Println(err)
	}
	s := w.Stats()["background-tasks"]
	fmt.Printf("handled %d, failed %d, in flight %d\n", s.Handled, s.Failed, s.InFlight)
	// Output:
	// background-tasks: 1 + 10 = 11
	// background-tasks: 2 + 20 = 22
	// background-tasks: 3 + 30 = 33
	// handled 3, failed 0, in flight 0
}

// The whole of an application's cmd/runworker is a call to Main with a function that builds
// the application on the layer the command opens. Command (used here so that the example
// can show the output) is Main without the signals and the exit.
func ExampleMain() {
	newApp := func(l layers.Layer) channels.Application {
		return router.ChannelName{
			"background-tasks": consumer.New[Adder](consumer.WithLayer(l)),
			"thumbnails":       consumer.New[Adder](consumer.WithLayer(l)),
		}
	}
	// In cmd/runworker/main.go: func main() { worker.Main(newApp, worker.MainOptions{}) }
	code := worker.Command(context.Background(), newApp, []string{"-h"}, os.Stdout, worker.MainOptions{Name: "runworker"})
	fmt.Println("exit code", code)
	// Output:
	// Usage: runworker [flags] channel...
	//
	// Serves the application's background consumers on the named channels of the channel layer.
	//
	// Channels this application routes:
	//   background-tasks
	//   thumbnails
	//
	// Flags:
	//   -concurrency int
	//     	application instances per channel, each handling one message at a time (default 1)
	//   -layer string
	//     	channel layer URL (default $CHANNEL_LAYER_URL, else memory://, which serves only this process)
	//   -log-level string
	//     	log level: debug, info, warn or error (default "info")
	//   -stop-timeout duration
	//     	how long in-flight messages may take to finish at SIGINT/SIGTERM (default 10s)
	// exit code 0
}
