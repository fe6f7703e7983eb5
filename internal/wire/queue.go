package wire

import (
	"slices"
	"sync"

	"dormouse.im/dormouse/stanza"
)

// Item is one entry of an outbound queue: a stanza, or the raw bytes of
// stream-level XML.
type Item struct {
	St    *stanza.Stanza
	Raw   []byte
	Close bool // end the connection after writing this item
	Force bool // a stanza Push accepts beyond its bound (the caller bounds it)
}

// QueueConfig is how a Queue writes.
type QueueConfig struct {
	// NS is the content namespace stanzas are written in (jabber:client,
	// jabber:component:accept).
	NS string
	// Write writes one batch, under a deadline.
	Write func(b []byte) error
	// End is called on the writer goroutine, once, after a write failed
	// (err) or the write of a Close item (nil). The queue is closed and
	// empty by then.
	End func(err error)
	// Go starts the writer goroutine; it is called with the queue's lock
	// held. Nil: a go statement.
	Go func(f func())
}

// Queue is a connection's outbound queue. Its methods are safe for
// concurrent use. The zero Queue is not usable: call Init first.
type Queue struct {
	cfg QueueConfig

	mu      sync.Mutex // guards the fields below
	items   []Item
	spare   []Item // the previous batch's array, reused
	writing bool   // a writer goroutine runs
	held    bool   // items wait; no writer runs (Hold)
	closed  bool   // no more items accepted
	drained chan struct{}
}

// Init sets the queue's configuration before its first use.
func (q *Queue) Init(cfg QueueConfig) { q.cfg = cfg }

// Push queues it and starts the writer if none runs. It returns false if
// the queue is closed, or if it is a stanza without Force and max items
// (of any kind) are queued already. A Close item closes the queue (and ends a Hold).
func (q *Queue) Push(it Item, max int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || (it.St != nil && !it.Force && len(q.items) >= max) {
		return false
	}
	if it.Close {
		q.closed = true
		q.held = false // nothing will release it
	}
	q.items = append(q.items, it)
	q.startLocked()
	return true
}

// Hold makes queued items wait until Release.
func (q *Queue) Hold() {
	q.mu.Lock()
	q.held = true
	q.mu.Unlock()
}

// Release queues it ahead of the held items and lets the writer run. It
// returns false if the queue is closed.
func (q *Queue) Release(it Item) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.items = slices.Insert(q.items, 0, it)
	q.held = false
	q.startLocked()
	return true
}

// Close refuses further items. It returns a channel closed when the
// writer, if one runs, has finished, or nil if none runs.
func (q *Queue) Close() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	return q.idleLocked()
}

// Idle returns a channel closed when the writer that runs now has
// finished, or nil if none runs.
func (q *Queue) Idle() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.idleLocked()
}

func (q *Queue) idleLocked() <-chan struct{} {
	if !q.writing {
		return nil
	}
	if q.drained == nil {
		q.drained = make(chan struct{})
	}
	return q.drained
}

// Free lets go of the queue's arrays if it is empty and no writer runs (an
// idle connection keeps no buffers).
func (q *Queue) Free() {
	q.mu.Lock()
	if !q.writing && len(q.items) == 0 {
		q.items, q.spare = nil, nil
	}
	q.mu.Unlock()
}

func (q *Queue) startLocked() {
	if q.writing || q.held || len(q.items) == 0 {
		return
	}
	q.writing = true
	if q.cfg.Go != nil {
		q.cfg.Go(q.writeLoop)
	} else {
		go q.writeLoop()
	}
}

// writerDoneLocked records that the writer stopped and wakes who waits.
func (q *Queue) writerDoneLocked() {
	q.writing = false
	if q.drained != nil {
		close(q.drained)
		q.drained = nil
	}
}

// writeLoop drains the queue in batches: one write per batch. It exits
// when the queue is empty or held.
func (q *Queue) writeLoop() {
	var buf []byte
	for {
		q.mu.Lock()
		if len(q.items) == 0 || q.held {
			q.writerDoneLocked()
			q.mu.Unlock()
			return
		}
		batch := q.items
		q.items = q.spare[:0]
		q.spare = nil
		q.mu.Unlock()

		buf = buf[:0]
		closeAfter := false
		for i := range batch {
			it := &batch[i]
			if it.St != nil {
				buf = it.St.AppendXML(buf, q.cfg.NS)
			} else {
				buf = append(buf, it.Raw...)
			}
			closeAfter = closeAfter || it.Close
			batch[i] = Item{}
		}
		err := q.cfg.Write(buf)
		q.mu.Lock()
		q.spare = batch[:0]
		if err != nil || closeAfter {
			q.closed = true
			q.items = nil
			q.writerDoneLocked()
			q.mu.Unlock()
			q.cfg.End(err)
			return
		}
		q.mu.Unlock()
		if cap(buf) > 64<<10 {
			buf = nil // do not keep a large buffer around
		}
	}
}
