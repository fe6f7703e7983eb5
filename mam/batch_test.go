package mam_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/mam/mamtest"
	"dormouse.im/dormouse/stanza"
)

func TestGroupCommit(t *testing.T) {
	const writers, each = 32, 10
	for _, c := range []struct {
		name     string
		maxBatch int
	}{{"batched", 0}, {"unbatched", -1}, {"small batches", 6}} {
		t.Run(c.name, func(t *testing.T) {
			mem := mamtest.New()
			mem.AppendDelay = time.Millisecond
			e := newEnvStore(t, memBackend, mem, mem, mam.Config{MaxBatch: c.maxBatch, Now: time.Now})
			e.online("bob@localhost/phone")
			var msgs [writers][each]*stanza.Stanza
			for w := range writers {
				for i := range each {
					st := parse(t, fmt.Sprintf(`<message type='chat' to='bob@localhost'><body>%d-%d</body></message>`, w, i))
					st.SetFrom(mustJID(t, fmt.Sprintf("alice@localhost/r%d", w)))
					msgs[w][i] = st
				}
			}
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						e.r.Route(t.Context(), msgs[w][i])
					}
				})
			}
			wg.Wait()
			a, b := e.archive("alice@localhost"), e.archive("bob@localhost")
			if len(a) != writers*each || len(b) != writers*each {
				t.Fatalf("archived %d and %d, want %d", len(a), len(b), writers*each)
			}
			for i := range a {
				if a[i].ID != b[i].ID || (i > 0 && a[i].ID <= a[i-1].ID) {
					t.Fatalf("ids out of order or differ at %d", i)
				}
			}
			appends := mem.Appends.Load()
			t.Logf("%d messages archived in %d Append calls", writers*each, appends)
			switch {
			case c.maxBatch < 0 && appends != writers*each:
				t.Errorf("unbatched: %d Append calls, want %d", appends, writers*each)
			case c.maxBatch == 0 && appends >= writers*each/2:
				t.Errorf("batched: %d Append calls for %d messages", appends, writers*each)
			case c.maxBatch > 0 && appends < int64(2*writers*each/c.maxBatch):
				t.Errorf("%d Append calls of at most %d rows for %d rows", appends, c.maxBatch, 2*writers*each)
			}
		})
	}
}

// sizedStore is a store that tells the service its group commit size
// (mam.BatchSizer) and records the largest Append.
type sizedStore struct {
	*mamtest.MemStore
	size    int
	biggest atomic.Int64
}

func (s *sizedStore) MaxBatch() int { return s.size }

func (s *sizedStore) Append(ctx context.Context, msgs []mam.Message) error {
	for n := int64(len(msgs)); ; {
		b := s.biggest.Load()
		if n <= b || s.biggest.CompareAndSwap(b, n) {
			break
		}
	}
	return s.MemStore.Append(ctx, msgs)
}

// TestGroupCommitStoreSize checks that Config.MaxBatch 0 takes the store's
// size (mam.BatchSizer) and that a configured size overrides it.
func TestGroupCommitStoreSize(t *testing.T) {
	const writers, each = 16, 8
	for _, c := range []struct {
		name               string
		maxBatch, wantMost int
	}{{"store's size", 0, 6}, {"configured", 4, 4}} {
		t.Run(c.name, func(t *testing.T) {
			mem := mamtest.New()
			mem.AppendDelay = time.Millisecond
			store := &sizedStore{MemStore: mem, size: 6}
			e := newEnvStore(t, memBackend, store, mem, mam.Config{MaxBatch: c.maxBatch, Now: time.Now})
			e.online("bob@localhost/phone")
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						st := parse(t, fmt.Sprintf(`<message type='chat' to='bob@localhost'><body>%d-%d</body></message>`, w, i))
						st.SetFrom(mustJID(t, fmt.Sprintf("alice@localhost/r%d", w)))
						e.r.Route(t.Context(), st)
					}
				})
			}
			wg.Wait()
			if a := e.archive("alice@localhost"); len(a) != writers*each {
				t.Fatalf("archived %d, want %d", len(a), writers*each)
			}
			if got := store.biggest.Load(); got > int64(c.wantMost) || got < 2 {
				t.Errorf("largest Append %d rows, want 2..%d", got, c.wantMost)
			}
		})
	}
}
