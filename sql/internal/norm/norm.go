// Package norm holds the small value normalizations both storage backends
// apply before writing, so that they behave identically.
package norm

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"dormouse.im/dormouse/roster"
)

// Domain returns the domainpart of a canonical bare JID ("alice@example.org"
// → "example.org"; a domain JID is its own domain).
func Domain(account string) string {
	if _, d, ok := strings.Cut(account, "@"); ok {
		return d
	}
	return account
}

// Groups returns groups sorted and without duplicates; nil if empty. It does
// not modify its argument.
func Groups(groups []string) []string {
	if len(groups) == 0 {
		return nil
	}
	g := slices.Clone(groups)
	slices.Sort(g)
	return slices.Compact(g)
}

// Subscription validates s; "" means roster.SubNone.
func Subscription(s string) (string, error) {
	switch s {
	case "":
		return roster.SubNone, nil
	case roster.SubNone, roster.SubTo, roster.SubFrom, roster.SubBoth:
		return s, nil
	}
	return "", fmt.Errorf("invalid subscription %q", s)
}

// Bytes returns b, or an empty non-nil slice for nil, for NOT NULL columns.
func Bytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Stamp returns t in UTC, or the current time if t is zero.
func Stamp(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC()
}
