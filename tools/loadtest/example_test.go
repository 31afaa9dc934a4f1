package loadtest_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gochannels/gochannels/tools/loadtest"
)

func ExampleHistogram() {
	var h loadtest.Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	fmt.Println("count:", h.Count())
	fmt.Println("p50:", h.Percentile(50).Round(10*time.Millisecond))
	fmt.Println("p99:", h.Percentile(99).Round(10*time.Millisecond))
	fmt.Println("max:", h.Max())
	// Output:
	// count: 1000
	// p50: 500ms
	// p99: 990ms
	// max: 1s
}

func ExampleDialer_SourceAddr() {
	d := loadtest.Dialer{PerSource: 5000}
	for _, i := range []int{0, 4999, 5000, 1_300_000} {
		fmt.Println(i, d.SourceAddr(i))
	}
	// Output:
	// 0 127.0.0.2
	// 4999 127.0.0.2
	// 5000 127.0.0.3
	// 1300000 127.0.1.6
}

// RunOutage starts two chat processes on a private redis-server, kills and restarts it under
// a load of 2,000 deliveries per second, and reports the loss per window and process.
func ExampleRunOutage() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := loadtest.RunOutage(ctx, loadtest.OutageConfig{
		Clients: 100, Rate: 2000, Warmup: 2 * time.Second, Duration: 10 * time.Second, Drain: 5 * time.Second,
		Gap: 1500 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = rep.WriteText(os.Stdout)
	if r := rep.Row(loadtest.WindowOutage, -1); r != nil {
		fmt.Println("lost during the outage:", r.Lost, "of", r.Expected)
	}
}
