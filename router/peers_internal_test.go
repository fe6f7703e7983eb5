package router

import (
	"testing"
	"time"
)

type stoppedClock struct{ now time.Time }

func (c *stoppedClock) Now() time.Time { return c.now }
func (c *stoppedClock) AfterFunc(time.Duration, func()) func() bool {
	return func() bool { return true }
}

// TestPeerTrackerBounded checks that the tracker's memory is bounded: at
// most MaxSenders senders, MaxNewPeers strangers and MaxContacts contacts
// each; expired windows go first, and senders beyond the limit last.
func TestPeerTrackerBounded(t *testing.T) {
	c := &stoppedClock{now: time.Unix(0, 0)}
	tr := newPeerTracker(Privacy{MaxNewPeers: 3, MaxSenders: 32, MaxContacts: 2, Window: time.Hour,
		BaseDelay: time.Second, MaxDelay: 4 * time.Second, Clock: c})
	// A prober goes beyond the limit; its delays double up to MaxDelay.
	var delays []time.Duration
	for p := range uint64(8) {
		d, _, _ := tr.add(1, 100+p, false)
		delays = append(delays, d)
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays %v, want %v", delays, want)
		}
	}
	if w := tr.shard(1).senders[1]; len(w.strangers) != 3 {
		t.Errorf("%d strangers remembered, want 3", len(w.strangers))
	}
	for p := range uint64(5) {
		tr.add(1, 200+p, true)
	}
	if w := tr.shard(1).senders[1]; len(w.contacts) != 2 {
		t.Errorf("%d contacts remembered, want 2", len(w.contacts))
	}
	// Many senders: never more than MaxSenders, and the prober stays.
	for s := range uint64(1000) {
		tr.add(1000+s, 1, false)
		if n := tr.tracked(); n > 32 {
			t.Fatalf("%d senders tracked", n)
		}
	}
	if tr.shard(1).senders[1] == nil {
		t.Error("the sender beyond the limit was evicted before calm ones")
	}
	// After the window, expired senders make room first.
	c.now = c.now.Add(2 * time.Hour)
	tr.add(5000, 1, false)
	if n := tr.tracked(); n > 32 || n < 1 {
		t.Errorf("%d senders tracked", n)
	}
	if tr.known(1, 100) {
		t.Error("a peer of an expired window is still known")
	}
}
