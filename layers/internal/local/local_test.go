package local

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
)

var msg = channels.Message{"type": "t"}

func TestListenerDeliverAndStop(t *testing.T) {
	var n Counter
	accept := true
	var got int
	c := NewListener("a!1", func(channels.Message) bool { got++; return accept })
	if !c.Deliver(&n, msg) || got != 1 {
		t.Fatalf("first delivery not taken (got %d)", got)
	}
	accept = false
	if c.Deliver(&n, msg) {
		t.Fatal("a refused delivery reported as taken")
	}
	c.Stop()
	c.Stop()
	if c.Deliver(&n, msg) || got != 2 {
		t.Fatalf("delivery after Stop reached the callback (got %d)", got)
	}
	if d, x := n.Delivered.Load(), n.Dropped.Load(); d != 1 || x != 2 {
		t.Fatalf("delivered, dropped = %d, %d; want 1, 2", d, x)
	}
	if c.Box() != nil || !c.Stopped() {
		t.Fatal("a stopped listener has a buffer or is not stopped")
	}
}

func TestBufferDeliverReceive(t *testing.T) {
	var n Counter
	tbl := Table{}
	c, created := tbl.Buffer("a!1", 1)
	if !created {
		t.Fatal("Buffer did not create")
	}
	if again, created := tbl.Buffer("a!1", 1); again != c || created {
		t.Fatal("Buffer created a second buffer for one name")
	}
	if !c.Deliver(&n, msg) || c.Deliver(&n, msg) {
		t.Fatal("a buffer of capacity 1 took other than one message")
	}
	got, err := c.Receive(context.Background())
	if err != nil || got.Type() != "t" {
		t.Fatalf("Receive = %v, %v", got, err)
	}
	if d, x := n.Delivered.Load(), n.Dropped.Load(); d != 1 || x != 1 {
		t.Fatalf("delivered, dropped = %d, %d; want 1, 1", d, x)
	}
	tbl.CloseBuffers()
	if _, err := c.Receive(context.Background()); !errors.Is(err, channels.ErrClosed) {
		t.Fatalf("Receive after CloseBuffers: %v", err)
	}
}

func TestDropIdleAndSweep(t *testing.T) {
	var n Counter
	tbl := Table{}
	idle, _ := tbl.Buffer("idle", 4)
	idle.Deliver(&n, msg)
	busy, _ := tbl.Buffer("busy", 4)
	busy.BeginReceive()
	stopped := NewListener("stopped", func(channels.Message) bool { return true })
	stopped.Stop()
	tbl["stopped"] = stopped
	tbl["live"] = NewListener("live", func(channels.Message) bool { return true })

	// Nothing is older than a limit in the past.
	tbl.Sweep(time.Now().Add(-time.Hour).UnixNano(), &n, nil)
	if len(tbl) != 4 {
		t.Fatalf("sweep with an old limit removed channels: %d left", len(tbl))
	}
	var removed []string
	tbl.Sweep(time.Now().Add(time.Hour).UnixNano(), &n, func(name string) { removed = append(removed, name) })
	if len(removed) != 1 || removed[0] != "idle" {
		t.Fatalf("swept buffers %v, want [idle]", removed)
	}
	if _, ok := tbl["stopped"]; ok {
		t.Fatal("the stopped listener was not swept")
	}
	if n.Dropped.Load() != 1 {
		t.Fatalf("the unread message of the swept buffer: dropped = %d, want 1", n.Dropped.Load())
	}
	if busy.EndReceive() != 0 {
		t.Fatal("EndReceive: Receive calls left")
	}
	var dropped []string
	tbl.DropIdle(func(name string) { dropped = append(dropped, name) })
	if len(dropped) != 1 || dropped[0] != "busy" || len(tbl) != 1 {
		t.Fatalf("DropIdle dropped %v, left %d", dropped, len(tbl))
	}
}

func TestFanoutCountsOnDone(t *testing.T) {
	var n Counter
	accept := true
	taker := NewListener("a!1", func(channels.Message) bool { return accept })
	refuser := NewListener("a!2", func(channels.Message) bool { return false })
	stopped := NewListener("a!3", func(channels.Message) bool { return true })
	stopped.Stop()
	buf := NewBuffer("a!4", 1)
	f := NewFanout(&n)
	for _, c := range []*Chan{taker, refuser, stopped, buf, buf} {
		f.Deliver(c, msg)
	}
	if d, x := n.Delivered.Load(), n.Dropped.Load(); d != 0 || x != 3 {
		t.Fatalf("before Done: delivered, dropped = %d, %d; want 0, 3 (drops count at once)", d, x)
	}
	f.Done()
	f.Done()
	if d := n.Delivered.Load(); d != 2 {
		t.Fatalf("after Done: delivered = %d; want 2", d)
	}
}
