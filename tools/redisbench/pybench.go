package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// pyLayout is one way of spreading channels_redis over OS processes: sending processes
// (sharing the concurrent senders) and, for send+receive, receiving processes (a group
// workload has one receiving process per "process" of its shape).
type pyLayout struct{ senders, receivers int }

func (l pyLayout) String() string {
	return fmt.Sprintf("%d sending, %d receiving processes", l.senders, l.receivers)
}

// pyOutput is crbench.py's answer.
type pyOutput struct {
	Seconds      float64 `json:"seconds"`
	Ops          int     `json:"ops"`
	SendErrors   int     `json:"send_errors"`
	Expected     int64   `json:"expected"`
	Received     int64   `json:"received"`
	WarmReceived int64   `json:"warm_received"`
	Commands     float64 `json:"commands"`
}

// python runs one workload through channels_redis in the given layout; cfg holds the
// workload's own fields ("op", "channels" or "members").
func (b *bench) python(ctx context.Context, cfg map[string]any, ops int, l pyLayout) (result, error) {
	prefix := "pyb" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cfg["hosts"] = []string{b.redisURL}
	cfg["prefix"] = prefix
	cfg["ops"] = ops
	cfg["warmup"] = b.warmups(ops)
	cfg["senders"] = l.senders
	cfg["receivers"] = l.receivers
	cfg["concurrency"] = b.concurrency
	cfg["capacity"] = b.capacity
	cfg["drain"] = b.drain.Seconds()
	cfg["timeout"] = b.pyTimeout.Seconds()
	cfg["receive_limit"] = b.receiveLimit
	js, err := json.Marshal(cfg)
	if err != nil {
		return result{}, fmt.Errorf("encode config: %w", err)
	}
	// crbench.py's own time-out covers its waits; this one covers a stuck send.
	pctx, cancel := context.WithTimeout(ctx, b.pyTimeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(pctx, b.pythonPath, b.script, string(js))
	// Its processes form one group, killed together, and the pipes are not waited on for ever.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ferr := b.flushPrefix(ctx, prefix); ferr != nil {
		b.log.Warn("redisbench: delete channels_redis keys", "prefix", prefix, "err", ferr)
	}
	if err != nil {
		return result{}, fmt.Errorf("crbench.py %v (%s): %w: %s", cfg["op"], l, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var out pyOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return result{}, fmt.Errorf("crbench.py output %q: %w", stdout.Bytes(), err)
	}
	return result{
		config: l.String(), ops: out.Ops, sendErrors: out.SendErrors,
		expected: out.Expected, received: out.Received, warmReceived: out.WarmReceived,
		dur:      time.Duration(out.Seconds * float64(time.Second)),
		commands: out.Commands,
	}, nil
}

// flushPrefix deletes a channels_redis run's keys, with our layer's Flush.
func (b *bench) flushPrefix(ctx context.Context, prefix string) error {
	l, err := b.newLayer(prefix)
	if err != nil {
		return err
	}
	defer l.Close()
	return l.Flush(ctx)
}
