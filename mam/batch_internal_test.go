package mam

import (
	"context"
	"errors"
	"sync"
	"testing"
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
