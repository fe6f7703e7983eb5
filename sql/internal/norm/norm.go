// Package norm holds the small value normalizations both storage backends
// apply before writing, so that they behave identically.
package norm

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/push/appserver"
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

// CeilMicro returns t in UTC rounded up to a whole microsecond. Stored
// stamps are whole microseconds, so a stamp s satisfies s >= t (or s < t)
// exactly when it satisfies s >= CeilMicro(t) (s < CeilMicro(t)).
func CeilMicro(t time.Time) time.Time {
	if f := t.Truncate(time.Microsecond); !f.Equal(t) {
		t = f.Add(time.Microsecond)
	}
	return t.UTC()
}

// FloorMicro returns t in UTC truncated to a whole microsecond: a stored
// stamp s satisfies s <= t exactly when s <= FloorMicro(t).
func FloorMicro(t time.Time) time.Time {
	return t.Truncate(time.Microsecond).UTC()
}

// FullTextWords splits a full-text query into words: the space-separated
// fields holding at least one letter or digit. Fields of punctuation only
// are dropped, as both backends' tokenizers would ignore them; a query
// without words matches nothing.
func FullTextWords(text string) []string {
	var words []string
	for _, f := range strings.Fields(text) {
		if strings.IndexFunc(f, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0 {
			words = append(words, f)
		}
	}
	return words
}

// MAMPrefs validates p.Default and returns p with its lists sorted and
// without duplicates (nil when empty).
func MAMPrefs(p mam.Prefs) (mam.Prefs, error) {
	switch p.Default {
	case mam.PrefAlways, mam.PrefRoster, mam.PrefNever:
	default:
		return mam.Prefs{}, fmt.Errorf("invalid archiving default %q", p.Default)
	}
	return mam.Prefs{Default: p.Default, Always: Groups(p.Always), Never: Groups(p.Never)}, nil
}

// ReadMAMPrefs returns preferences as read from a row: empty lists are nil.
func ReadMAMPrefs(p mam.Prefs) mam.Prefs {
	if len(p.Always) == 0 {
		p.Always = nil
	}
	if len(p.Never) == 0 {
		p.Never = nil
	}
	return p
}

// Strings returns s, or an empty non-nil slice for nil, for NOT NULL array
// (and JSON array) columns.
func Strings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Page finishes a page of archive results that a backend fetched with one
// row more than limit (to learn whether the page is complete): it sets
// Complete, drops the extra row, makes an empty page nil and, for a query
// for the last page (q.Last, fetched newest first), puts the messages in
// archive order. It returns how many rows were fetched: 0 means no row
// carried the count, which the backend then queries on its own.
func Page(page *mam.Page, limit int, last bool) (fetched int) {
	fetched = len(page.Messages)
	page.Complete = fetched <= limit
	if !page.Complete {
		page.Messages = page.Messages[:limit]
	}
	if len(page.Messages) == 0 {
		page.Messages = nil
	}
	if last {
		slices.Reverse(page.Messages)
	}
	return fetched
}

// Micros is t as Unix microseconds, 0 for the zero time (columns of push
// app server registrations).
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicros reverses Micros, in UTC.
func FromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// PushDeviceColumns are the columns ScanPushDevice reads, in order.
const PushDeviceColumns = `node, secret, app, device, token, domain, account, created, last_used, last_success, last_error, last_error_text`

// ScanPushDevice reads a push_devices row selected with PushDeviceColumns.
func ScanPushDevice(scan func(dest ...any) error) (appserver.Registration, error) {
	var r appserver.Registration
	var created, used, ok, failed int64
	err := scan(&r.Node, &r.Secret, &r.App, &r.Device, &r.Token, &r.Domain, &r.Account,
		&created, &used, &ok, &failed, &r.LastErrorText)
	r.Created, r.LastUsed, r.LastSuccess, r.LastError = FromMicros(created), FromMicros(used), FromMicros(ok), FromMicros(failed)
	return r, err
}
