package loadtest

import (
	"context"
	"time"
)

// dispatch hands the intended send times start, start+interval, ... (before end) round-robin
// to queues, each when now() reaches it, until end or ctx is done. The timer is set to each
// next intended time (not a fixed tick), so dispatch is not late by a tick; whatever is due
// is handed out at once.
func dispatch(ctx context.Context, queues []chan time.Duration, start, end, interval time.Duration, now func() time.Duration) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := int64(0); ; {
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		t := now()
		for {
			intended := start + time.Duration(k)*interval
			if intended > t || intended >= end {
				break
			}
			select {
			case queues[k%int64(len(queues))] <- intended:
			case <-ctx.Done():
				return
			}
			k++
		}
		next := start + time.Duration(k)*interval
		if next >= end {
			return
		}
		timer.Reset(next - now())
	}
}
