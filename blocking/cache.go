package blocking

import (
	"container/list"
	"strings"
	"sync"

	"mellium.im/xmpp/jid"
)

// blockList is one user's block list. It is immutable once built, so it is
// shared without locking.
type blockList struct {
	items []string            // canonical JIDs, sorted
	set   map[string]struct{} // the same
}

var emptyList = &blockList{}

func newBlockList(items []string) *blockList {
	if len(items) == 0 {
		return emptyList
	}
	l := &blockList{items: items, set: make(map[string]struct{}, len(items))}
	for _, it := range items {
		l.set[it] = struct{}{}
	}
	return l
}

func (l *blockList) has(s string) bool {
	_, ok := l.set[s]
	return ok
}

// matches reports whether the list blocks j (XEP-0191 §5): an item
// user@domain/resource matches only that JID, user@domain any of its
// resources, domain/resource only that JID (not user@domain/resource), and
// domain anything at the domain or its subdomains.
func (l *blockList) matches(j jid.JID) bool {
	if len(l.set) == 0 {
		return false
	}
	domain := j.Domainpart()
	res := j.Resourcepart()
	if j.Localpart() != "" {
		if res != "" && l.has(j.String()) {
			return true
		}
		if l.has(j.Bare().String()) {
			return true
		}
	} else if res != "" && l.has(domain+"/"+res) {
		return true
	}
	for d := domain; ; {
		if l.has(d) {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
}

// cache is a least-recently-used cache of block lists by user (canonical
// bare JID). All fields are guarded by mu.
type cache struct {
	mu  sync.Mutex
	max int
	ll  *list.List               // of *entry, most recently used first
	m   map[string]*list.Element // by user
	gen uint64                   // incremented by every invalidation
}

type entry struct {
	user string
	l    *blockList
}

func newCache(max int) *cache {
	return &cache{max: max, ll: list.New(), m: map[string]*list.Element{}}
}

func (c *cache) get(user string) (*blockList, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hitLocked(c.m[user])
}

// getBytes is get for a user given as bytes, without converting them to a
// string.
func (c *cache) getBytes(user []byte) (*blockList, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hitLocked(c.m[string(user)])
}

// hitLocked returns e's list, marking it most recently used.
func (c *cache) hitLocked(e *list.Element) (*blockList, bool) {
	if e == nil {
		return nil, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*entry).l, true
}

// generation returns the invalidation counter, read before loading a list
// from the store.
func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches l, loaded from the store after generation returned gen, unless
// an invalidation happened since: the list may then be stale.
func (c *cache) put(user string, l *blockList, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if e, ok := c.m[user]; ok {
		e.Value.(*entry).l = l
		c.ll.MoveToFront(e)
		return
	}
	c.m[user] = c.ll.PushFront(&entry{user: user, l: l})
	for c.ll.Len() > c.max {
		old := c.ll.Remove(c.ll.Back()).(*entry)
		delete(c.m, old.user)
	}
}

// invalidate drops the user's list. Call it after the store has changed.
func (c *cache) invalidate(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if e, ok := c.m[user]; ok {
		c.ll.Remove(e)
		delete(c.m, user)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
