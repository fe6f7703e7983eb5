package session

import (
	"sync"
	"time"
)

// registry holds the resumable sessions by SM-ID, and a bounded record of
// ended ones ("old sessions", like Prosody's smacks_max_old_sessions): for
// each, the server's h when it ended, so a <resume/> that comes too late
// gets <failed h='…'/> and the client learns which of its stanzas the
// server handled. Its lock is a leaf: it never calls into a session.
type registry struct {
	maxOld int           // old sessions kept per account
	oldTTL time.Duration // how long an old session is kept

	mu     sync.Mutex
	live   map[string]*Session      // SM-ID → resumable session (live or hibernated)
	old    map[string]*oldSession   // SM-ID → ended session
	byUser map[string][]*oldSession // account → its old sessions, oldest first
	fifo   []*oldSession            // every old session in retirement (so expiry) order
	head   int                      // fifo[:head] are gone
}

type oldSession struct {
	id, user string
	h        uint32
	expires  time.Time
	gone     bool // dropped from old (evicted by a newer one of the account)
}

func (r *registry) init(maxOld int, ttl time.Duration) {
	r.maxOld, r.oldTTL = maxOld, ttl
	r.live = map[string]*Session{}
	r.old = map[string]*oldSession{}
	r.byUser = map[string][]*oldSession{}
}

func (r *registry) add(id string, s *Session) {
	r.mu.Lock()
	r.live[id] = s
	r.mu.Unlock()
}

// remove drops a resumable session handed over to another node (no old
// session is kept: the session lives on there).
func (r *registry) remove(id string, s *Session) {
	r.mu.Lock()
	if r.live[id] == s {
		delete(r.live, id)
	}
	r.mu.Unlock()
}

// lookup returns the resumable session with that SM-ID if it belongs to
// the account; another account's session is not found (XEP-0198 §9: a
// session is only resumable by the entity that created it).
func (r *registry) lookup(id, account string) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.live[id]
	if s == nil || s.bare != account {
		return nil
	}
	return s
}

// retire moves an ended session to the old sessions with its h.
func (r *registry) retire(s *Session, h uint32, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live[s.id] != s {
		return
	}
	delete(r.live, s.id)
	r.pruneLocked(now)
	if r.maxOld <= 0 {
		return
	}
	o := &oldSession{id: s.id, user: s.bare, h: h, expires: now.Add(r.oldTTL)}
	list := r.byUser[s.bare]
	if len(list) >= r.maxOld {
		list[0].gone = true
		delete(r.old, list[0].id)
		list = append(list[:0], list[1:]...)
	}
	r.byUser[s.bare] = append(list, o)
	r.old[o.id] = o
	r.fifo = append(r.fifo, o)
}

// staleH returns the h of an ended session of the account.
func (r *registry) staleH(id, account string, now time.Time) (uint32, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	o := r.old[id]
	if o == nil || o.user != account {
		return 0, false
	}
	return o.h, true
}

// pruneLocked drops expired old sessions: they are in expiry order in fifo.
func (r *registry) pruneLocked(now time.Time) {
	for r.head < len(r.fifo) {
		o := r.fifo[r.head]
		if !o.gone && now.Before(o.expires) {
			break
		}
		if !o.gone {
			o.gone = true
			delete(r.old, o.id)
			list := r.byUser[o.user]
			for i, x := range list {
				if x == o {
					list = append(list[:i], list[i+1:]...)
					break
				}
			}
			if len(list) == 0 {
				delete(r.byUser, o.user)
			} else {
				r.byUser[o.user] = list
			}
		}
		r.fifo[r.head] = nil
		r.head++
	}
	if r.head == len(r.fifo) {
		r.fifo, r.head = r.fifo[:0], 0
	} else if r.head >= 64 && 2*r.head >= len(r.fifo) {
		n := copy(r.fifo, r.fifo[r.head:])
		clear(r.fifo[n:])
		r.fifo, r.head = r.fifo[:n], 0
	}
}

// len returns the number of resumable sessions.
func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

// sessions returns the resumable sessions.
func (r *registry) sessions() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Session, 0, len(r.live))
	for _, s := range r.live {
		out = append(out, s)
	}
	return out
}
