package ops

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gochannels/gochannels/channels"
)

// tallyReceiver is a Receiver and Injector over a buffered channel; Inject fails with
// channels.ErrClosed once closed is set.
type tallyReceiver struct {
	ch     chan channels.Message
	closed atomic.Bool
}

func (r *tallyReceiver) Receive(ctx context.Context) (channels.Message, error) {
	select {
	case msg := <-r.ch:
		return msg, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *tallyReceiver) Inject(msg channels.Message) error {
	if r.closed.Load() {
		return channels.ErrClosed
	}
	r.ch <- msg
	return nil
}

type nopSender struct{}

func (nopSender) Send(context.Context, channels.Message) error { return nil }

// gathered is the value of the series name{type=websocket[,result=result]} in reg.
func gathered(t *testing.T, reg prometheus.Gatherer, name, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				switch {
				case lp.GetName() == "type" && lp.GetValue() != channels.ScopeWebsocket,
					lp.GetName() == "result" && lp.GetValue() != result:
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s", name)
	return 0
}

// TestTalliesExactAtScrapeAndEnd checks that the per-scope counts are in every scrape while
// the scope is in progress, stay exact when it ends, and that a message injected after the
// end is still counted.
func TestTalliesExactAtScrapeAndEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "")
	mid, release := make(chan channels.Injector), make(chan struct{})
	app := m.Instrument(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
			return err
		}
		for range 3 {
			msg, err := receive.Receive(ctx)
			if err != nil {
				return err
			}
			if err := channels.SendText(ctx, send, msg.String("text")+"!"); err != nil {
				return err
			}
		}
		mid <- receive.(channels.Injector)
		<-release
		return nil
	}))
	recv := &tallyReceiver{ch: make(chan channels.Message, 8)}
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, &channels.Scope{Type: channels.ScopeWebsocket, Path: "/ws/"}, recv, nopSender{})
	}()
	for _, s := range []string{"a", "bc", "def"} {
		recv.ch <- channels.Message{"type": channels.TypeWebsocketReceive, "text": s}
	}
	inj := <-mid

	check := func(when string, want map[string]float64) {
		t.Helper()
		for name, v := range want {
			result := ""
			if name == "gochannels_layer_messages_total" {
				result = "delivered"
			}
			if got := gathered(t, reg, name, result); got != v {
				t.Errorf("%s: %s = %v, want %v", when, name, got, v)
			}
		}
	}
	want := map[string]float64{
		"gochannels_messages_received_total": 3,
		"gochannels_bytes_received_total":    6,
		"gochannels_messages_sent_total":     3,
		"gochannels_bytes_sent_total":        9,
		"gochannels_layer_messages_total":    0,
	}
	check("in progress", want)
	if err := inj.Inject(channels.Message{"type": "chat.message"}); err != nil {
		t.Fatal(err)
	}
	want["gochannels_layer_messages_total"] = 1
	check("in progress, after an inject", want)

	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	check("ended", want)

	recv.closed.Store(true)
	if err := inj.Inject(channels.Message{"type": "chat.message"}); err == nil {
		t.Fatal("Inject after the end succeeded")
	}
	if got := gathered(t, reg, "gochannels_layer_messages_total", "closed"); got != 1 {
		t.Errorf("closed after the end = %v, want 1", got)
	}
	check("ended, after a late inject", want)
}

// TestTalliesConcurrentScrapes injects from several goroutines into scopes that end while
// other goroutines scrape: every scrape sees a count that never goes down, and the last one
// sees every message exactly once.
func TestTalliesConcurrentScrapes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "")
	const scopes, injectors, perInjector = 8, 4, 200

	var injected sync.WaitGroup
	var served sync.WaitGroup
	app := m.Instrument(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		inj := receive.(channels.Injector)
		var wg sync.WaitGroup
		for i := range injectors {
			// Half of the injectors the scope waits for; the others run on across its end.
			waited := i%2 == 0
			if waited {
				wg.Add(1)
			}
			injected.Add(1)
			go func() {
				if waited {
					defer wg.Done()
				}
				defer injected.Done()
				for range perInjector {
					_ = inj.Inject(channels.Message{"type": "chat.message"})
				}
			}()
		}
		wg.Wait()
		return nil
	}))
	for range scopes {
		served.Add(1)
		go func() {
			defer served.Done()
			recv := &tallyReceiver{ch: make(chan channels.Message, injectors*perInjector)}
			_ = app.Serve(ctx, &channels.Scope{Type: channels.ScopeWebsocket}, recv, nopSender{})
		}()
	}
	stop := make(chan struct{})
	scraped := make(chan error, 1)
	go func() {
		last := 0.0
		for {
			select {
			case <-stop:
				scraped <- nil
				return
			default:
			}
			mfs, err := reg.Gather()
			if err != nil {
				scraped <- err
				return
			}
			for _, mf := range mfs {
				if mf.GetName() != "gochannels_layer_messages_total" {
					continue
				}
				for _, s := range mf.GetMetric() {
					if s.GetLabel()[0].GetValue() == "delivered" && s.GetLabel()[1].GetValue() == channels.ScopeWebsocket {
						v := s.GetCounter().GetValue()
						if v < last {
							t.Errorf("delivered went down: %v after %v", v, last)
						}
						last = v
					}
				}
			}
		}
	}()
	served.Wait()
	injected.Wait()
	close(stop)
	if err := <-scraped; err != nil {
		t.Fatal(err)
	}
	if got, want := gathered(t, reg, "gochannels_layer_messages_total", "delivered"), float64(scopes*injectors*perInjector); got != want {
		t.Errorf("delivered = %v, want %v", got, want)
	}
}
