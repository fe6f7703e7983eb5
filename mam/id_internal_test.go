package mam

import (
	"math"
	"testing"
	"time"
)

// TestIDGenStampInIDMillisecond checks that every stamp idGen gives out
// lies in its id's millisecond and that ids and stamps never go back, also
// when the clock goes back or one millisecond runs out of ids.
func TestIDGenStampInIDMillisecond(t *testing.T) {
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		name  string
		clock []time.Duration // successive readings, from base
	}{
		0: {"steady", []time.Duration{0, 10 * time.Microsecond, time.Millisecond, 5 * time.Millisecond}},
		1: {"same microsecond", []time.Duration{0, 0, 0}},
		2: {"clock back within a millisecond", []time.Duration{700 * time.Microsecond, 100 * time.Microsecond, 200 * time.Microsecond}},
		3: {"clock back by seconds", []time.Duration{3 * time.Second, 0, time.Second, 4 * time.Second}},
		4: {"clock back then forward", []time.Duration{5*time.Millisecond + 900*time.Microsecond, time.Millisecond, 7 * time.Millisecond}},
	} {
		k := 0
		g := &idGen{now: func() time.Time { d := tc.clock[min(k, len(tc.clock)-1)]; k++; return base.Add(d) }}
		var lastID int64
		var lastStamp time.Time
		for range tc.clock {
			id, stamp := g.next()
			if id <= lastID || stamp.Before(lastStamp) {
				t.Errorf("%d %s: id %d stamp %v after id %d stamp %v", i, tc.name, id, stamp, lastID, lastStamp)
			}
			if !IDTime(id).Equal(stamp.Truncate(time.Millisecond)) {
				t.Errorf("%d %s: id of %v has stamp %v", i, tc.name, IDTime(id), stamp)
			}
			if id < FirstIDAt(stamp) || id > LastIDAt(stamp) {
				t.Errorf("%d %s: id %d outside [FirstIDAt, LastIDAt] = [%d, %d] of its stamp", i, tc.name, id, FirstIDAt(stamp), LastIDAt(stamp))
			}
			lastID, lastStamp = id, stamp
		}
	}

	// A millisecond that runs out of ids: the next ids and stamps move to
	// the next millisecond.
	g := &idGen{now: func() time.Time { return base }, last: base.UnixMilli()<<idCounterBits | (1<<idCounterBits - 1), lastStamp: base}
	id, stamp := g.next()
	if want := base.Add(time.Millisecond); !IDTime(id).Equal(want) || !stamp.Equal(want) {
		t.Errorf("after a full millisecond: id of %v, stamp %v; want both %v", IDTime(id), stamp, want)
	}
}

// TestIDNodes: two nodes of a cluster, with the same clock, never give out
// the same id, and each one's ids keep increasing.
func TestIDNodes(t *testing.T) {
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return base }
	a, b := &idGen{now: clock, node: 1}, &idGen{now: clock, node: 2}
	seen := map[int64]bool{}
	for _, g := range []*idGen{a, b} {
		last := int64(0)
		for range 5000 { // more than one millisecond's 4096 ids per node
			id, _ := g.next()
			if id <= last || seen[id] || id&(1<<idNodeBits-1) != g.node {
				t.Fatalf("node %d: id %x after %x (seen %v)", g.node, id, last, seen[id])
			}
			seen[id], last = true, id
		}
	}
}

func TestIDBounds(t *testing.T) {
	ms := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		t           time.Time
		first, last int64
	}{
		0: {ms, ms.UnixMilli() << idCounterBits, (ms.UnixMilli()+1)<<idCounterBits - 1},
		1: {ms.Add(999 * time.Microsecond), ms.UnixMilli() << idCounterBits, (ms.UnixMilli()+1)<<idCounterBits - 1},
		2: {time.Unix(0, 0), 1, 1<<idCounterBits - 1},
		3: {time.Unix(0, -1), 1, 0},
		4: {time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), 1, 0},
		5: {time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64, math.MaxInt64},
		6: {time.UnixMilli(maxIDMilli), maxIDMilli << idCounterBits, math.MaxInt64},
	} {
		if got := FirstIDAt(tc.t); got != tc.first {
			t.Errorf("%d: FirstIDAt(%v) = %d, want %d", i, tc.t, got, tc.first)
		}
		if got := LastIDAt(tc.t); got != tc.last {
			t.Errorf("%d: LastIDAt(%v) = %d, want %d", i, tc.t, got, tc.last)
		}
	}
}
