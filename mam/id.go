package mam

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// ID layout: an archive id is
//
//	unix milliseconds << idCounterBits | counter
//
// where counter numbers the ids given out within one millisecond. The ids
// of one process are strictly increasing (idGen never goes backwards, even
// if the clock does), so ID order is archive order and paging is a range
// scan on the id. The layout lasts until the year 2248.
//
// Several nodes writing one archive (shared PostgreSQL) set
// Config.ClusterNode: the low idNodeBits bits of the counter then carry the
// node's number (1-255) and the 12 bits above them count, so two nodes
// never hand out the same id; one process needs none.
const idCounterBits = 20

// idNodeBits is the width of the node number in the ids of a cluster.
const idNodeBits = 8

// idLen is the length of a formatted id: 64 bits in base 32 (5 bits a
// character) need 13 characters.
const idLen = 13

// idAlphabet is RFC 4648 "base32hex" in lower case: URL-safe, and its
// character order is numeric order, so formatted ids (all of length idLen)
// sort like the ids themselves.
const idAlphabet = "0123456789abcdefghijklmnopqrstuv"

// ErrInvalidID is returned (wrapped) by ParseID for a string that is not a
// formatted archive id.
var ErrInvalidID = errors.New("mam: invalid archive id")

// FormatID returns the XEP-0359 stanza-id / XEP-0313 result id for an
// archive id: 13 characters of lower-case base32hex, fixed length, so the
// strings sort like the ids. id must be positive.
func FormatID(id int64) string {
	var b [idLen]byte
	u := uint64(id)
	for i := idLen - 1; i >= 0; i-- {
		b[i] = idAlphabet[u&31]
		u >>= 5
	}
	return string(b[:])
}

// ParseID parses an id formatted by FormatID. Anything else (wrong length,
// characters outside the alphabet, upper case, zero, or a value that does
// not fit a positive int64) returns an error wrapping ErrInvalidID.
func ParseID(s string) (int64, error) {
	if len(s) != idLen {
		return 0, fmt.Errorf("mam: archive id %q: %w", s, ErrInvalidID)
	}
	var u uint64
	for i := 0; i < idLen; i++ {
		c := s[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'v':
			v = c - 'a' + 10
		default:
			return 0, fmt.Errorf("mam: archive id %q: %w", s, ErrInvalidID)
		}
		// The first character holds bits 60..64: bit 63 is the sign and
		// bit 64 does not exist.
		if i == 0 && v >= 8 {
			return 0, fmt.Errorf("mam: archive id %q: %w", s, ErrInvalidID)
		}
		u = u<<5 | uint64(v)
	}
	if u == 0 {
		return 0, fmt.Errorf("mam: archive id %q: %w", s, ErrInvalidID)
	}
	return int64(u), nil
}

// IDTime returns the millisecond an id was generated in (UTC). It is the
// millisecond of the id's archive stamp (see Message.Stamp).
func IDTime(id int64) time.Time { return time.UnixMilli(id >> idCounterBits).UTC() }

// maxIDMilli is the last millisecond the id layout can represent.
const maxIDMilli = math.MaxInt64 >> idCounterBits

// FirstIDAt returns the smallest id of t's millisecond: every message
// stamped at or after t has an id at least this (see Message.Stamp), so a
// store can turn a time bound into an id bound. Times before 1970 give 1,
// times after the layout's end math.MaxInt64.
func FirstIDAt(t time.Time) int64 {
	ms := t.UnixMilli()
	switch {
	case ms <= 0:
		return 1
	case ms > maxIDMilli:
		return math.MaxInt64
	}
	return ms << idCounterBits
}

// LastIDAt returns the largest id of t's millisecond: every message
// stamped at or before t has an id at most this (see Message.Stamp).
// Times before 1970 give 0 (no id), times after the layout's end
// math.MaxInt64.
func LastIDAt(t time.Time) int64 {
	ms := t.UnixMilli()
	switch {
	case ms < 0:
		return 0
	case ms >= maxIDMilli:
		return math.MaxInt64
	}
	return (ms+1)<<idCounterBits - 1
}

// idGen hands out strictly increasing ids and non-decreasing stamps from a
// clock. It is safe for concurrent use.
type idGen struct {
	now  func() time.Time
	node int64 // 0, or this node's number (1-255) in the low idNodeBits

	mu        sync.Mutex // guards the fields below
	last      int64      // the last id given out
	lastStamp time.Time  // the last stamp given out
}

// next returns a new id and the archive stamp that goes with it: now
// truncated to the microsecond, never before the previous stamp, and in
// the id's millisecond (IDTime). Both differ from now only when the clock
// went back or more than 2^20 ids were given out in one millisecond: the
// id then moves on from the previous one, and the stamp with it (to the
// start of the id's millisecond if that is later).
func (g *idGen) next() (int64, time.Time) {
	t := g.now().UTC().Truncate(time.Microsecond)
	id := t.UnixMilli()<<idCounterBits | g.node
	g.mu.Lock()
	switch {
	case id > g.last:
	case g.node != 0:
		id = (g.last>>idNodeBits+1)<<idNodeBits | g.node
	default:
		id = g.last + 1
	}
	g.last = id
	if t.Before(g.lastStamp) {
		t = g.lastStamp
	}
	if ms := IDTime(id); t.Before(ms) {
		t = ms
	}
	g.lastStamp = t
	g.mu.Unlock()
	return id, t
}
