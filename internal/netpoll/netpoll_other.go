//go:build !linux

package netpoll

import "syscall"

// Poller is not available on this platform.
type Poller struct{}

// Desc is not available on this platform.
type Desc struct{}

// Default returns ErrUnsupported on this platform.
func Default() (*Poller, error) { return nil, ErrUnsupported }

// New returns ErrUnsupported on this platform.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Add returns ErrUnsupported on this platform.
func (p *Poller) Add(conn syscall.Conn, onReady func()) (*Desc, error) { return nil, ErrUnsupported }

// Resume returns ErrUnsupported on this platform.
func (d *Desc) Resume() error { return ErrUnsupported }

// Remove does nothing on this platform.
func (d *Desc) Remove() {}

// Len returns 0 on this platform.
func (p *Poller) Len() int { return 0 }
