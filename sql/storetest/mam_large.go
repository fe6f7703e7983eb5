package storetest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/mam"
)

// LargeEnv is the environment variable enabling [MAMLarge]: set it to 1.
// DORMOUSE_MAM_LARGE_N overrides the number of messages (default 1,000,000).
const LargeEnv = "DORMOUSE_MAM_LARGE"

// MAMLarge measures the message archive at scale; it is skipped unless
// DORMOUSE_MAM_LARGE=1. It fills one user's archive with a million messages
// (Append in batches of 10,000: one transaction each on SQLite, one COPY
// on PostgreSQL), with a second user's small archive beside it, and logs
// the write throughput, the time of the first full-text query (which
// indexes the archive) and the latency (p50, p99, max) of the main query
// shapes, each run many times at random positions. It fails only on
// errors or wrong results, never on timings.
//
// afterFill, if not nil, runs once the archive is filled and before the
// queries (PostgreSQL uses it for VACUUM ANALYZE, which autovacuum would
// do on a live server). Run it without -race, e.g.
//
//	DORMOUSE_MAM_LARGE=1 go test -run TestMAMLarge -v -timeout 2h -p 1 ./sql/sqlite ./sql/postgres
func MAMLarge(t *testing.T, open Open, afterFill func(testing.TB)) {
	if os.Getenv(LargeEnv) != "1" {
		t.Skip(LargeEnv + " not set to 1: skipping the large-archive measurement")
	}
	n := 1_000_000
	if v := os.Getenv(LargeEnv + "_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 20_000 {
			t.Fatalf("%s_N=%q: want a number >= 20000", LargeEnv, v)
		}
	}
	const (
		user, other = "juliet@example.com", "romeo@example.net"
		batch       = 10_000
		page        = mamBenchPage
		runs        = 1000
	)
	ctx := t.Context()
	s := open(t)
	createAccounts(t, s, user, other)
	var report strings.Builder
	logf := func(format string, args ...any) {
		fmt.Fprintf(&report, format+"\n", args...)
	}
	logf("%s: %d messages in one archive, pages of %d", t.Name(), n, page)

	// Fill, in batches of 10,000.
	var batchTimes []time.Duration
	ms := make([]mam.Message, 0, batch)
	start := time.Now()
	for i := 0; i < n; i += batch {
		ms = ms[:0]
		for j := i; j < min(i+batch, n); j++ {
			ms = append(ms, benchMessage(user, j))
		}
		t0 := time.Now()
		check(t, "Append", s.MAM.Append(ctx, ms))
		batchTimes = append(batchTimes, time.Since(t0))
	}
	fill := time.Since(start)
	logf("bulk write: %d messages in %v: %.0f messages/s (batches of %d: %s)",
		n, fill.Round(time.Millisecond), float64(n)/fill.Seconds(), batch, percentiles(batchTimes))
	fillArchive(t, s, other, 10_000, 1000)
	if afterFill != nil {
		t0 := time.Now()
		afterFill(t)
		logf("after fill: %v", time.Since(t0).Round(time.Millisecond))
	}

	rng := rand.New(rand.NewPCG(1, 2))
	id := func(i int) int64 { return benchMessage(user, i).ID }
	measure := func(name string, runs int, q func(i int) (mam.Query, func(mam.Page) bool)) {
		t.Helper()
		var ds []time.Duration
		for i := range runs {
			qq, ok := q(i)
			t0 := time.Now()
			p, err := s.MAM.Query(ctx, qq)
			d := time.Since(t0)
			if err != nil {
				t.Fatalf("%s: Query(%+v): %v", name, qq, err)
			}
			if !ok(p) {
				t.Fatalf("%s: Query(%+v) = %d messages (complete %v, count %d): unexpected", name, qq, len(p.Messages), p.Complete, p.Count)
			}
			ds = append(ds, d)
		}
		logf("%-34s %s", name+":", percentiles(ds))
	}
	full := func(p mam.Page) bool { return len(p.Messages) == page && !p.Complete }

	measure("last page", runs, func(int) (mam.Query, func(mam.Page) bool) {
		return mam.Query{Owner: user, Max: page, Last: true}, func(p mam.Page) bool {
			return full(p) && p.Messages[page-1].ID == id(n-1)
		}
	})
	measure("page after a random id", runs, func(int) (mam.Query, func(mam.Page) bool) {
		i := rng.IntN(n - 2*page)
		return mam.Query{Owner: user, AfterID: id(i), Max: page}, func(p mam.Page) bool {
			return full(p) && p.Messages[0].ID == id(i+1)
		}
	})
	measure("page before a random id (Last)", runs, func(int) (mam.Query, func(mam.Page) bool) {
		i := 2*page + rng.IntN(n-2*page)
		return mam.Query{Owner: user, BeforeID: id(i), Max: page, Last: true}, func(p mam.Page) bool {
			return full(p) && p.Messages[page-1].ID == id(i-1)
		}
	})
	measure("first page", runs, func(int) (mam.Query, func(mam.Page) bool) {
		return mam.Query{Owner: user, Max: page}, func(p mam.Page) bool { return full(p) && p.Messages[0].ID == id(0) }
	})
	// benchMessage has 20 contacts, in turn.
	measure("with: last page", runs, func(i int) (mam.Query, func(mam.Page) bool) {
		with := fmt.Sprintf("contact%02d@example.net", i%20)
		return mam.Query{Owner: user, With: with, Max: page, Last: true}, func(p mam.Page) bool {
			return full(p) && p.Messages[0].With == with
		}
	})
	measure("with: page after a random id", runs, func(int) (mam.Query, func(mam.Page) bool) {
		i := rng.IntN(n - 40*page)
		with := fmt.Sprintf("contact%02d@example.net", i%20)
		return mam.Query{Owner: user, With: with, AfterID: id(i), Max: page}, func(p mam.Page) bool {
			return full(p) && p.Messages[0].ID == id(i+20)
		}
	})
	measure("start: page from a random time", runs, func(int) (mam.Query, func(mam.Page) bool) {
		i := rng.IntN(n - 2*page)
		return mam.Query{Owner: user, Start: benchMessage(user, i).Stamp, Max: page}, func(p mam.Page) bool {
			return full(p) && p.Messages[0].ID == id(i)
		}
	})
	// One message a millisecond: a second holds 1000.
	measure("start+end: 1s window, last page", runs, func(int) (mam.Query, func(mam.Page) bool) {
		i := rng.IntN(n - 1000)
		st := benchMessage(user, i).Stamp
		return mam.Query{Owner: user, Start: st, End: st.Add(time.Second - time.Microsecond), Max: page, Last: true}, func(p mam.Page) bool {
			return full(p) && p.Messages[page-1].ID == id(i+999)
		}
	})
	measure("ids: 10 random ids", runs, func(int) (mam.Query, func(mam.Page) bool) {
		var ids []int64
		for range 10 {
			ids = append(ids, id(rng.IntN(n)))
		}
		return mam.Query{Owner: user, IDs: ids, Max: page}, func(p mam.Page) bool { return len(p.Messages) > 0 }
	})
	measure("count: whole archive (100 runs)", 100, func(int) (mam.Query, func(mam.Page) bool) {
		return mam.Query{Owner: user, Max: page, Last: true, Count: true}, func(p mam.Page) bool { return full(p) && p.Count == n }
	})
	measure("count: one contact (100 runs)", 100, func(int) (mam.Query, func(mam.Page) bool) {
		return mam.Query{Owner: user, With: "contact07@example.net", Max: page, Last: true, Count: true}, func(p mam.Page) bool {
			return full(p) && p.Count == n/20
		}
	})
	if s.MAM.SupportsFullText() {
		// The first full-text query indexes the whole archive (the stores
		// index an archive from its owner's first search on).
		t0 := time.Now()
		if _, err := s.MAM.Query(ctx, mam.Query{Owner: user, Text: "balcony", Max: page}); err != nil {
			t.Fatalf("first full-text query: %v", err)
		}
		logf("%-34s %v", "text: first search (indexes all):", time.Since(t0).Round(time.Millisecond))
		// Each body has a unique number; one in 100 mentions the balcony.
		measure("text: a unique word (100 runs)", 100, func(int) (mam.Query, func(mam.Page) bool) {
			i := rng.IntN(n)
			return mam.Query{Owner: user, Text: strconv.Itoa(i), Max: page}, func(p mam.Page) bool {
				return len(p.Messages) == 1 && p.Messages[0].ID == id(i) && p.Complete
			}
		})
		measure("text: 1% of messages, last page (100 runs)", 100, func(int) (mam.Query, func(mam.Page) bool) {
			return mam.Query{Owner: user, Text: "balcony", Max: page, Last: true}, full
		})
		measure("text: every message, last page (20 runs)", 20, func(int) (mam.Query, func(mam.Page) bool) {
			return mam.Query{Owner: user, Text: "Juliet", Max: page, Last: true}, full
		})
	}

	// Has and Bounds.
	var ds []time.Duration
	for range runs {
		i := rng.IntN(n)
		t0 := time.Now()
		ok, err := s.MAM.Has(ctx, user, id(i))
		ds = append(ds, time.Since(t0))
		if err != nil || !ok {
			t.Fatalf("Has(%d) = %v, %v", id(i), ok, err)
		}
	}
	logf("%-34s %s", "has:", percentiles(ds))
	ds = ds[:0]
	for range runs {
		t0 := time.Now()
		first, last, err := s.MAM.Bounds(ctx, user)
		ds = append(ds, time.Since(t0))
		if err != nil || first.ID != id(0) || last.ID != id(n-1) {
			t.Fatalf("Bounds = %d, %d, %v", first.ID, last.ID, err)
		}
	}
	logf("%-34s %s", "bounds:", percentiles(ds))

	// Live writes into the full archive: single messages, then batches of 10.
	next := n
	for _, size := range []int{1, 10} {
		ds = ds[:0]
		start := time.Now()
		for range runs {
			ms = ms[:0]
			for range size {
				ms = append(ms, benchMessage(user, next))
				next++
			}
			t0 := time.Now()
			check(t, "Append", s.MAM.Append(ctx, ms))
			ds = append(ds, time.Since(t0))
		}
		el := time.Since(start)
		logf("%-34s %s; %.0f messages/s", fmt.Sprintf("append batch=%d:", size), percentiles(ds), float64(runs*size)/el.Seconds())
	}

	// Retention: delete the oldest 10% in chunks of 10,000.
	cut := benchMessage(user, n/10).Stamp
	start = time.Now()
	deleted, calls := 0, 0
	for {
		d, err := s.MAM.DeleteBefore(ctx, cut, "", batch)
		check(t, "DeleteBefore", err)
		deleted += d
		calls++
		if d < batch {
			break
		}
	}
	el := time.Since(start)
	// The other archive's 10,000 messages have the same stamps as the
	// user's first 10,000.
	if want := n/10 + min(10_000, n/10); deleted != want {
		t.Errorf("DeleteBefore deleted %d messages, want %d", deleted, want)
	}
	logf("%-34s %d messages in %d calls, %v: %.0f messages/s", "retention (DeleteBefore, 10k):", deleted, calls, el.Round(time.Millisecond), float64(deleted)/el.Seconds())
	t.Log("\n" + report.String())
}

// percentiles formats the p50, p99 and maximum of ds (which it sorts).
func percentiles(ds []time.Duration) string {
	slices.Sort(ds)
	p := func(q float64) time.Duration {
		return ds[min(len(ds)-1, int(q*float64(len(ds))))]
	}
	r := func(d time.Duration) string {
		switch {
		case d < time.Millisecond:
			return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
		case d < time.Second:
			return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
		}
		return d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("p50 %s  p99 %s  max %s", r(p(0.50)), r(p(0.99)), r(ds[len(ds)-1]))
}
