package offline

import "sync"

// userLocks serializes the delivery of each user's stored messages. Entries
// exist only while someone holds or waits for the lock, so the map does not
// grow with the number of users ever seen.
type userLocks struct {
	mu sync.Mutex
	m  map[string]*userLock // by canonical bare JID; guarded by mu
}

type userLock struct {
	sync.Mutex
	refs int // holders and waiters; guarded by userLocks.mu
}

// lock locks user and returns the function that unlocks it.
func (l *userLocks) lock(user string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*userLock{}
	}
	ul := l.m[user]
	if ul == nil {
		ul = &userLock{}
		l.m[user] = ul
	}
	ul.refs++
	l.mu.Unlock()
	ul.Lock()
	return func() {
		ul.Unlock()
		l.mu.Lock()
		ul.refs--
		if ul.refs == 0 {
			delete(l.m, user)
		}
		l.mu.Unlock()
	}
}
