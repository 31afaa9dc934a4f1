package channelstest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// shutdownTimeout bounds the graceful shutdown at the end of a test.
const shutdownTimeout = 10 * time.Second

// Serve runs s on a free loopback TCP port until the test ends, for the tests that need real
// sockets (a communicator needs none), and returns the address ("127.0.0.1:port"). When the
// test ends it shuts s down, failing the test if Shutdown or Serve reports an error.
func Serve(t testing.TB, s *channels.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("channelstest: listen: %v", err)
	}
	return ServeListener(t, s, l)
}

// ServeListener is Serve on a listener of the caller's (a unix socket, say); it returns the
// listener's address.
func ServeListener(t testing.TB, s *channels.Server, l net.Listener) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("channelstest: Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("channelstest: Serve: %v", err)
		}
	})
	return l.Addr().String()
}
