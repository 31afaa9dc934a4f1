package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// TraceSeconds is the length of the execution trace a Profiler takes at the start of the
// window: the trace counts goroutine wake-ups and syscalls exactly, at some cost.
const TraceSeconds = 1

// traceCounts are the goroutine state transitions of an execution trace.
type traceCounts struct {
	wakeUps, syscalls, created float64
	blocks                     map[string]float64 // Running->Waiting by reason
}

// countTrace reads an execution trace with `go tool trace -d=parsed` and counts the
// goroutines' state transitions: Waiting->Runnable (a wake-up), Running->Syscall,
// NotExist->Runnable (a goroutine created) and Running->Waiting by reason.
func countTrace(ctx context.Context, path string) (*traceCounts, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "trace", "-d=parsed", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("loadtest: trace: %w", err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadtest: go tool trace: %w", err)
	}
	c, perr := parseTraceDump(out)
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("loadtest: go tool trace -d=parsed %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return c, perr
}

// parseTraceDump counts the state transitions in the output of go tool trace -d=parsed.
func parseTraceDump(r io.Reader) (*traceCounts, error) {
	c := &traceCounts{blocks: map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, " StateTransition ")
		if i < 0 || !strings.Contains(line, " GoID=") {
			continue // processor transitions have ProcID
		}
		switch {
		case strings.Contains(line, " Waiting->Runnable"):
			c.wakeUps++
		case strings.Contains(line, " Running->Syscall"):
			c.syscalls++
		case strings.Contains(line, " NotExist->Runnable"):
			c.created++
		case strings.Contains(line, " Running->Waiting"):
			reason := "?"
			if _, r, ok := strings.Cut(line, ` Reason=`); ok {
				if u, err := strconv.Unquote(r); err == nil && u != "" {
					reason = u
				}
			}
			c.blocks[reason]++
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("loadtest: read trace dump: %w", err)
	}
	return c, nil
}

// TraceCosts are the execution trace's counts per delivery, at the window's mean rate
// (deliveries in the trace ≈ window deliveries × TraceSeconds / window length).
type TraceCosts struct {
	WakeUps           float64            `json:"goroutine_wake_ups"`
	Syscalls          float64            `json:"syscalls"`
	GoroutinesCreated float64            `json:"goroutines_created"`
	Blocks            map[string]float64 `json:"blocks_by_reason"`
}

func (t *traceCounts) perDelivery(n float64) *TraceCosts {
	tc := &TraceCosts{WakeUps: t.wakeUps / n, Syscalls: t.syscalls / n, GoroutinesCreated: t.created / n, Blocks: map[string]float64{}}
	for k, v := range t.blocks {
		tc.Blocks[k] = v / n
	}
	return tc
}

// blockReasons returns the reasons, most frequent first.
func (t *TraceCosts) blockReasons() []string {
	keys := make([]string, 0, len(t.Blocks))
	for k := range t.Blocks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if t.Blocks[keys[i]] != t.Blocks[keys[j]] {
			return t.Blocks[keys[i]] > t.Blocks[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
