// Package netpoll is a small readiness poller: it tells the caller when a socket has bytes to
// read, so that an idle connection needs no goroutine parked in Read and no read buffer.
//
// On Linux it is an epoll instance with one poll goroutine for the whole process. Each
// registration is one-shot (EPOLLONESHOT): after the callback fires, the socket is not
// watched again until Resume re-arms it, so at most one reader handles a socket at a time.
// The poll goroutine starts with the first registration and exits when the last one is
// removed, so a process with no registered sockets runs no poll goroutine.
//
// On other systems New returns ErrUnsupported and callers fall back to a goroutine per
// connection.
package netpoll

import "errors"

// ErrUnsupported is returned by New where no readiness poller is available.
var ErrUnsupported = errors.New("netpoll: not supported on this platform")

// ErrClosed is returned by Add, Resume and Remove on a descriptor that was removed.
var ErrClosed = errors.New("netpoll: descriptor removed")
