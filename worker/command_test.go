package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/internal/logbuf"
	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/router"
	"github.com/gochannels/gochannels/worker"
)

// Pinger is the background consumer of the Command tests: it answers "task.ping" by sending
// "pong" to the reply channel the message names.
type Pinger struct {
	consumer.Consumer
}

func (p *Pinger) TaskPing(ctx context.Context, msg channels.Message) error {
	return p.Send(ctx, msg.String("reply"), channels.Message{"type": "pong"})
}

func pingApp(l layers.Layer) channels.Application {
	return router.ChannelName{
		"background-tasks": consumer.New[Pinger](consumer.WithLayer(l)),
		"thumbnails":       consumer.New[Pinger](consumer.WithLayer(l)),
	}
}

// runCommand runs Command and returns its exit code and stderr.
func runCommand(ctx context.Context, args ...string) (int, string) {
	var stderr logbuf.Buffer
	code := worker.Command(ctx, pingApp, args, &stderr, worker.MainOptions{Name: "runworker", ProbeAttempts: 2, ProbeTimeout: 300 * time.Millisecond, ProbeWait: 50 * time.Millisecond})
	return code, stderr.String()
}

func TestCommandErrors(t *testing.T) {
	t.Setenv(layers.EnvURL, "")
	ctx := testCtx(t)
	dead := redistest.ClosedAddr(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no channel", nil, worker.ExitUsage, "runworker: name at least one channel to serve (this application routes: background-tasks, thumbnails)"},
		{"unknown channel", []string{"background-tasks", "emails"}, worker.ExitUsage, `does not route this channel: "emails" (it routes: background-tasks, thumbnails)`},
		{"bad channel name", []string{"bad/name"}, worker.ExitUsage, `channel "bad/name"`},
		{"malformed URL", []string{"-layer", "redis://[::1", "background-tasks"}, worker.ExitUsage, "bad layer URL"},
		{"unknown scheme", []string{"-layer", "kafka://x", "background-tasks"}, worker.ExitUsage, `unknown layer URL scheme "kafka"`},
		{"bad redis option", []string{"-layer", "redis://127.0.0.1:1/0?capacity=lots", "background-tasks"}, worker.ExitUsage, "bad layer URL"},
		{"unreachable", []string{"-layer", "redis://" + dead + "/0", "background-tasks"}, worker.ExitFailure, "cannot be reached: 2 attempts"},
		{"bad concurrency", []string{"-concurrency", "0", "background-tasks"}, worker.ExitUsage, "-concurrency 0"},
		{"bad log level", []string{"-log-level", "loud", "background-tasks"}, worker.ExitUsage, `-log-level "loud"`},
		{"bad flag", []string{"-nope", "background-tasks"}, worker.ExitUsage, "flag provided but not defined: -nope"},
		{"help", []string{"-h"}, worker.ExitOK, "Channels this application routes:\n  background-tasks\n  thumbnails\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runCommand(ctx, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
		})
	}
}

// Without -layer or $CHANNEL_LAYER_URL the command warns that the memory layer serves only
// this process, serves until its context ends and exits 0.
func TestCommandMemoryWarning(t *testing.T) {
	t.Setenv(layers.EnvURL, "")
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	code, stderr := runCommand(ctx, "background-tasks")
	if code != worker.ExitOK {
		t.Errorf("exit code %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"in-memory channel layer: it serves only this process", "worker: stopped"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// With a Redis layer from $CHANNEL_LAYER_URL the command serves the channels named, and
// another process's message is handled; canceling the context stops it with exit code 0.
func TestCommandServesRedis(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv(layers.EnvURL, srv.URL()+"?prefix="+srv.Prefix())
	ctx := testCtx(t)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stderr := runCommand(runCtx, "-concurrency", "2", "background-tasks")
		done <- result{code, stderr}
	}()
	client := redisLayer(t, srv, 0)
	reply, err := client.NewChannel(ctx, "specific")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Send(ctx, "background-tasks", channels.Message{"type": "task.ping", "reply": reply}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	msg, err := client.Receive(rctx, reply)
	cancel()
	if err != nil || msg.Type() != "pong" {
		t.Fatalf("reply %v, %v", msg, err)
	}
	stop()
	res := <-done
	if res.code != worker.ExitOK {
		t.Errorf("exit code %d; stderr:\n%s", res.code, res.stderr)
	}
	if strings.Contains(res.stderr, "in-memory") || !strings.Contains(res.stderr, "channel=background-tasks handled=1 failed=0") ||
		!strings.Contains(res.stderr, `msg="channel layer" url="`+srv.URL()+"?prefix=") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
}
