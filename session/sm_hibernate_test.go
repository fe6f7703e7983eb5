package session

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
	"mellium.im/xmpp/jid"
)

// TestHibTimers: resumption timeouts on the shared timer expire each
// hibernated session at its own time, in order, and not at all once
// cancelled (resumed), whatever order they were added in.
func TestHibTimers(t *testing.T) {
	clk := xmpptest.NewFakeClock(time.Unix(1_000_000, 0))
	srv := &Server{Router: nopRouter{}, Clock: clk}
	srv.init()
	a, z := net.Pipe()
	defer a.Close()
	defer z.Close()
	c := newConn(srv, a, netip.Addr{}, false)
	cases := []struct {
		timeout time.Duration
		cancel  bool
	}{
		0: {timeout: 30 * time.Second},
		1: {timeout: 10 * time.Second},
		2: {timeout: 20 * time.Second, cancel: true},
		3: {timeout: 10 * time.Second},
		4: {timeout: 5 * time.Second, cancel: true},
		5: {timeout: 40 * time.Second},
	}
	sess := make([]*Session, len(cases))
	for i, tc := range cases {
		s := newSession(srv, c, jid.MustParse("u@example.org/r"+strconv.Itoa(i)))
		s.mu.Lock()
		s.timeout = tc.timeout
		s.hibernateLocked()
		s.mu.Unlock()
		sess[i] = s
	}
	for i, tc := range cases {
		if tc.cancel {
			sess[i].mu.Lock()
			sess[i].stopHibLocked()
			sess[i].mu.Unlock()
		}
	}
	state := func(i int) sessState {
		sess[i].mu.Lock()
		defer sess[i].mu.Unlock()
		return sess[i].state
	}
	for _, step := range []struct {
		advance time.Duration
		ended   []int
	}{
		{9 * time.Second, nil},
		{1 * time.Second, []int{1, 3}},
		{15 * time.Second, []int{1, 3}},
		{5 * time.Second, []int{0, 1, 3}},
		{20 * time.Second, []int{0, 1, 3, 5}},
	} {
		clk.Advance(step.advance)
		for i := range cases {
			want := stateHibernated
			for _, e := range step.ended {
				if e == i {
					want = stateEnded
				}
			}
			if got := state(i); got != want {
				t.Errorf("after %v more: session %d in state %d, want %d", step.advance, i, got, want)
			}
		}
	}
	srv.hib.mu.Lock()
	left, armed := len(srv.hib.h), srv.hib.armedAt
	srv.hib.mu.Unlock()
	if left != 0 || armed != 0 {
		t.Errorf("after all deadlines: %d entries, timer set for %d", left, armed)
	}
}
