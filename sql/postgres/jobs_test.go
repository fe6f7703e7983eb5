package postgres_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/cronjob"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/sql/sqltest"
)

// TestJobsTryLock: while one node runs a job, another is refused; a slot
// once claimed is not run again, a later one is; other jobs are
// independent.
func TestJobsTryLock(t *testing.T) {
	url := sqltest.PostgresURL(t)
	ctx := t.Context()
	a, b := openStores(t, url), openStores(t, url)
	slot := time.Date(2026, 12, 7, 3, 30, 0, 0, time.UTC)

	unlock, ok, err := a.Jobs.TryLock(ctx, "retention", slot)
	if err != nil || !ok {
		t.Fatalf("first TryLock: %v, %v", ok, err)
	}
	if _, ok, err := b.Jobs.TryLock(ctx, "retention", slot.Add(time.Hour)); err != nil || ok {
		t.Errorf("TryLock while another node runs the job: %v, %v; want refused", ok, err)
	}
	if u, ok, err := b.Jobs.TryLock(ctx, "forget", slot); err != nil || !ok {
		t.Errorf("TryLock of another job: %v, %v; want granted", ok, err)
	} else {
		u()
	}
	unlock()
	for _, tc := range []struct {
		name string
		slot time.Time
		want bool
	}{
		{"same slot after the run", slot, false},
		{"earlier slot", slot.Add(-time.Hour), false},
		{"next slot", slot.Add(time.Hour), true},
	} {
		u, ok, err := b.Jobs.TryLock(ctx, "retention", tc.slot)
		if err != nil || ok != tc.want {
			t.Errorf("%s: TryLock = %v, %v; want %v", tc.name, ok, err, tc.want)
		}
		if ok {
			u()
		}
	}
}

// recordingLocker counts the grants of a Locker by slot.
type recordingLocker struct {
	cronjob.Locker
	mu      *sync.Mutex
	granted map[time.Time]int
	asked   map[time.Time]int
}

func (r recordingLocker) TryLock(ctx context.Context, job string, slot time.Time) (func(), bool, error) {
	unlock, ok, err := r.Locker.TryLock(ctx, job, slot)
	r.mu.Lock()
	r.asked[slot]++
	if ok {
		r.granted[slot]++
	}
	r.mu.Unlock()
	return unlock, ok, err
}

// TestJobsRunOnce: two nodes (two connection pools on one schema) run
// the same job every second; each pass runs once, on one of them.
func TestJobsRunOnce(t *testing.T) {
	url := sqltest.PostgresURL(t)
	var (
		mu      sync.Mutex
		runs    int
		granted = map[time.Time]int{}
		asked   = map[time.Time]int{}
	)
	var stops []func(context.Context) error
	for range 2 {
		l := recordingLocker{Locker: openStores(t, url).Jobs, mu: &mu, granted: granted, asked: asked}
		stop, err := cronjob.Start("* * * * * *", slog.New(slog.DiscardHandler), func(ctx context.Context) {
			mu.Lock()
			runs++
			mu.Unlock()
			select { // a pass that takes a while, as a retention pass
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
			}
		}, cronjob.Once(l, "retention"))
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, stop)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		both := 0
		for _, n := range asked {
			if n == 2 {
				both++
			}
		}
		mu.Unlock()
		if both >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, stop := range stops {
		if err := stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	both := 0
	for slot, n := range asked {
		if n == 2 {
			both++
		}
		if granted[slot] != 1 && n == 2 {
			t.Errorf("slot %v: asked by both nodes, granted %d times; want once", slot, granted[slot])
		}
		if granted[slot] > 1 {
			t.Errorf("slot %v granted %d times", slot, granted[slot])
		}
	}
	if both < 3 {
		t.Fatalf("only %d slots fired on both nodes in 30 s", both)
	}
	total := 0
	for _, n := range granted {
		total += n
	}
	if runs != total {
		t.Errorf("the job ran %d times for %d grants", runs, total)
	}
}

func openStores(t *testing.T, url string) *sql.Stores {
	t.Helper()
	st, err := sql.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
