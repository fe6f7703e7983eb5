// Package mamtest provides an in-memory mam.Store with the exact semantics
// the mam package documents, for tests of mam and of features that use it,
// and as a reference for the SQL stores.
package mamtest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"dormouse.im/dormouse/mam"
)

// MemStore is an in-memory mam.Store, safe for concurrent use. The zero
// value is not usable: call New.
type MemStore struct {
	// FullText makes SupportsFullText true: Query.Text then matches
	// messages whose Body contains every word of Text (case-insensitive,
	// whole words).
	FullText bool
	// AppendDelay, if set, is slept in every Append, one Append at a
	// time, to stand for the commit of a database with a single writer
	// (SQLite) in tests and benchmarks of group commit.
	AppendDelay time.Duration

	// Appends counts Append calls; Queries counts Query calls.
	Appends, Queries atomic.Int64

	commit sync.Mutex // serializes AppendDelay

	mu    sync.Mutex
	msgs  map[string][]mam.Message // by owner, sorted by ID
	prefs map[string]mam.Prefs
}

// New returns an empty store.
func New() *MemStore {
	return &MemStore{msgs: map[string][]mam.Message{}, prefs: map[string]mam.Prefs{}}
}

var _ mam.Store = (*MemStore)(nil)

func clone(m mam.Message) mam.Message {
	m.Stanza = slices.Clone(m.Stanza)
	return m
}

// Append implements mam.Store.
func (s *MemStore) Append(ctx context.Context, msgs []mam.Message) error {
	s.Appends.Add(1)
	if s.AppendDelay > 0 {
		s.commit.Lock()
		time.Sleep(s.AppendDelay)
		s.commit.Unlock()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]map[int64]bool{}
	for _, m := range msgs {
		if m.Owner == "" || m.ID <= 0 {
			return fmt.Errorf("mamtest: invalid message owner %q id %d", m.Owner, m.ID)
		}
		if seen[m.Owner] == nil {
			seen[m.Owner] = map[int64]bool{}
		}
		if seen[m.Owner][m.ID] || s.has(m.Owner, m.ID) {
			return fmt.Errorf("mamtest: append %s %d: %w", m.Owner, m.ID, mam.ErrDuplicate)
		}
		seen[m.Owner][m.ID] = true
	}
	for _, m := range msgs {
		list := s.msgs[m.Owner]
		i, _ := slices.BinarySearchFunc(list, m.ID, func(x mam.Message, id int64) int { return cmp.Compare(x.ID, id) })
		m.Stamp = m.Stamp.UTC()
		s.msgs[m.Owner] = slices.Insert(list, i, clone(m))
	}
	return nil
}

func (s *MemStore) has(owner string, id int64) bool {
	_, ok := slices.BinarySearchFunc(s.msgs[owner], id, func(x mam.Message, id int64) int { return cmp.Compare(x.ID, id) })
	return ok
}

// words splits text into lower-case words.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// matches applies every filter of q except the id bounds.
func matches(m *mam.Message, q *mam.Query, text []string) bool {
	if q.With != "" {
		if m.With != q.With {
			return false
		}
		if q.WithResource != "" && m.WithResource != q.WithResource {
			return false
		}
	}
	if !q.Start.IsZero() && m.Stamp.Before(q.Start) {
		return false
	}
	if !q.End.IsZero() && m.Stamp.After(q.End) {
		return false
	}
	if len(q.IDs) > 0 && !slices.Contains(q.IDs, m.ID) {
		return false
	}
	if len(text) > 0 {
		body := words(m.Body)
		for _, w := range text {
			if !slices.Contains(body, w) {
				return false
			}
		}
	}
	return true
}

// Query implements mam.Store.
func (s *MemStore) Query(ctx context.Context, q mam.Query) (mam.Page, error) {
	s.Queries.Add(1)
	if err := ctx.Err(); err != nil {
		return mam.Page{}, err
	}
	if q.Text != "" && !s.FullText {
		return mam.Page{}, fmt.Errorf("mamtest: query: %w", mam.ErrFullTextUnsupported)
	}
	text := words(q.Text)
	if q.Text != "" && len(text) == 0 {
		text = []string{""} // matches nothing
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.msgs[q.Owner]
	inRange := func(m *mam.Message) bool {
		return (q.AfterID == 0 || m.ID > q.AfterID) && (q.BeforeID == 0 || m.ID < q.BeforeID)
	}
	p := mam.Page{Count: -1, Complete: true}
	if q.Count {
		p.Count = 0
		for i := range list {
			if matches(&list[i], &q, text) {
				p.Count++
			}
		}
	}
	var idx []int
	if !q.Last {
		for i := range list {
			if !inRange(&list[i]) || !matches(&list[i], &q, text) {
				continue
			}
			if len(idx) == max(q.Max, 0) {
				p.Complete = false
				break
			}
			idx = append(idx, i)
		}
	} else {
		for i := len(list) - 1; i >= 0; i-- {
			if !inRange(&list[i]) || !matches(&list[i], &q, text) {
				continue
			}
			if len(idx) == max(q.Max, 0) {
				p.Complete = false
				break
			}
			idx = append(idx, i)
		}
		slices.Reverse(idx)
	}
	for _, i := range idx {
		p.Messages = append(p.Messages, clone(list[i]))
	}
	return p, nil
}

// Bounds implements mam.Store.
func (s *MemStore) Bounds(ctx context.Context, owner string) (first, last mam.Message, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.msgs[owner]
	if len(list) == 0 {
		return first, last, fmt.Errorf("mamtest: bounds of %s: %w", owner, mam.ErrNotFound)
	}
	return clone(list[0]), clone(list[len(list)-1]), nil
}

// Has implements mam.Store.
func (s *MemStore) Has(ctx context.Context, owner string, id int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.has(owner, id), nil
}

// Prefs implements mam.Store.
func (s *MemStore) Prefs(ctx context.Context, owner string) (mam.Prefs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.prefs[owner]
	if !ok {
		return mam.Prefs{}, fmt.Errorf("mamtest: prefs of %s: %w", owner, mam.ErrNotFound)
	}
	p.Always, p.Never = slices.Clone(p.Always), slices.Clone(p.Never)
	return p, nil
}

// SetPrefs implements mam.Store.
func (s *MemStore) SetPrefs(ctx context.Context, owner string, p mam.Prefs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Default == "" {
		delete(s.prefs, owner)
		return nil
	}
	p.Always, p.Never = slices.Clone(p.Always), slices.Clone(p.Never)
	s.prefs[owner] = p
	return nil
}

// DeleteBefore implements mam.Store.
func (s *MemStore) DeleteBefore(ctx context.Context, before time.Time, owner string, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("mamtest: delete: limit %d", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type key struct {
		owner string
		m     *mam.Message
	}
	var old []key
	for o, list := range s.msgs {
		if owner != "" && o != owner {
			continue
		}
		for i := range list {
			if list[i].Stamp.Before(before) {
				old = append(old, key{o, &list[i]})
			}
		}
	}
	slices.SortFunc(old, func(a, b key) int {
		return cmp.Or(a.m.Stamp.Compare(b.m.Stamp), cmp.Compare(a.m.ID, b.m.ID), cmp.Compare(a.owner, b.owner))
	})
	if len(old) > limit {
		old = old[:limit]
	}
	gone := map[string]map[int64]bool{}
	for _, k := range old {
		if gone[k.owner] == nil {
			gone[k.owner] = map[int64]bool{}
		}
		gone[k.owner][k.m.ID] = true
	}
	for o, ids := range gone {
		s.msgs[o] = slices.DeleteFunc(s.msgs[o], func(m mam.Message) bool { return ids[m.ID] })
		if len(s.msgs[o]) == 0 {
			delete(s.msgs, o)
		}
	}
	return len(old), nil
}

// SupportsFullText implements mam.Store.
func (s *MemStore) SupportsFullText() bool { return s.FullText }

// Len returns how many messages owner's archive holds.
func (s *MemStore) Len(owner string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs[owner])
}

// All returns a copy of owner's archive, in order.
func (s *MemStore) All(owner string) []mam.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]mam.Message, 0, len(s.msgs[owner]))
	for _, m := range s.msgs[owner] {
		out = append(out, clone(m))
	}
	return out
}
