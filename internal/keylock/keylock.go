// Package keylock provides mutual exclusion per key (a user's bare JID, for
// example) with memory proportional to the keys in use: an entry exists
// only while someone holds or waits for its lock.
package keylock

import "sync"

// Map is a set of per-key mutexes. The zero value is ready to use; a Map
// must not be copied after first use.
type Map struct {
	mu sync.Mutex
	m  map[string]*entry // guarded by mu
}

type entry struct {
	sync.Mutex
	refs int // holders and waiters; guarded by Map.mu
}

// Lock locks key and returns the function that unlocks it.
func (l *Map) Lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*entry{}
	}
	e := l.m[key]
	if e == nil {
		e = &entry{}
		l.m[key] = e
	}
	e.refs++
	l.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		l.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

// Len returns the number of keys currently held or waited for.
func (l *Map) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
