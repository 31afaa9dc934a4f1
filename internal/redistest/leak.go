package redistest

import "go.uber.org/goleak"

// LeakOptions are the goleak options for a package whose tests run go-redis clients against
// servers that die or never listened. After a pool's dials keep failing, go-redis starts a
// dial prober that sleeps a second between probes and notices only after that sleep that
// its pool was closed, so it outlives a closed client by up to a second, on its own. goleak
// waits less than that, so these options pass over that one goroutine; every other goroutine
// still counts as a leak.
func LeakOptions() []goleak.Option {
	return []goleak.Option{goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial")}
}
