package mam

import (
	"context"
	"slices"
	"sync"
	"time"
)

// prefsCacheSize is how many users' preferences the service keeps in
// memory.
const prefsCacheSize = 10000

// prefsCache keeps recently used preferences, so that archiving a message
// does not read the preferences of both parties from the store. A zero
// Prefs (Default "") records that the user has none. Entries are dropped
// at random when it is full. Only this service changes preferences, so the
// cache is coherent within one process; several nodes sharing a database
// will need invalidation (or a short lifetime) here.
type prefsCache struct {
	max int

	mu sync.Mutex // guards m
	m  map[string]Prefs
}

func (c *prefsCache) init(max int) {
	c.max = max
	c.m = make(map[string]Prefs)
}

func (c *prefsCache) get(owner string) (Prefs, bool) {
	c.mu.Lock()
	p, ok := c.m[owner]
	c.mu.Unlock()
	return p, ok
}

func (c *prefsCache) put(owner string, p Prefs) {
	p.Always = slices.Clone(p.Always)
	p.Never = slices.Clone(p.Never)
	c.mu.Lock()
	if _, ok := c.m[owner]; !ok && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[owner] = p
	c.mu.Unlock()
}

func (c *prefsCache) drop(owner string) {
	c.mu.Lock()
	delete(c.m, owner)
	c.mu.Unlock()
}

// querySlots bounds the archive queries each user runs at once.
type querySlots struct {
	max int

	mu    sync.Mutex // guards users
	users map[string]*userSlots
}

// userSlots is one user's semaphore; it is removed from the map when no
// query holds or waits for it.
type userSlots struct {
	sem  chan struct{} // one token per running query
	refs int           // queries holding or waiting; guarded by querySlots.mu
}

func (q *querySlots) init(max int) {
	q.max = max
	q.users = make(map[string]*userSlots)
}

// acquire waits up to wait for one of user's slots. It returns a release
// function, or ok false if none was free in time (or ctx ended).
func (q *querySlots) acquire(ctx context.Context, user string, wait time.Duration) (release func(), ok bool) {
	q.mu.Lock()
	u := q.users[user]
	if u == nil {
		u = &userSlots{sem: make(chan struct{}, q.max)}
		q.users[user] = u
	}
	u.refs++
	q.mu.Unlock()

	unref := func() {
		q.mu.Lock()
		u.refs--
		if u.refs == 0 {
			delete(q.users, user)
		}
		q.mu.Unlock()
	}
	select {
	case u.sem <- struct{}{}:
	default:
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case u.sem <- struct{}{}:
		case <-t.C:
			unref()
			return nil, false
		case <-ctx.Done():
			unref()
			return nil, false
		}
	}
	return func() {
		<-u.sem
		unref()
	}, true
}

// rateLimit lets one log line through per interval (archive failures
// happen per stanza: a database outage must not flood the log), counting
// the ones it held back.
type rateLimit struct {
	interval time.Duration

	mu         sync.Mutex // guards the fields below
	next       time.Time  // when the next line may go
	suppressed int        // lines held back since the last one
}

// allow reports whether a line may be logged now, and how many were held
// back before it.
func (l *rateLimit) allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.suppressed++
		return 0, false
	}
	l.next = now.Add(l.interval)
	suppressed, l.suppressed = l.suppressed, 0
	return suppressed, true
}
