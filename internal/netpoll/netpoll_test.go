//go:build linux

package netpoll

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadinessOneShotAndResume(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{}, 10)
	d, err := p.Add(server.(*net.TCPConn), func() { ready <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
		t.Fatal("ready before any data")
	case <-time.After(20 * time.Millisecond):
	}
	client.Write([]byte("x"))
	wait := func() {
		t.Helper()
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
			t.Fatal("no readiness")
		}
	}
	wait()
	// One-shot: more data does not fire again until Resume.
	client.Write([]byte("y"))
	select {
	case <-ready:
		t.Fatal("fired twice without Resume")
	case <-time.After(20 * time.Millisecond):
	}
	if err := d.Resume(); err != nil {
		t.Fatal(err)
	}
	wait() // unread bytes remain: fires again at once
	buf := make([]byte, 2)
	if n, _ := server.Read(buf); n != 2 {
		t.Fatalf("read %d", n)
	}
	d.Remove()
	if err := d.Resume(); err != ErrClosed {
		t.Fatalf("Resume after Remove: %v", err)
	}
	if p.Len() != 0 {
		t.Fatalf("Len = %d", p.Len())
	}
	// The poll goroutine exits when nothing is registered (goleak checks it).
}
