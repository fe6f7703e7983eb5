package auth_test

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	attacker  = netip.MustParseAddr("192.0.2.10")
	neighbour = netip.MustParseAddr("192.0.2.99")   // same /24 as attacker
	elsewhere = netip.MustParseAddr("198.51.100.7") // another network
)

// TestThrottleBackoff checks the burst, the doubling and the cap.
func TestThrottleBackoff(t *testing.T) {
	c := newClock()
	// A very long half-life, so that waiting does not lower the score.
	th := auth.NewThrottle(auth.ThrottleConfig{HalfLife: 1000 * time.Hour}, c.now)
	want := []time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // burst of 10
		1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		30 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if d := th.Delay(attacker, "alice"); d != 0 {
			t.Fatalf("attempt %d: Delay = %v before the wait is over", i+1, d)
		}
		th.Failure(attacker, "alice")
		got := th.Delay(attacker, "alice")
		if diff := got - w; diff < -time.Millisecond || diff > time.Millisecond {
			t.Fatalf("after failure %d: Delay = %v, want %v", i+1, got, w)
		}
		c.advance(got) // the attacker waits as told
	}
}

func TestThrottleDelayCountsDown(t *testing.T) {
	c := newClock()
	th := auth.NewThrottle(auth.ThrottleConfig{Burst: 1, BaseDelay: time.Second}, c.now)
	th.Failure(attacker, "alice")
	th.Failure(attacker, "alice")
	if d := th.Delay(attacker, "alice"); d != time.Second {
		t.Fatalf("Delay = %v, want 1s", d)
	}
	c.advance(400 * time.Millisecond)
	if d := th.Delay(attacker, "alice"); d != 600*time.Millisecond {
		t.Fatalf("Delay = %v, want 600ms", d)
	}
	c.advance(time.Second)
	if d := th.Delay(attacker, "alice"); d != 0 {
		t.Fatalf("Delay = %v, want 0", d)
	}
}

// TestThrottleIsolation runs a brute-force loop against one account from
// one address and checks who else is affected.
func TestThrottleIsolation(t *testing.T) {
	v6attacker := netip.MustParseAddr("2001:db8:1:2::1")
	tests := []struct {
		name    string
		from    netip.Addr // attacker
		ip      netip.Addr
		account string
		delayed bool
	}{
		{name: "the attack itself", from: attacker, ip: attacker, account: "alice", delayed: true},
		{name: "same client, other account", from: attacker, ip: attacker, account: "bob", delayed: true},
		{name: "same client, account unknown yet", from: attacker, ip: attacker, account: "", delayed: true},
		{name: "same network, same account", from: attacker, ip: neighbour, account: "alice", delayed: true},
		{name: "same network, other account", from: attacker, ip: neighbour, account: "bob", delayed: false},
		{name: "victim from elsewhere", from: attacker, ip: elsewhere, account: "alice", delayed: false},
		{name: "other user from elsewhere", from: attacker, ip: elsewhere, account: "bob", delayed: false},
		{name: "IPv4-mapped attacker", from: attacker, ip: netip.MustParseAddr("::ffff:192.0.2.10"), account: "carol", delayed: true},
		{name: "IPv6 same /64", from: v6attacker, ip: netip.MustParseAddr("2001:db8:1:2::ffff"), account: "bob", delayed: true},
		{name: "IPv6 same /48, same account", from: v6attacker, ip: netip.MustParseAddr("2001:db8:1:3::1"), account: "alice", delayed: true},
		{name: "IPv6 same /48, other account", from: v6attacker, ip: netip.MustParseAddr("2001:db8:1:3::1"), account: "bob", delayed: false},
		{name: "IPv6 other /48, same account", from: v6attacker, ip: netip.MustParseAddr("2001:db8:2::1"), account: "alice", delayed: false},
		{name: "IPv6 zone ignored", from: v6attacker, ip: netip.MustParseAddr("2001:db8:1:2::1%eth0"), account: "bob", delayed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			th := auth.NewThrottle(auth.ThrottleConfig{}, c.now)
			for range 100 {
				th.Failure(tc.from, "alice")
				c.advance(th.Delay(tc.from, "alice"))
			}
			th.Failure(tc.from, "alice")
			if d := th.Delay(tc.ip, tc.account); (d > 0) != tc.delayed {
				t.Fatalf("Delay(%v, %q) = %v, want delayed %v", tc.ip, tc.account, d, tc.delayed)
			}
		})
	}
}

func TestThrottleDecay(t *testing.T) {
	c := newClock()
	th := auth.NewThrottle(auth.ThrottleConfig{HalfLife: time.Minute}, c.now)
	for range 11 {
		th.Failure(attacker, "alice")
	}
	if d := th.Delay(attacker, "alice"); d != time.Second {
		t.Fatalf("Delay = %v, want 1s", d)
	}
	// After one half-life the score is 5.5: four more failures are free.
	c.advance(time.Minute)
	for i := range 4 {
		th.Failure(attacker, "alice")
		if d := th.Delay(attacker, "alice"); d != 0 {
			t.Fatalf("failure %d after decay: Delay = %v, want 0", i+1, d)
		}
	}
	th.Failure(attacker, "alice")
	if d := th.Delay(attacker, "alice"); d == 0 {
		t.Fatal("no delay after the burst is used again")
	}
}

// TestThrottleRecovery checks that the score is capped, so a long attack
// does not lock the client out for long after it ends.
func TestThrottleRecovery(t *testing.T) {
	c := newClock()
	th := auth.NewThrottle(auth.ThrottleConfig{HalfLife: time.Minute}, c.now)
	for range 10000 {
		th.Failure(attacker, "alice")
	}
	c.advance(time.Minute) // score ≈ 17/2 < 10
	th.Failure(attacker, "alice")
	if d := th.Delay(attacker, "alice"); d != 0 {
		t.Fatalf("Delay = %v a half-life after a long attack, want 0", d)
	}
}

func TestThrottleSuccess(t *testing.T) {
	c := newClock()
	th := auth.NewThrottle(auth.ThrottleConfig{Burst: 2}, c.now)
	for range 5 {
		th.Failure(attacker, "alice")
	}
	// Someone in the attacker's network (or the attacker, with the right
	// password) logs in as alice: her record from that network is cleared,
	// the client's is not.
	c.advance(th.Delay(attacker, "alice"))
	th.Success(neighbour, "alice")
	if d := th.Delay(neighbour, "alice"); d != 0 {
		t.Fatalf("neighbour after success: Delay = %v", d)
	}
	th.Failure(attacker, "bob")
	if d := th.Delay(attacker, "bob"); d == 0 {
		t.Fatal("success laundered the client's failures")
	}
	th.Success(attacker, "") // no account: nothing to clear, no panic
}

func TestThrottleBoundedMemory(t *testing.T) {
	c := newClock()
	th := auth.NewThrottle(auth.ThrottleConfig{Burst: 1, MaxEntries: 10}, c.now)
	first := netip.MustParseAddr("10.0.0.1")
	th.Failure(first, "")
	th.Failure(first, "")
	if th.Delay(first, "") == 0 {
		t.Fatal("no delay")
	}
	for i := range 1000 {
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		th.Failure(ip, fmt.Sprint("user", i))
		if n := th.Len(); n > 10 {
			t.Fatalf("%d entries tracked, limit 10", n)
		}
	}
	if d := th.Delay(first, ""); d != 0 {
		t.Fatalf("oldest entry not evicted: Delay = %v", d)
	}
	// The table keeps the most recently failed keys.
	last := netip.AddrFrom4([4]byte{10, 1, 3, 231})
	th.Failure(last, "user999")
	if th.Delay(last, "user999") == 0 {
		t.Fatal("recent entry evicted")
	}
}

func TestThrottleDefaults(t *testing.T) {
	c := newClock()
	th := auth.NewThrottle(auth.ThrottleConfig{Burst: -1, BaseDelay: -1, MaxDelay: -1, HalfLife: -1, MaxEntries: -1, AccountPrefixIPv4: 99, AccountPrefixIPv6: -5}, c.now)
	for range auth.DefaultThrottleBurst {
		th.Failure(attacker, "alice")
	}
	if d := th.Delay(attacker, "alice"); d != 0 {
		t.Fatalf("Delay within burst = %v", d)
	}
	th.Failure(attacker, "alice")
	if d := th.Delay(attacker, "alice"); d != auth.DefaultThrottleBaseDelay {
		t.Fatalf("Delay = %v, want %v", d, auth.DefaultThrottleBaseDelay)
	}
	if d := th.Delay(neighbour, "alice"); d == 0 {
		t.Fatal("default /24 account prefix not applied")
	}
	if auth.NewThrottle(auth.ThrottleConfig{}, nil).Delay(attacker, "") != 0 {
		t.Fatal("fresh throttle with the real clock delays")
	}
}

func TestThrottleInvalidAddress(t *testing.T) {
	c := newClock()
	th := auth.NewThrottle(auth.ThrottleConfig{Burst: 1}, c.now)
	th.Failure(netip.Addr{}, "alice")
	th.Failure(netip.Addr{}, "alice")
	if th.Delay(netip.Addr{}, "") == 0 {
		t.Fatal("invalid addresses are not throttled together")
	}
	if th.Delay(attacker, "alice") != 0 {
		t.Fatal("invalid address affects a valid one")
	}
}

func TestThrottleConcurrent(t *testing.T) {
	c := newClock()
	th := auth.NewThrottle(auth.ThrottleConfig{MaxEntries: 50}, c.now)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				ip := netip.AddrFrom4([4]byte{10, byte(g), 0, byte(i)})
				acct := fmt.Sprint("user", i%7)
				th.Delay(ip, acct)
				th.Failure(ip, acct)
				if i%10 == 0 {
					th.Success(ip, acct)
				}
				c.advance(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if n := th.Len(); n > 50 {
		t.Fatalf("%d entries, limit 50", n)
	}
}

func TestThrottleClockBackwards(t *testing.T) {
	c := newClock()
	th := auth.NewThrottle(auth.ThrottleConfig{Burst: 1}, c.now)
	th.Failure(attacker, "alice")
	th.Failure(attacker, "alice")
	c.advance(-time.Hour)
	if d := th.Delay(attacker, "alice"); d != auth.DefaultThrottleMaxDelay {
		t.Fatalf("Delay after the clock went back = %v, want the cap %v", d, auth.DefaultThrottleMaxDelay)
	}
	th.Failure(attacker, "alice") // must not panic or decay backwards
}
