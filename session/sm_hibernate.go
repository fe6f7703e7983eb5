package session

import (
	"container/heap"
	"sync"
	"time"
)

// hibTimers runs the resumption timeouts of all hibernated sessions on one
// Clock timer, set for the earliest: a hibernated session holds a small
// heap entry instead of a timer and a closure of its own. Its lock is a
// leaf (taken with Session.mu held; it calls no session with it held).
type hibTimers struct {
	mu      sync.Mutex
	clock   Clock
	h       hibHeap
	seq     uint64
	armedAt int64       // the deadline the clock timer is set for; 0: none
	stop    func() bool // stops that timer
	closed  bool
}

// hibEntry is one hibernation's timeout. s is nil once cancelled; the
// entry then leaves the heap when it comes due.
type hibEntry struct {
	at  int64 // deadline, Clock time in Unix nanoseconds
	seq uint64
	s   *Session
	gen uint64 // the session's hibGen when it hibernated
}

type hibHeap []*hibEntry

func (h hibHeap) Len() int { return len(h) }
func (h hibHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || (h[i].at == h[j].at && h[i].seq < h[j].seq)
}
func (h hibHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *hibHeap) Push(x any)   { *h = append(*h, x.(*hibEntry)) }
func (h *hibHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// add schedules s.expire(gen) after d.
func (t *hibTimers) add(s *Session, gen uint64, d time.Duration) *hibEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	e := &hibEntry{at: t.clock.Now().Add(d).UnixNano(), seq: t.seq, s: s, gen: gen}
	heap.Push(&t.h, e)
	t.armLocked()
	return e
}

// cancel drops the session from its entry.
func (t *hibTimers) cancel(e *hibEntry) {
	t.mu.Lock()
	e.s = nil
	t.mu.Unlock()
}

// armLocked sets the clock timer for the earliest entry if it is not set
// for it already.
func (t *hibTimers) armLocked() {
	if t.closed || len(t.h) == 0 {
		return
	}
	at := t.h[0].at
	if t.armedAt != 0 && t.armedAt <= at {
		return
	}
	if t.stop != nil {
		t.stop()
	}
	d := time.Duration(at - t.clock.Now().UnixNano())
	t.armedAt = at
	t.stop = t.clock.AfterFunc(max(d, 0), t.fire)
}

// fire expires the sessions whose deadline passed and sets the timer for
// the next.
func (t *hibTimers) fire() {
	t.mu.Lock()
	t.armedAt, t.stop = 0, nil
	now := t.clock.Now().UnixNano()
	var due []hibEntry
	for len(t.h) > 0 && t.h[0].at <= now {
		e := heap.Pop(&t.h).(*hibEntry)
		if e.s != nil {
			due = append(due, *e)
			e.s = nil
		}
	}
	t.armLocked()
	t.mu.Unlock()
	for _, e := range due {
		e.s.expire(e.gen)
	}
}

// close stops the clock timer (Shutdown: no session is hibernated any
// more).
func (t *hibTimers) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.stop != nil {
		t.stop()
		t.stop = nil
	}
	t.armedAt = 0
	clear(t.h)
	t.h = nil
}
