package redislayer_test

import (
	"fmt"
	"log"

	"github.com/gochannels/gochannels/layers/redislayer"
)

// Group sends to a Redis server that restarted wait for every process to rejoin its groups:
// at least RejoinGrace, all within SendTimeout counted from the start of the outage. Here a
// fleet whose processes are slow to reconnect gets a longer grace, and a longer bound to
// hold it.
func ExampleOptions_rejoinGrace() {
	opts, err := redislayer.ParseURL("redis://10.0.0.1:6379/0?rejoin_grace=2500ms&send_timeout=10")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(opts.RejoinGrace, opts.SendTimeout, redislayer.DefaultRejoinGrace)
	// Output:
	// 2.5s 10s 1s
}
