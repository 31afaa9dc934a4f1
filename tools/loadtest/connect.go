package loadtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ConnectConfig describes a handshake-rate measurement.
type ConnectConfig struct {
	// URLs are the servers' base WebSocket URLs; handshakes go round-robin over them.
	URLs []string
	// Total is the number of handshakes (K), Concurrency the number of dialers (C).
	Total, Concurrency int
	// Rooms spreads the connections over this many rooms (default 1).
	Rooms int
	// Dialer opens the sockets.
	Dialer Dialer
}

// ConnectReport is the outcome of RunConnect.
type ConnectReport struct {
	Servers       []string `json:"servers"`
	Layer         string   `json:"layer,omitempty"`
	Handshakes    int      `json:"handshakes"`
	Failed        int64    `json:"failed"`
	Concurrency   int      `json:"concurrency"`
	Seconds       float64  `json:"seconds"`
	PerSec        float64  `json:"handshakes_per_sec"`
	HandshakeTime Latency  `json:"handshake_time"`
	FirstError    string   `json:"first_error,omitempty"`
}

// RunConnect opens and completes Total WebSocket handshakes, at most Concurrency at a time,
// closing each (with a close frame) as soon as it is open, and reports handshakes per second
// and the handshake time (TCP connect to 101 response) percentiles.
func RunConnect(ctx context.Context, cfg ConnectConfig) (*ConnectReport, error) {
	if len(cfg.URLs) == 0 || cfg.Total < 1 || cfg.Concurrency < 1 {
		return nil, fmt.Errorf("loadtest: connect mode needs URLs, a total and a concurrency (got %d URLs, %d, %d)", len(cfg.URLs), cfg.Total, cfg.Concurrency)
	}
	rooms := max(cfg.Rooms, 1)
	prefix := RoomPrefix()
	var hist Histogram
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(cfg.Concurrency, cfg.Total) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.Total {
					return
				}
				u := strings.TrimRight(cfg.URLs[i%len(cfg.URLs)], "/") + "/ws/chat/" + prefix + strconv.Itoa(i%rooms) + "/"
				t := time.Now()
				conn, err := cfg.Dialer.Dial(ctx, u, i)
				if err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				hist.Record(time.Since(t))
				_ = conn.CloseGracefully()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loadtest: connect run interrupted: %w", err)
	}
	rep := &ConnectReport{
		Servers:       cfg.URLs,
		Handshakes:    int(hist.Count()),
		Failed:        failed.Load(),
		Concurrency:   cfg.Concurrency,
		Seconds:       round3(elapsed.Seconds()),
		PerSec:        round3(float64(hist.Count()) / elapsed.Seconds()),
		HandshakeTime: hist.Summary(),
	}
	if firstErr != nil {
		rep.FirstError = firstErr.Error()
	}
	if rep.Handshakes == 0 {
		return rep, errors.Join(errors.New("loadtest: no handshake succeeded"), firstErr)
	}
	return rep, nil
}
