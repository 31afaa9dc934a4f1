//go:build linux

package netpoll

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Poller watches sockets for readability. It is safe for concurrent use.
type Poller struct {
	epfd   int
	wakeR  int // read end of the wake-up pipe, registered in epfd
	wakeW  int
	mu     sync.Mutex
	descs  map[int32]*Desc // fd -> current registration
	gen    int32
	count  int             // registered descriptors
	active bool            // the poll goroutine is running
	raw    syscall.RawConn // epfd seen through the Go runtime's poller
	file   *os.File        // keeps epfd open
}

// Desc is one registered socket.
type Desc struct {
	p       *Poller
	fd      int
	gen     int32
	onReady func()
}

var (
	defaultOnce   sync.Once
	defaultPoller *Poller
	defaultErr    error
)

// Default returns the process-wide Poller, creating it on first use.
func Default() (*Poller, error) {
	defaultOnce.Do(func() { defaultPoller, defaultErr = New() })
	return defaultPoller, defaultErr
}

// New returns a new Poller. Its poll goroutine runs only while sockets are registered.
func New() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("netpoll: pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(pipe[0]), Pad: -1}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, fmt.Errorf("netpoll: registering wake-up pipe: %w", err)
	}
	// The epoll fd is itself readable when events are ready: hand it to the Go runtime's
	// poller so that the poll goroutine parks like any network read instead of holding an
	// OS thread in a blocking epoll_wait (that saves a thread hand-off per wake-up).
	if err := syscall.SetNonblock(epfd, true); err != nil {
		return nil, fmt.Errorf("netpoll: making the epoll fd non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "netpoll-epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll fd raw conn: %w", err)
	}
	return &Poller{epfd: epfd, wakeR: pipe[0], wakeW: pipe[1], descs: make(map[int32]*Desc), raw: raw, file: f}, nil
}

// wait returns the ready events, parking in the Go runtime's poller while there are none.
func (p *Poller) wait(events []syscall.EpollEvent) (int, error) {
	var n int
	var werr error
	err := p.raw.Read(func(fd uintptr) bool {
		n, werr = syscall.EpollWait(int(fd), events, 0)
		if werr == syscall.EINTR {
			n, werr = 0, nil
		}
		return n > 0 || werr != nil
	})
	if err == nil {
		err = werr
	}
	return n, err
}

// Add registers conn and arms it: onReady is called once, from the poll goroutine, when conn
// becomes readable (or is closed by the peer, or fails). onReady must not block; it usually
// starts a goroutine that reads and then calls Resume. conn must stay open until Remove.
func (p *Poller) Add(conn syscall.Conn, onReady func()) (*Desc, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netpoll: getting raw connection: %w", err)
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return nil, fmt.Errorf("netpoll: getting file descriptor: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	if p.gen < 0 {
		p.gen = 0
	}
	d := &Desc{p: p, fd: fd, gen: p.gen, onReady: onReady}
	ev := syscall.EpollEvent{Events: armEvents, Fd: int32(fd), Pad: d.gen}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return nil, fmt.Errorf("netpoll: epoll_ctl add fd %d: %w", fd, err)
	}
	p.descs[int32(fd)] = d
	p.count++
	if !p.active {
		p.active = true
		go p.loop()
	}
	return d, nil
}

const armEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// Resume re-arms d after its onReady fired, so that onReady fires again at the next
// readiness (at once if unread bytes remain). It returns ErrClosed after Remove.
func (d *Desc) Resume() error {
	p := d.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.descs[int32(d.fd)] != d {
		return ErrClosed
	}
	ev := syscall.EpollEvent{Events: armEvents, Fd: int32(d.fd), Pad: d.gen}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, d.fd, &ev); err != nil {
		return fmt.Errorf("netpoll: epoll_ctl mod fd %d: %w", d.fd, err)
	}
	return nil
}

// Remove stops watching d. Call it before closing the socket. After Remove returns, onReady
// is not called again (except by a poll already under way, which the caller's own state must
// tolerate). Remove is idempotent.
func (d *Desc) Remove() {
	p := d.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.descs[int32(d.fd)] != d {
		return
	}
	delete(p.descs, int32(d.fd))
	// The socket may already be gone; either way it is no longer watched.
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, d.fd, nil)
	p.count--
	if p.count == 0 {
		// Wake the poll goroutine so that it notices it has nothing left to watch.
		_, _ = syscall.Write(p.wakeW, []byte{0})
	}
}

// Len returns the number of registered descriptors.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

func (p *Poller) loop() {
	events := make([]syscall.EpollEvent, 256)
	var drain [64]byte
	ready := make([]func(), 0, len(events))
	for {
		n, err := p.wait(events)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			// Not expected with a valid epoll fd; stop rather than spin.
			p.mu.Lock()
			p.active = false
			p.mu.Unlock()
			return
		}
		ready = ready[:0]
		p.mu.Lock()
		for i := 0; i < n; i++ {
			ev := events[i]
			if int(ev.Fd) == p.wakeR && ev.Pad == -1 {
				for {
					if k, err := syscall.Read(p.wakeR, drain[:]); k <= 0 || err != nil {
						break
					}
				}
				continue
			}
			d := p.descs[ev.Fd]
			if d == nil || d.gen != ev.Pad {
				continue // removed (and perhaps the fd reused) since the event was queued
			}
			ready = append(ready, d.onReady)
		}
		if p.count == 0 {
			p.active = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		for _, f := range ready {
			f()
		}
	}
}
