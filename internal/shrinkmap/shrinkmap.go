// Package shrinkmap is a Go map that gives its memory back. A Go map keeps
// the table of its peak size after its entries are deleted: a server's map
// of connections that once held 10,000 entries keeps about 30 bytes an
// entry for good, even when few remain (every hibernated session would
// carry that share). A Map is made again at its size when it falls to an
// eighth of a peak of at least 1,024 entries: a copy of n entries after at
// least 7n deletions, so deletions stay O(1) amortized.
package shrinkmap

import "iter"

// minPeak is the smallest peak worth shrinking from.
const minPeak = 1024

// Map is a map from K to V. The zero Map is empty and ready to use. It is
// not safe for concurrent use: the owner guards it with its own lock.
type Map[K comparable, V any] struct {
	m    map[K]V
	peak int // the most entries m has held since it was made
}

// Get returns the value of k and whether it is present.
func (s *Map[K, V]) Get(k K) (V, bool) {
	v, ok := s.m[k]
	return v, ok
}

// Set stores v as the value of k.
func (s *Map[K, V]) Set(k K, v V) {
	if s.m == nil {
		s.m = map[K]V{}
	}
	s.m[k] = v
	s.peak = max(s.peak, len(s.m))
}

// Delete removes k and, if the map fell to an eighth of its peak, copies
// it to a new map of its size.
func (s *Map[K, V]) Delete(k K) {
	delete(s.m, k)
	if s.peak >= minPeak && len(s.m) <= s.peak/8 {
		m := make(map[K]V, len(s.m))
		for k, v := range s.m {
			m[k] = v
		}
		s.m, s.peak = m, len(m)
	}
}

// Peak returns the most entries held since the table was made.
func (s *Map[K, V]) Peak() int { return s.peak }

// Len returns the number of entries.
func (s *Map[K, V]) Len() int { return len(s.m) }

// All returns the entries in no particular order. The map must not change
// during the iteration.
func (s *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, v := range s.m {
			if !yield(k, v) {
				return
			}
		}
	}
}

// Clear removes every entry and lets go of the table.
func (s *Map[K, V]) Clear() { s.m, s.peak = nil, 0 }
