package main

import (
	"fmt"
	"time"
)

// result is one run of one workload by one side, measured the same way for both: ops
// measured operations (messages or group sends) after warmup unmeasured ones, timed from the
// start of the measured operations to the last delivery; expected deliveries (warm-up
// included) against those received, so that loss shows in every row.
type result struct {
	config       string // the channels_redis process layout; empty for gochannels
	ops          int
	sendErrors   int   // operations refused as over capacity (counted as lost deliveries too)
	expected     int64 // deliveries expected, warm-up included
	received     int64 // deliveries counted, warm-up included
	warmReceived int64 // of received, those counted by the end of the warm-up
	dur          time.Duration
	commands     float64 // Redis commands over the measured phase, all clients
}

func (r result) ok() bool { return r.dur > 0 }

func (r result) lost() int64 { return r.expected - r.received }

// opRate is measured operations per second.
func (r result) opRate() float64 {
	if !r.ok() {
		return 0
	}
	return float64(r.ops) / r.dur.Seconds()
}

// deliveryRate is measured deliveries per second.
func (r result) deliveryRate() float64 {
	if !r.ok() {
		return 0
	}
	return float64(r.received-r.warmReceived) / r.dur.Seconds()
}

func (r result) perOp() float64 {
	if r.ops == 0 {
		return 0
	}
	return r.commands / float64(r.ops)
}

// loss formats lost of expected deliveries ("-" when the side did not run).
func (r result) loss() string {
	if !r.ok() {
		return "-"
	}
	s := fmt.Sprintf("%d/%d", r.lost(), r.expected)
	if r.sendErrors > 0 {
		s += fmt.Sprintf(" (%d full)", r.sendErrors)
	}
	return s
}

// better reports whether r is a better channels_redis figure than o: lossless beats lossy,
// then the higher rate wins.
func (r result) better(o result) bool {
	if !o.ok() {
		return r.ok()
	}
	if (r.lost() == 0) != (o.lost() == 0) {
		return r.lost() == 0
	}
	return r.opRate() > o.opRate()
}
