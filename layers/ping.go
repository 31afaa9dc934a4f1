package layers

import "context"

// Pinger is implemented by layers that can check their connection cheaply (the Redis layers).
type Pinger interface {
	Ping(ctx context.Context) error
}

// pingGroup is the group the fallback of Ping removes a channel from: a no-op write, since
// the channel is never a member.
const pingGroup = "gochannels.ping"

// Ping checks that l answers, bounded by ctx: with l.Ping when l is a Pinger, otherwise with
// a cheap round trip, GroupDiscard of a channel that is in no group. Readiness checks and
// start-up probes use it.
func Ping(ctx context.Context, l Layer) error {
	if p, ok := l.(Pinger); ok {
		return p.Ping(ctx)
	}
	return l.GroupDiscard(ctx, pingGroup, "ping")
}

// Unwrap returns the layer under wrappers that have an Unwrap() Layer method (such as the
// instrumented layer of ops.Metrics.InstrumentLayer), for type assertions on the layer
// itself.
func Unwrap(l Layer) Layer {
	for range 16 { // bounded, in case a wrapper returns itself
		u, ok := l.(interface{ Unwrap() Layer })
		if !ok {
			break
		}
		l = u.Unwrap()
	}
	return l
}
