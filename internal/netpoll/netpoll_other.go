//go:build !linux

package netpoll

import "syscall"

// Poller is not available on this system: New returns ErrUnsupported.
type Poller struct{}

// Handle is not available on this system.
type Handle struct{}

// New returns ErrUnsupported.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Close does nothing.
func (p *Poller) Close() error { return nil }

// Len returns 0.
func (p *Poller) Len() int { return 0 }

// NewHandle returns a Handle that is never armed.
func (p *Poller) NewHandle(rc syscall.RawConn, fn func()) *Handle { return &Handle{} }

// Arm fails: ErrUnsupported.
func (h *Handle) Arm() (bool, error) { return false, ErrUnsupported }

// Disarm reports false.
func (h *Handle) Disarm() bool { return false }

// Remove does nothing.
func (h *Handle) Remove() error { return nil }
