package auth

import (
	"container/list"
	"crypto/sha256"
	"math"
	"net/netip"
	"sync"
	"time"
)

// ThrottleConfig configures a Throttle. Zero (or negative) fields take the
// documented defaults.
type ThrottleConfig struct {
	// Burst is how many failures a key may accumulate before attempts are
	// delayed. Default 10.
	Burst int
	// BaseDelay is the delay after the first failure beyond Burst; each
	// further failure doubles it. Default 1 s.
	BaseDelay time.Duration
	// MaxDelay caps the delay. Default 30 s.
	MaxDelay time.Duration
	// HalfLife is the time after which a failure counts half: a key's
	// failure score decays exponentially. Default 10 min.
	HalfLife time.Duration
	// MaxEntries caps the number of tracked keys; the least recently failed
	// one is evicted when a new key is needed. Default 100000.
	MaxEntries int
	// AccountPrefixIPv4 and AccountPrefixIPv6 are the lengths of the
	// network prefixes that per-account records are keyed on. Defaults 24
	// and 48.
	AccountPrefixIPv4 int
	AccountPrefixIPv6 int
}

// Default ThrottleConfig values.
const (
	DefaultThrottleBurst      = 10
	DefaultThrottleBaseDelay  = time.Second
	DefaultThrottleMaxDelay   = 30 * time.Second
	DefaultThrottleHalfLife   = 10 * time.Minute
	DefaultThrottleMaxEntries = 100_000
	DefaultAccountPrefixIPv4  = 24
	DefaultAccountPrefixIPv6  = 48
)

// Throttle slows down password guessing.
//
// It keeps a decaying failure score per key, where the keys of an attempt
// from address ip for account are:
//
//   - the client: ip itself for IPv4, its /64 for IPv6 (a host usually owns
//     a whole /64). This bounds how fast one client can guess, over all
//     accounts.
//   - the (account, client network) pair: account with ip's /24 (IPv4) or
//     /48 (IPv6), see ThrottleConfig. This bounds how fast one account can be
//     attacked from one network, even by a client hopping addresses within
//     it.
//
// There is deliberately no per-account key alone: it would let anyone lock a
// user out by failing logins to the account. Attempts for an account from
// other networks, and attempts for other accounts from other clients, are
// not affected by failures elsewhere. The price is that an attacker spread
// over many networks is only slowed per network; connection limits and
// monitoring must cover that.
//
// Each failure adds 1 to the score of the attempt's keys, and the score
// halves every HalfLife. Once a score exceeds Burst, the next attempt on
// that key may not be processed before BaseDelay·2^(score−Burst−1) (at most
// MaxDelay) after the last failure; Delay reports the remaining time. The
// score is capped a little above the level giving MaxDelay, so recovery
// after an attack takes a bounded time. Success clears the (account,
// network) record but not the client's: otherwise an attacker owning one
// account could launder its failures against others.
//
// Typical use, with the BeforeVerify option of NewServer, where the account
// is known (Server.Authcid, a prepared username; any canonical account name
// works if used consistently):
//
//	auth.BeforeVerify(func(ctx context.Context, user string) error {
//		t := time.NewTimer(throttle.Delay(ip, user))
//		defer t.Stop()
//		select {
//		case <-t.C:
//			return nil
//		case <-ctx.Done():
//			return ctx.Err()
//		}
//	})
//
// then Failure(ip, srv.Authcid()) when Step fails with not-authorized and
// Success(ip, srv.Username()) when it succeeds. A caller may instead refuse
// an attempt that would have to wait. Concurrent attempts are all processed
// once their delay has passed: limit concurrent connections per client too.
//
// Memory is bounded by MaxEntries. A Throttle is safe for concurrent use.
type Throttle struct {
	cfg      ThrottleConfig
	now      func() time.Time
	maxScore float64

	mu      sync.Mutex
	entries map[throttleKey]*list.Element // of *throttleEntry
	lru     list.List                     // front: most recently failed
}

// throttleKey identifies a client (account is zero) or an (account, network)
// pair (account is the SHA-256 of the account name, keeping keys small).
type throttleKey struct {
	net        netip.Prefix
	perAccount bool
	account    [sha256.Size]byte
}

type throttleEntry struct {
	key       throttleKey
	score     float64
	updated   time.Time // when score was last decayed
	notBefore time.Time // no attempt before this time
}

// NewThrottle returns a Throttle configured by cfg. now is its clock (nil
// means time.Now); tests inject a fake one.
func NewThrottle(cfg ThrottleConfig, now func() time.Time) *Throttle {
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultThrottleBurst
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = DefaultThrottleBaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultThrottleMaxDelay
	}
	if cfg.MaxDelay < cfg.BaseDelay {
		cfg.MaxDelay = cfg.BaseDelay
	}
	if cfg.HalfLife <= 0 {
		cfg.HalfLife = DefaultThrottleHalfLife
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultThrottleMaxEntries
	}
	if cfg.AccountPrefixIPv4 <= 0 || cfg.AccountPrefixIPv4 > 32 {
		cfg.AccountPrefixIPv4 = DefaultAccountPrefixIPv4
	}
	if cfg.AccountPrefixIPv6 <= 0 || cfg.AccountPrefixIPv6 > 128 {
		cfg.AccountPrefixIPv6 = DefaultAccountPrefixIPv6
	}
	if now == nil {
		now = time.Now
	}
	// The score at which the delay reaches MaxDelay, plus one failure.
	maxScore := float64(cfg.Burst) + 2 + math.Log2(float64(cfg.MaxDelay)/float64(cfg.BaseDelay))
	return &Throttle{
		cfg:      cfg,
		now:      now,
		maxScore: maxScore,
		entries:  make(map[throttleKey]*list.Element),
	}
}

// Delay returns how long the caller should wait before processing an
// attempt from ip for account: zero if the attempt may go ahead now. account
// may be "" when it is not known yet; only the client's record is consulted
// then.
func (t *Throttle) Delay(ip netip.Addr, account string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	for _, k := range t.keys(ip, account) {
		el, ok := t.entries[k]
		if !ok {
			continue
		}
		if w := el.Value.(*throttleEntry).notBefore.Sub(now); w > d {
			d = w
		}
	}
	// Bounded even if the clock went back.
	return min(d, t.cfg.MaxDelay)
}

// Failure records a failed login from ip for account ("" if unknown, e.g.
// when the client sent garbage before naming one).
func (t *Throttle) Failure(ip netip.Addr, account string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range t.keys(ip, account) {
		e := t.entry(k, now)
		t.decay(e, now)
		e.score = min(e.score+1, t.maxScore)
		if nb := now.Add(t.penalty(e.score)); nb.After(e.notBefore) {
			e.notBefore = nb
		}
	}
}

// Success records a successful login from ip for account: the failures for
// account from ip's network are forgotten. Those of ip itself are not; they
// decay.
func (t *Throttle) Success(ip netip.Addr, account string) {
	if account == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.keys(ip, account)[1]
	if el, ok := t.entries[k]; ok {
		t.lru.Remove(el)
		delete(t.entries, k)
	}
}

// Len returns the number of tracked keys.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// keys returns the client key and, if account is not empty, the (account,
// network) key of an attempt. An invalid ip is one shared client.
func (t *Throttle) keys(ip netip.Addr, account string) []throttleKey {
	ip = ip.Unmap()
	var client, network netip.Prefix
	switch {
	case ip.Is4():
		client = netip.PrefixFrom(ip, 32)
		network, _ = ip.Prefix(t.cfg.AccountPrefixIPv4)
	case ip.Is6():
		client, _ = ip.WithZone("").Prefix(64)
		network, _ = ip.WithZone("").Prefix(t.cfg.AccountPrefixIPv6)
	}
	ks := []throttleKey{{net: client}}
	if account != "" {
		ks = append(ks, throttleKey{net: network, perAccount: true, account: sha256.Sum256([]byte(account))})
	}
	return ks
}

// entry returns the record of k, creating it (and evicting the least
// recently failed record if the table is full) and marking it most recently
// used. t.mu must be held.
func (t *Throttle) entry(k throttleKey, now time.Time) *throttleEntry {
	if el, ok := t.entries[k]; ok {
		t.lru.MoveToFront(el)
		return el.Value.(*throttleEntry)
	}
	for len(t.entries) >= t.cfg.MaxEntries {
		old := t.lru.Back()
		t.lru.Remove(old)
		delete(t.entries, old.Value.(*throttleEntry).key)
	}
	e := &throttleEntry{key: k, updated: now}
	t.entries[k] = t.lru.PushFront(e)
	return e
}

// decay applies the exponential decay of e's score up to now.
func (t *Throttle) decay(e *throttleEntry, now time.Time) {
	if elapsed := now.Sub(e.updated); elapsed > 0 {
		e.score *= math.Exp2(-float64(elapsed) / float64(t.cfg.HalfLife))
		e.updated = now
	}
}

// penalty returns the delay imposed after a failure that left a key's score
// at score.
func (t *Throttle) penalty(score float64) time.Duration {
	over := score - float64(t.cfg.Burst)
	if over <= 0 {
		return 0
	}
	d := float64(t.cfg.BaseDelay) * math.Exp2(over-1)
	if d >= float64(t.cfg.MaxDelay) {
		return t.cfg.MaxDelay
	}
	return time.Duration(d)
}
