package session

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Waking parked connections. A parked connection that becomes readable
// (or must see that it is closing) needs a reader goroutine again. Started
// one per wake-up, a burst of wake-ups (10,000 phones acknowledging at
// once, every connection reset by a network outage, the idle sweep) would
// start thousands of goroutines at once: each keeps its stack while it
// lingers, and the Go runtime keeps every goroutine's record (480 bytes)
// for good once made, so a burst of 5,000 left 250 bytes behind for each
// of 10,000 sessions, hibernated ones included.
//
// So woken connections are read by at most wakeLimit goroutines. A wake-up
// beyond the limit waits in a queue; while it is not empty, a woken reader
// that has read all there was parks its connection after wakeLinger
// instead of Config.ParkAfter (lingering is an optimisation only) and takes
// the next queued connection on the same goroutine. A reader that keeps being
// busy holds its goroutine: if the queue makes no progress for
// wakeStall, one more goroutine is started, so a queued connection waits
// at most that long for each reader that stays busy.
type wakeups struct {
	mu      sync.Mutex
	queue   []*Conn       // woken connections waiting for a reader; guarded by mu
	head    int           // queue[head:] waits (empty: len(queue) == 0); guarded by mu
	running int           // goroutines reading woken connections; guarded by mu
	taken   uint64        // connections taken from the queue; guarded by mu
	watch   *time.Timer   // the stall check, armed while the queue is not empty; guarded by mu
	waiting atomic.Int32  // len(queue)-head, read by readers without mu
	limit   int           // wakeLimit(); set by init
	stall   time.Duration // wakeStall, or shorter in tests; set by init
}

// wakeStall is how long the queue may make no progress before one more
// reader goroutine starts.
const wakeStall = 20 * time.Millisecond

// wakeLinger replaces Config.ParkAfter while woken connections wait for a
// reader.
const wakeLinger = time.Millisecond

// wakeLimit is the number of goroutines reading woken connections before
// wake-ups queue: enough for readers that linger between messages in normal
// traffic, far below a burst.
func wakeLimit() int { return max(128, 64*runtime.GOMAXPROCS(0)) }

// wakeRead makes c's reader run again: on a new goroutine, or on one that
// finishes with its connection, within Server.wake's limits. The caller
// owns c's wake-up (it disarmed the poller's handle or was called by it).
func (s *Server) wakeRead(c *Conn) {
	w := &s.wake
	w.mu.Lock()
	if w.running < w.limit {
		w.running++
		w.mu.Unlock()
		go s.readWoken(c)
		return
	}
	w.queue = append(w.queue, c)
	w.waiting.Add(1)
	if w.watch == nil {
		s.watchLocked()
	}
	w.mu.Unlock()
}

// readWoken runs woken connections' readers until none waits.
func (s *Server) readWoken(c *Conn) {
	for c != nil {
		c.resumeRead()
		c = s.nextWoken()
	}
}

// nextWoken takes the next queued connection, or retires the calling
// goroutine (nil).
func (s *Server) nextWoken() *Conn {
	w := &s.wake
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		w.running--
		return nil
	}
	return w.takeLocked()
}

// takeLocked takes the oldest queued connection; the queue is not empty.
// An emptied queue starts again at its array's beginning (len 0).
func (w *wakeups) takeLocked() *Conn {
	c := w.queue[w.head]
	w.queue[w.head] = nil
	w.head++
	w.taken++
	w.waiting.Add(-1)
	if w.head == len(w.queue) {
		if cap(w.queue) > 1024 {
			w.queue = nil // a burst's array
		} else {
			w.queue = w.queue[:0]
		}
		w.head = 0
	}
	return c
}

// watchLocked arms the stall check for the queue as it is now.
func (s *Server) watchLocked() {
	taken := s.wake.taken
	s.wake.watch = time.AfterFunc(s.wake.stall, func() { s.wakeCheck(taken) })
}

// wakeCheck runs wakeStall after the stall check was armed: if nothing was
// taken from the queue since (taken), every reader is busy, and one more
// goroutine starts on the oldest connection.
func (s *Server) wakeCheck(taken uint64) {
	w := &s.wake
	w.mu.Lock()
	var c *Conn
	if len(w.queue) > 0 && w.taken == taken {
		c = w.takeLocked()
		w.running++
	}
	w.watch = nil
	if len(w.queue) > 0 {
		s.watchLocked()
	}
	w.mu.Unlock()
	if c != nil {
		go s.readWoken(c)
	}
}

// wakeBacklog reports whether woken connections wait for a reader: a
// reader then parks its connection soon after it has read all there is.
func (s *Server) wakeBacklog() bool { return s.wake.waiting.Load() > 0 }
