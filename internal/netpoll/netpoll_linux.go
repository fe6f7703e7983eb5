//go:build linux

package netpoll

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"dormouse.im/dormouse/internal/shrinkmap"
)

// Poller waits for the readiness of armed connections. It is safe for
// concurrent use.
type Poller struct {
	f    *os.File                       // the epoll descriptor, waited for by the runtime poller
	epfd int                            // f's descriptor
	done chan struct{}                  // closed when the loop returned
	mu   sync.Mutex                     // guards the fields below
	next uint64                         // the last id given out
	wait shrinkmap.Map[uint64, *Handle] // armed handles by id
	shut bool
}

// Handle is one connection's registration with a Poller. Its methods must
// not be called concurrently with each other, except Disarm.
type Handle struct {
	p  *Poller
	rc syscall.RawConn
	fn func()
	id uint64 // the current arming's id; guarded by p.mu
}

// New starts a Poller. Close stops it.
func New() (*Poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("netpoll: %w", err)
	}
	p := &Poller{
		f:    os.NewFile(uintptr(fd), "epoll"),
		epfd: fd,
		done: make(chan struct{}),
	}
	rc, err := p.f.SyscallConn()
	if err != nil {
		p.f.Close()
		return nil, fmt.Errorf("netpoll: %w", err)
	}
	go p.loop(rc)
	return p, nil
}

// loop waits for events and runs the armed functions.
func (p *Poller) loop(rc syscall.RawConn) {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	var fns []func()
	for {
		var n int
		var werr error
		err := rc.Read(func(fd uintptr) bool {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			if werr == syscall.EINTR {
				n, werr = 0, nil
				return true // retry at once: the loop below calls Read again
			}
			return n > 0 || werr != nil
		})
		if err != nil || werr != nil {
			return // closed
		}
		p.mu.Lock()
		for i := range events[:n] {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if h, ok := p.wait.Get(id); ok {
				p.wait.Delete(id)
				fns = append(fns, h.fn)
			}
		}
		p.mu.Unlock()
		for i, fn := range fns {
			fn()
			fns[i] = nil
		}
		fns = fns[:0]
	}
}

// Close stops the Poller. Armed handles are not called; callers wake their
// connections themselves.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		return nil
	}
	p.shut = true
	p.wait.Clear()
	p.mu.Unlock()
	err := p.f.Close()
	<-p.done
	return err
}

// Len returns the number of armed handles.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wait.Len()
}

// NewHandle returns a Handle that calls fn when rc is readable after Arm.
func (p *Poller) NewHandle(rc syscall.RawConn, fn func()) *Handle {
	return &Handle{p: p, rc: rc, fn: fn}
}

// Arm asks for one call of the Handle's function when the connection is
// readable (or hung up, or failed). It returns false with the Handle not
// armed if the connection cannot be polled (closed): the caller then reads
// it itself. After Arm returns true the caller must not touch the
// connection's reading state: the function may already be running.
func (h *Handle) Arm() (bool, error) {
	p := h.p
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		return false, ErrClosed
	}
	p.next++
	id := p.next
	h.id = id
	p.wait.Set(id, h)
	p.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(id)),
		Pad:    int32(uint32(id >> 32)),
	}
	var cerr error
	err := h.rc.Control(func(fd uintptr) {
		// After the first arming the descriptor stays in the set,
		// disabled by EPOLLONESHOT: re-enable it.
		cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		if cerr == syscall.ENOENT {
			cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err == nil {
		err = cerr
	}
	if err == nil {
		return true, nil
	}
	if !p.disarm(id) {
		// Someone else took the wake-up (Disarm, or the loop after an
		// event on a registration that failed half-way): they own it.
		return true, nil
	}
	return false, fmt.Errorf("netpoll: epoll_ctl: %w", err)
}

// Disarm cancels the pending call. It reports whether it did (the caller
// now owns the wake-up); false means the function was or will be called,
// or the Handle was not armed.
func (h *Handle) Disarm() bool {
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if x, _ := p.wait.Get(h.id); x != h {
		return false
	}
	p.wait.Delete(h.id)
	return true
}

func (p *Poller) disarm(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.wait.Get(id); !ok {
		return false
	}
	p.wait.Delete(id)
	return true
}

// Remove takes the connection out of the epoll set. Call it, with the
// Handle not armed, before closing the connection.
func (h *Handle) Remove() error {
	var cerr error
	err := h.rc.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(h.p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	if err == nil && cerr != nil && !errors.Is(cerr, syscall.ENOENT) {
		err = fmt.Errorf("netpoll: epoll_ctl: %w", cerr)
	}
	return err
}
