package mam

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"dormouse.im/dormouse/internal/sequence"
)

func TestBatcherIsolatesFailures(t *testing.T) {
	var (
		mu      sync.Mutex
		calls   [][]Message
		first   = make(chan struct{})
		release = make(chan struct{})
	)
	bad := errors.New("bad message")
	b := &batcher{max: 100, append: func(_ context.Context, msgs []Message) error {
		mu.Lock()
		calls = append(calls, msgs)
		n := len(calls)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release
		}
		for _, m := range msgs {
			if m.Owner == "bad" {
				return bad
			}
		}
		return nil
	}}
	ctx := t.Context()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.write(ctx, []Message{{ID: 1, Owner: "a"}}); err != nil {
			t.Errorf("first write: %v", err)
		}
	})
	<-first
	// These gather in the next batch while the first commit runs.
	errs := make([]error, 5)
	var started sync.WaitGroup
	for i := range errs {
		started.Add(1)
		wg.Go(func() {
			owner := "ok"
			if i == 2 {
				owner = "bad"
			}
			started.Done()
			errs[i] = b.write(ctx, []Message{{ID: int64(10 + i), Owner: owner}, {ID: int64(20 + i), Owner: "ok"}})
		})
	}
	started.Wait()
	waitJoined(b, 10)
	close(release)
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 2) || (err != nil && !errors.Is(err, bad)) {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	// 1 first commit, 1 failed batch of 10, then 5 single retries.
	if len(calls) != 7 || len(calls[1]) != 10 {
		t.Errorf("%d Append calls (second of %d messages), want 7 (second of 10)", len(calls), len(calls[1]))
	}
}

// waitJoined waits until the open batch holds n messages.
func waitJoined(b *batcher, n int) {
	for {
		b.mu.Lock()
		k := 0
		if len(b.queue) > 0 {
			k = len(b.queue[len(b.queue)-1].msgs)
		}
		b.mu.Unlock()
		if k == n {
			return
		}
	}
}

// TestBatcherLinger checks when a leader lingers: never without concurrent
// load (no recent commit, or the last one held a single writer: a lone
// sequential sender), and under load until b.linger has passed, the batch
// holds as many writers as the last commit did, or a writer finds it full.
func TestBatcherLinger(t *testing.T) {
	const linger = 2 * time.Millisecond
	for i, tc := range []struct {
		name     string
		idle     bool          // the previous commit ended long ago
		prev     int           // writers in the previous commit
		writers  int           // writers arriving during the linger, one message each
		max      int           // batch size
		wantWait time.Duration // how long the leader waits
		wantCall []int         // sizes of the Append calls after the previous commit
	}{
		0: {name: "idle", idle: true, prev: 6, writers: 0, max: 100, wantWait: 0, wantCall: []int{1}},
		1: {name: "sequential writer", prev: 1, writers: 0, max: 100, wantWait: 0, wantCall: []int{1}},
		2: {name: "loaded, all writers back", prev: 6, writers: 5, max: 100, wantWait: 0, wantCall: []int{6}},
		3: {name: "loaded, fewer writers", prev: 6, writers: 2, max: 100, wantWait: linger, wantCall: []int{3}},
		4: {name: "loaded, alone", prev: 6, writers: 0, max: 100, wantWait: linger, wantCall: []int{1}},
		5: {name: "full", prev: 10, writers: 4, max: 3, wantWait: 0, wantCall: []int{3, 2}},
	} {
		synctest.Test(t, func(t *testing.T) {
			var (
				mu    sync.Mutex
				calls []int
			)
			b := &batcher{max: tc.max, linger: linger, append: func(_ context.Context, msgs []Message) error {
				mu.Lock()
				calls = append(calls, len(msgs))
				mu.Unlock()
				return nil
			}}
			ctx := t.Context()
			// The previous commit, with tc.prev writers.
			b.lastEnd, b.lastWrites = time.Now(), tc.prev
			if tc.idle {
				time.Sleep(time.Second)
			}
			start := time.Now()
			var wg sync.WaitGroup
			var waited time.Duration
			wg.Go(func() {
				if err := b.write(ctx, []Message{{ID: 2}}); err != nil {
					t.Error(err)
				}
				waited = time.Since(start)
			})
			synctest.Wait() // the leader lingers (or has committed)
			for j := range tc.writers {
				wg.Go(func() {
					if err := b.write(ctx, []Message{{ID: int64(10 + j)}}); err != nil {
						t.Error(err)
					}
				})
				synctest.Wait()
			}
			wg.Wait()
			if waited != tc.wantWait {
				t.Errorf("%d %s: the leader waited %v, want %v", i, tc.name, waited, tc.wantWait)
			}
			if !slices.Equal(calls, tc.wantCall) {
				t.Errorf("%d %s: Append calls of %v messages, want %v", i, tc.name, calls, tc.wantCall)
			}
		})
	}
}

// seqProbe is a sequence.Sequencer counting Release calls.
type seqProbe struct{ released chan struct{} }

func (s *seqProbe) Release() {
	select {
	case s.released <- struct{}{}:
	default:
	}
}
func (s *seqProbe) Turn() {}

// TestBatcherReleases: a writer whose context carries a sequence.Sequencer
// is released (its sender may route its next message) once its messages
// are queued for a commit, before the commit returns.
func TestBatcherReleases(t *testing.T) {
	commit := make(chan struct{})
	b := &batcher{max: 100, append: func(context.Context, []Message) error {
		<-commit
		return nil
	}}
	seq := &seqProbe{released: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() {
		done <- b.write(sequence.With(t.Context(), seq), []Message{{ID: 1, Owner: "a"}})
	}()
	<-seq.released // before the commit returns
	select {
	case err := <-done:
		t.Fatalf("write returned %v before its commit", err)
	default:
	}
	close(commit)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
