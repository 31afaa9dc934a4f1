// Command chat serves the Django Channels tutorial's chat: open http://localhost:8000/,
// enter a room name, and chat with everyone in the same room.
//
//	go run ./examples/chat -addr :8000 -layer redis://localhost:6379/0
//
// Without -layer it uses $CHANNEL_LAYER_URL, and without that the in-memory layer (one
// process). With a Redis layer several processes, Go or Django, share the rooms.
//
// Beside the chat it serves Prometheus metrics at /metrics, /healthz and /readyz, and logs
// one line per request and connection. On SIGTERM or SIGINT /readyz fails at once; after
// -drain-delay the WebSockets are closed with 1001 and the consumers awaited (at most
// -shutdown-timeout). -addr unix:/path listens on a unix socket, -proxy-headers trusts a
// reverse proxy's X-Forwarded-For; -pprof 127.0.0.1:6060 serves net/http/pprof and the
// runtime/metrics counters there (loopback only), for profiling; -h lists every flag.
//
// -history N keeps the last N messages of every room (it adds history=chat_*:N:0 to the
// layer URL) and lets clients resume after a reconnect: each chat frame then carries its
// position, {"message": m, "pos": {"stream": "chat_<room>", "offset": n, "epoch": e}}, and a
// socket opened with ?resume={"chat_<room>": {"offset": n, "epoch": e}} (URL-encoded) first
// gets the messages it missed, then {"gochannels": "recovered", ...} or "unrecoverable".
// Without it the wire is exactly the Django tutorial's.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/examples/chat/chat"
	"github.com/gochannels/gochannels/layers"
	_ "github.com/gochannels/gochannels/layers/redislayer" // redis:// layer URLs
	"github.com/gochannels/gochannels/middleware"
	"github.com/gochannels/gochannels/ops"
)

func main() {
	ops.Main("chat", func(ctx context.Context, args []string, logger *slog.Logger) error {
		return run(ctx, args, logger, nil)
	})
}

// run serves until ctx is done, then drains and shuts down gracefully. ready, when not nil,
// receives the listening address.
func run(ctx context.Context, args []string, logger *slog.Logger, ready chan<- net.Addr) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	opts := ops.DefaultOptions(":8000")
	opts.RegisterFlags(fs)
	ops.SetUsage(fs, "the Django Channels tutorial chat (rooms at /chat/{room}/, socket /ws/chat/{room}/)")
	layerFlag := layers.Flag(fs)
	hosts := fs.String("allowed-hosts", "", "comma-separated host patterns allowed as WebSocket Origin, Django style (default: this machine)")
	pprofAddr := pprofFlag(fs)
	history := fs.Int("history", 0, "keep the last N messages of every room (adds history=chat_*:N:0 to the layer URL) and let clients resume with ?resume=; 0: off, the tutorial's wire")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *history != 0 {
		if err := addHistory(fs, layerFlag, *history); err != nil {
			return err
		}
	}
	if *pprofAddr != "" {
		stop, err := startPprof(ctx, *pprofAddr, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	metrics := ops.NewMetrics(nil, "")
	layer, err := ops.OpenLayer(ctx, layerFlag, metrics, logger)
	if err != nil {
		return err
	}
	defer layer.Close()

	var allowed []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			allowed = append(allowed, h)
		}
	}
	// As in the tutorial: WebSocket handshakes only from pages of the allowed hosts.
	app, err := opts.Wrap(middleware.AllowedHostsOriginValidator(chat.NewApplicationWith(layer, logger, chat.Options{Resume: *history > 0}), allowed...), metrics, logger)
	if err != nil {
		return err
	}
	svc := opts.Service(&channels.Server{Application: app, Logger: logger}, metrics, ops.Readyz(layer, ops.ReadyOptions{}), logger)
	ln, err := ops.Listen(opts.Addr)
	if err != nil {
		return err
	}
	logger.Info("chat: serving", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr()
	}
	err = svc.Serve(ctx, ln)
	logger.Info("chat: stopped")
	return err
}

// addHistory sets the -layer flag to the layer URL with the history rule chat_*:n:0 added:
// every room keeps its last n messages.
func addHistory(fs *flag.FlagSet, layerFlag *layers.URLFlag, n int) error {
	if n < 1 || n > layers.MaxHistoryLimit {
		return fmt.Errorf("-history %d: want 1 to %d messages", n, layers.MaxHistoryLimit)
	}
	u := layerFlag.URL()
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	u += sep + "history=" + url.QueryEscape(chat.GroupName("*")+":"+strconv.Itoa(n)+":0")
	return fs.Set(layers.FlagName, u)
}
