package redislayer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/layers"
)

func init() { layers.RegisterLogging(UseSlog) }

// DefaultDialLogInterval is how often a SlogLogger logs a dial error that keeps repeating,
// when its Interval is zero.
const DefaultDialLogInterval = 10 * time.Second

// maxDialKeys bounds the dial errors a SlogLogger tracks; quiet ones are forgotten beyond it.
const maxDialKeys = 64

// UseSlog makes go-redis write its own log lines (a failed dial, a Sentinel switching
// masters, ...) through logger (slog.Default() when nil) instead of its own format on
// stderr, with repeated dial errors throttled (see SlogLogger). It is process-wide, because
// go-redis's logger is global: it applies to every go-redis client of the program, this
// package's layers and any other, and the last call wins. layers.UseSlog, and so every
// command's layers.URLFlag.Open, calls it when this package is linked in.
func UseSlog(logger *slog.Logger) {
	redis.SetLogger(&SlogLogger{Logger: logger})
}

// SlogLogger is a go-redis logger (install it with redis.SetLogger, or use UseSlog) that
// writes each line as one slog record: "redis: ..." at level Warn when it reports a failure,
// Error for a recovered panic, Info otherwise.
//
// During an outage go-redis logs a failed dial for every connection attempt, many a second.
// SlogLogger logs the first failure to dial an address, then at most one line per Interval
// for that address, the next failure, with a "suppressed" attribute counting the lines left
// out since the previous one. A burst that ends within an Interval is counted in the next
// line for that address, if any.
type SlogLogger struct {
	// Logger receives the lines; slog.Default() when nil.
	Logger *slog.Logger
	// Interval is the shortest time between two lines about failed dials to one address;
	// DefaultDialLogInterval when zero.
	Interval time.Duration
	// Now returns the current time, for the throttling; time.Now when nil.
	Now func() time.Time

	mu    sync.Mutex
	dials map[string]*dialLog // by format and address
}

// dialLog is the throttling state of one kind of dial error.
type dialLog struct {
	logged     time.Time // when the last line was written
	suppressed int       // lines left out since
}

// Printf implements go-redis's logger interface.
func (s *SlogLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	msg := "redis: " + strings.TrimPrefix(strings.TrimSpace(fmt.Sprintf(format, v...)), "redis: ")
	if addr, ok := dialError(format, v); ok {
		suppressed, log := s.throttle(format + "\x00" + addr)
		if !log {
			return
		}
		if suppressed > 0 {
			logger.Log(ctx, slog.LevelWarn, msg, "suppressed", suppressed)
			return
		}
		logger.Log(ctx, slog.LevelWarn, msg)
		return
	}
	logger.Log(ctx, level(msg), msg)
}

// throttle reports whether the dial error of key is logged now and, if so, how many were
// left out since the last line.
func (s *SlogLogger) throttle(key string) (suppressed int, log bool) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	interval := s.Interval
	if interval <= 0 {
		interval = DefaultDialLogInterval
	}
	t := now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dials == nil {
		s.dials = map[string]*dialLog{}
	}
	d := s.dials[key]
	if d == nil {
		if len(s.dials) >= maxDialKeys {
			for k, old := range s.dials {
				if old.suppressed == 0 && t.Sub(old.logged) >= interval {
					delete(s.dials, k)
				}
			}
		}
		s.dials[key] = &dialLog{logged: t}
		return 0, true
	}
	if t.Sub(d.logged) < interval {
		d.suppressed++
		return 0, false
	}
	suppressed = d.suppressed
	d.logged, d.suppressed = t, 0
	return suppressed, true
}

// dialError reports whether a go-redis line is about a failed dial (its format says so, or
// one of its values is a dial error) and the address dialled, when an error names it.
func dialError(format string, v []any) (addr string, ok bool) {
	ok = strings.Contains(format, "dial")
	for _, a := range v {
		err, isErr := a.(error)
		if !isErr {
			continue
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			ok = true
			if op.Addr != nil {
				addr = op.Addr.String()
			}
		}
	}
	return addr, ok
}

// level is the slog level of a go-redis line that is not a dial error.
func level(msg string) slog.Level {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "panic"):
		return slog.LevelError
	case strings.Contains(m, "fail"), strings.Contains(m, "error"), strings.Contains(m, "err="):
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
