package conformance

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo accepts every connection and sends every message back as it came.
func echo(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	for {
		msg, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		switch msg.Type() {
		case channels.TypeWebsocketConnect:
			if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
				return err
			}
		case channels.TypeWebsocketReceive:
			out := channels.Message{"type": channels.TypeWebsocketSend}
			if t, ok := msg["text"]; ok && t != nil {
				out["text"] = t
			} else {
				out["bytes"] = msg["bytes"]
			}
			if err := send.Send(ctx, out); err != nil {
				return nil // the connection is closing
			}
		case channels.TypeWebsocketDisconnect:
			return nil
		}
	}
}

// startEcho serves the echo application on a loopback port.
func startEcho(t *testing.T) string {
	t.Helper()
	s := &channels.Server{
		Application:        channels.ApplicationFunc(echo),
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		PingInterval:       -1,
		MaxMessageSize:     MaxMessage,
		MaxFrameSize:       MaxMessage,
		OutboundQueueBytes: 4 * MaxMessage,
		CloseTimeout:       2 * time.Second,
		Compression:        channels.Compression{Enabled: true, MinSize: -1},
	}
	return channelstest.Serve(t, s)
}

func TestConformance(t *testing.T) {
	addr := startEcho(t)
	cases := casesFor(t)
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.ID] {
			t.Fatalf("duplicate case ID %s", c.ID)
		}
		seen[c.ID] = true
	}
	counts := map[string]map[Verdict]int{}
	for _, r := range RunAll(addr, "/", cases, Options{Timeout: 10 * time.Second}) {
		c := r.Case
		if r.Duration > time.Second {
			t.Logf("case %s took %v", c.ID, r.Duration.Round(time.Millisecond))
		}
		fam := c.Family()
		if counts[fam] == nil {
			counts[fam] = map[Verdict]int{}
		}
		counts[fam][r.Verdict]++
		switch r.Verdict {
		case Failed, Unclean:
			t.Errorf("case %s (%s): %s: %s", c.ID, c.Desc, r.Verdict, r.Detail)
		case NonStrict, Informational:
			t.Logf("case %s (%s): %s %s", c.ID, c.Desc, r.Verdict, r.Detail)
		}
	}
	t.Log("\n" + summary(counts))
}

// casesFor returns every case, or every fourth one with -short.
func casesFor(t *testing.T) []*Case {
	t.Helper()
	cases := Cases()
	if !redistest.Short() { // never short under CI=true
		return cases
	}
	var some []*Case
	for i, c := range cases {
		if i%4 == 0 {
			some = append(some, c)
		}
	}
	return some
}

// summary formats the family → verdict counts table.
func summary(counts map[string]map[Verdict]int) string {
	fams := make([]string, 0, len(counts))
	for f := range counts {
		fams = append(fams, f)
	}
	sort.Slice(fams, func(i, j int) bool {
		var a, b int
		fmt.Sscan(fams[i], &a)
		fmt.Sscan(fams[j], &b)
		return a < b
	})
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-7s", "family")
	for _, v := range Verdicts {
		fmt.Fprintf(&sb, " %14s", v)
	}
	sb.WriteString("\n")
	total := map[Verdict]int{}
	for _, f := range fams {
		fmt.Fprintf(&sb, "%-7s", f+".x")
		for _, v := range Verdicts {
			fmt.Fprintf(&sb, " %14d", counts[f][v])
			total[v] += counts[f][v]
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "%-7s", "total")
	for _, v := range Verdicts {
		fmt.Fprintf(&sb, " %14d", total[v])
	}
	return sb.String()
}
