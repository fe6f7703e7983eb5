package mam

import (
	"context"
	"sync"
	"time"

	"dormouse.im/dormouse/internal/sequence"
)

// batcher groups concurrent Store.Append calls into one (group commit), so
// that N senders archiving at once cost one transaction rather than N.
//
// It needs no goroutine of its own. The first writer to arrive while no
// commit is running leads a new batch; writers arriving meanwhile join it
// (at most max messages), and the next batch forms while one commits.
// Without concurrent load, a leader commits at once: each write is one
// commit, as without a batcher. Concurrent load means the last commit
// ended less than linger ago and held several writers; then a leader first
// lingers, up to linger, until the batch is full or holds as many writers
// as the last commit did, so that batches hold what the concurrent writers
// send rather than what arrived during one commit: a commit of an archive
// costs mostly per commit (the index pages of every archive it touches,
// the full-text segment), and a fast store would otherwise commit a
// handful of messages at a time. A single writer sending one message after
// another (each waits for its commit) never lingers: nobody else would
// join.
//
// If a batch holding several writers fails, each writer's messages are
// retried alone, so one writer's bad message (a duplicate id) does not fail
// the others.
type batcher struct {
	append func(context.Context, []Message) error
	max    int
	linger time.Duration // 0: never linger

	mu         sync.Mutex // guards the fields below
	committing bool       // a batch is being committed (or its leader lingers)
	queue      []*batch   // batches waiting for their commit, oldest first; writers join the last
	lastEnd    time.Time  // when the last commit ended
	lastWrites int        // writers in the last commit
}

// batch is one group commit.
type batch struct {
	msgs   []Message
	writes []span        // each writer's messages in msgs
	lead   chan struct{} // closed when the leader may commit
	full   chan struct{} // closed when the batch is full or has its expected writers: the leader stops lingering
	closed bool          // full is closed; guarded by batcher.mu
	expect int           // writers expected (the last commit's); guarded by batcher.mu
	done   chan struct{} // closed when errs is set
	errs   []error       // by writer, set before done is closed
}

// span is one writer's part of a batch.
type span struct{ from, to int }

// write archives msgs in a group commit and returns the result of the
// commit that held them. If ctx ends while waiting, write returns ctx's
// error; the messages may still be archived.
func (b *batcher) write(ctx context.Context, msgs []Message) error {
	b.mu.Lock()
	var bt *batch
	if n := len(b.queue); n > 0 {
		if last := b.queue[n-1]; len(last.msgs)+len(msgs) <= b.max {
			bt = last
		} else {
			last.stopLingering()
		}
	}
	leader := bt == nil
	if leader {
		bt = &batch{lead: make(chan struct{}), full: make(chan struct{}), done: make(chan struct{}), expect: b.lastWrites}
		b.queue = append(b.queue, bt)
		if !b.committing {
			b.committing = true
			close(bt.lead)
		}
	}
	i := len(bt.writes)
	bt.writes = append(bt.writes, span{len(bt.msgs), len(bt.msgs) + len(msgs)})
	bt.msgs = append(bt.msgs, msgs...)
	if len(bt.writes) >= bt.expect {
		bt.stopLingering()
	}
	b.mu.Unlock()
	// The messages have their place in the commits: a sender pipelining
	// its messages may route its next one, whose ids come after these
	// (sequence.Sequencer).
	sequence.Release(ctx)

	if leader {
		// The leader commits even if its own context ends: other
		// writers' messages are in the batch.
		<-bt.lead
		b.lingerFor(bt)
		b.commit(context.WithoutCancel(ctx), bt)
		return bt.errs[i]
	}
	select {
	case <-bt.done:
		return bt.errs[i]
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopLingering tells bt's leader to commit now. The caller holds
// batcher.mu.
func (bt *batch) stopLingering() {
	if !bt.closed {
		bt.closed = true
		close(bt.full)
	}
}

// lingerFor waits, under concurrent load (the last commit ended less than
// b.linger ago and held several writers), until b.linger has passed, bt is
// full or bt has as many writers as that commit. Its leader calls it when
// bt may commit.
func (b *batcher) lingerFor(bt *batch) {
	if b.linger <= 0 {
		return
	}
	b.mu.Lock()
	loaded := b.lastWrites > 1 && !b.lastEnd.IsZero() && time.Since(b.lastEnd) < b.linger
	b.mu.Unlock()
	if !loaded {
		return
	}
	t := time.NewTimer(b.linger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-bt.full:
	}
}

// commit writes bt (the oldest batch), publishes the result and hands over
// to the next batch's leader.
func (b *batcher) commit(ctx context.Context, bt *batch) {
	b.mu.Lock()
	b.queue = b.queue[1:] // bt: later writers join or start another batch
	b.mu.Unlock()

	bt.errs = make([]error, len(bt.writes))
	if err := b.append(ctx, bt.msgs); err != nil {
		if len(bt.writes) == 1 {
			bt.errs[0] = err
		} else {
			for i, w := range bt.writes {
				bt.errs[i] = b.append(ctx, bt.msgs[w.from:w.to])
			}
		}
	}
	close(bt.done)

	b.mu.Lock()
	b.lastEnd = time.Now()
	b.lastWrites = len(bt.writes)
	if len(b.queue) > 0 {
		close(b.queue[0].lead) // its leader commits next
	} else {
		b.committing = false
		b.queue = nil
	}
	b.mu.Unlock()
}
