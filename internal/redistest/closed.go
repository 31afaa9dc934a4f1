package redistest

import (
	"net"
	"testing"
)

// ClosedAddr returns a loopback host:port nothing listens on (a port just released), for
// tests of a Redis server that cannot be reached: a dial to it is refused at once.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
