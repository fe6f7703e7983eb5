package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/sql"
)

// runMAM runs the message archive tests, each in a parallel subtest on its
// own stores.
func runMAM(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, *sql.Stores)
	}{
		{"RoundTrip", testMAMRoundTrip},
		{"Paging", testMAMPaging},
		{"Filters", testMAMFilters},
		{"Count", testMAMCount},
		{"FullText", testMAMFullText},
		{"Bounds", testMAMBounds},
		{"Has", testMAMHas},
		{"Prefs", testMAMPrefs},
		{"DeleteBefore", testMAMDeleteBefore},
		{"DeleteAccount", testMAMDeleteAccount},
		{"AppendErrors", testMAMAppendErrors},
		{"ConcurrentAppend", testMAMConcurrentAppend},
		{"FullTextFirstSearch", testMAMFullTextFirstSearch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// mamBase is the stamp of the first test message; it has sub-millisecond
// digits, which stores must keep.
var mamBase = time.Date(2025, 3, 14, 15, 9, 26, 535_897_000, time.UTC)

// mamStamp is the stamp of test message i: one a second.
func mamStamp(i int) time.Time { return mamBase.Add(time.Duration(i) * time.Second) }

// mamID is the archive id of test message i, laid out like the service's
// (Unix milliseconds << 20), so ids and stamps grow together.
func mamID(i int) int64 { return mamStamp(i).UnixMilli() << 20 }

// mamContacts are the parties of the test messages, in turn.
var mamContacts = []struct{ with, resource string }{
	{"romeo@example.net", "orchard"},
	{"nurse@example.com", ""},
	{"romeo@example.net", "balcony"},
	{"tybalt@example.org", "street"},
	{"romeo@example.net", ""},
}

// mamMessage returns test message i of owner's archive.
func mamMessage(owner string, i int) mam.Message {
	c := mamContacts[i%len(mamContacts)]
	m := mam.Message{
		ID:           mamID(i),
		Owner:        owner,
		With:         c.with,
		WithResource: c.resource,
		Stamp:        mamStamp(i),
		Outgoing:     i%2 == 0,
		OriginID:     fmt.Sprintf("origin-%d", i),
		Body:         fmt.Sprintf("message number %d", i),
	}
	m.Stanza = fmt.Appendf(nil, "<message xmlns='jabber:client' id='m%d'><body>%s</body><stanza-id xmlns='urn:xmpp:sid:0' by='%s' id='%d'/></message>", i, m.Body, owner, m.ID)
	return m
}

// mamMessages returns test messages from to to-1 of owner's archive.
func mamMessages(owner string, from, to int) []mam.Message {
	var ms []mam.Message
	for i := from; i < to; i++ {
		ms = append(ms, mamMessage(owner, i))
	}
	return ms
}

// ids returns the ids of ms.
func ids(ms []mam.Message) []int64 {
	var ids []int64
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

// mamIDs returns the ids of the test messages whose numbers are given.
func mamIDs(nums ...int) []int64 {
	var ids []int64
	for _, n := range nums {
		ids = append(ids, mamID(n))
	}
	return ids
}

// span returns from, from+1, ..., to-1.
func span(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// equalMessage compares all fields; stamps must be equal instants in UTC.
func equalMessage(a, b mam.Message) bool {
	return a.ID == b.ID && a.Owner == b.Owner && a.With == b.With &&
		a.WithResource == b.WithResource && a.Stamp.Equal(b.Stamp) &&
		a.Stamp.Location() == time.UTC && a.Outgoing == b.Outgoing &&
		a.OriginID == b.OriginID && a.Body == b.Body && bytes.Equal(a.Stanza, b.Stanza)
}

// query runs q, failing the test on error.
func query(t *testing.T, s *sql.Stores, q mam.Query) mam.Page {
	t.Helper()
	p, err := s.MAM.Query(t.Context(), q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	return p
}

// wantPage checks the ids (numbers of test messages) and completeness of
// the page q returns, and that Count is -1 unless asked for.
func wantPage(t *testing.T, s *sql.Stores, q mam.Query, nums []int, complete bool) mam.Page {
	t.Helper()
	p := query(t, s, q)
	if got, want := ids(p.Messages), mamIDs(nums...); !slices.Equal(got, want) || p.Complete != complete {
		t.Errorf("Query(%+v) = ids %v, complete %v; want %v, %v", q, got, p.Complete, want, complete)
	}
	if !q.Count && p.Count != -1 {
		t.Errorf("Query(%+v) without Count: Count = %d, want -1", q, p.Count)
	}
	return p
}

func testMAMRoundTrip(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)

	ms := mamMessages(user, 0, 5)
	// Awkward values: binary and large stanzas, Unicode, empty optional fields.
	ms[1].Stanza = []byte("<message><body>Ünïcödé 友達 🌹 &amp; \x00\xff not even UTF-8</body></message>")
	ms[1].Body = "Ünïcödé 友達 🌹 & <b>"
	ms[2].Stanza = bytes.Repeat([]byte("<body>wherefore art thou, Romeo? ♥</body>"), 5000)
	ms[3].OriginID, ms[3].Body, ms[3].WithResource = "", "", ""
	ms[4].Stamp = ms[4].Stamp.In(time.FixedZone("UTC+5:30", 5*3600+1800))
	check(t, "Append", s.MAM.Append(ctx, ms))
	// The same ids in another archive (a message between two local users).
	check(t, "Append to another archive", s.MAM.Append(ctx, mamMessages(other, 0, 3)))
	check(t, "Append nothing", s.MAM.Append(ctx, nil))

	p := query(t, s, mam.Query{Owner: user, Max: 100})
	if len(p.Messages) != len(ms) || !p.Complete || p.Count != -1 {
		t.Fatalf("Query = %d messages, complete %v, count %d; want %d, true, -1", len(p.Messages), p.Complete, p.Count, len(ms))
	}
	for i, m := range p.Messages {
		want := ms[i]
		want.Stamp = want.Stamp.UTC()
		if !equalMessage(m, want) {
			t.Errorf("message %d = %+.200v\nwant %+.200v", i, m, want)
		}
	}
	if p := query(t, s, mam.Query{Owner: other, Max: 100}); len(p.Messages) != 3 || p.Messages[0].Owner != other {
		t.Errorf("the other archive holds %d messages, want 3", len(p.Messages))
	}

	// A zero stamp is stored as the current time.
	before := time.Now()
	m := mamMessage(other, 100)
	m.Stamp = time.Time{}
	check(t, "Append with a zero stamp", s.MAM.Append(ctx, []mam.Message{m}))
	_, last, err := s.MAM.Bounds(ctx, other)
	check(t, "Bounds", err)
	if last.ID != m.ID || last.Stamp.Before(before.Add(-time.Second)) || last.Stamp.After(time.Now().Add(time.Second)) {
		t.Errorf("zero stamp stored as %v, want about %v", last.Stamp, before)
	}
}

// fillMAM appends test messages 0 to 9 to user's archive (in two batches
// and one single message) and messages 0 to 4 to other's.
func fillMAM(t *testing.T, s *sql.Stores, user, other string) {
	t.Helper()
	ctx := t.Context()
	check(t, "Append", s.MAM.Append(ctx, mamMessages(user, 0, 4)))
	check(t, "Append", s.MAM.Append(ctx, mamMessages(user, 4, 5)))
	check(t, "Append", s.MAM.Append(ctx, mamMessages(user, 5, 10)))
	check(t, "Append", s.MAM.Append(ctx, mamMessages(other, 0, 5)))
}

func testMAMPaging(t *testing.T, s *sql.Stores) {
	const user, other, empty = "juliet@example.com", "romeo@example.net", "nurse@example.com"
	createAccounts(t, s, user, other, empty)
	fillMAM(t, s, user, other)
	all := span(0, 10)

	// An empty archive: nothing, complete, in both directions and for any Max.
	for _, last := range []bool{false, true} {
		for _, max := range []int{0, 1, 10} {
			wantPage(t, s, mam.Query{Owner: empty, Max: max, Last: last}, nil, true)
		}
		wantPage(t, s, mam.Query{Owner: "ghost@example.org", Max: 10, Last: last}, nil, true)
	}

	// Max at the boundaries, forward and backward.
	for _, tc := range []struct {
		max         int
		first, last []int
		complete    bool
	}{
		{0, nil, nil, false},
		{-1, nil, nil, false},
		{1, []int{0}, []int{9}, false},
		{9, span(0, 9), span(1, 10), false},
		{10, all, all, true},
		{11, all, all, true},
		{1000, all, all, true},
	} {
		wantPage(t, s, mam.Query{Owner: user, Max: tc.max}, tc.first, tc.complete)
		wantPage(t, s, mam.Query{Owner: user, Max: tc.max, Last: true}, tc.last, tc.complete)
	}

	// AfterID and BeforeID are exclusive, and need not exist.
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(2), Max: 3}, []int{3, 4, 5}, false)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(6), Max: 3}, []int{7, 8, 9}, true)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(6), Max: 4}, []int{7, 8, 9}, true)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(6), Max: 2}, []int{7, 8}, false)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(9), Max: 5}, nil, true)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(9), Max: 0}, nil, true)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(8), Max: 0}, nil, false)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(2) + 1, Max: 2}, []int{3, 4}, false)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(2) - 1, Max: 2}, []int{2, 3}, false)
	wantPage(t, s, mam.Query{Owner: user, BeforeID: mamID(5), Max: 2, Last: true}, []int{3, 4}, false)
	wantPage(t, s, mam.Query{Owner: user, BeforeID: mamID(2), Max: 2, Last: true}, []int{0, 1}, true)
	wantPage(t, s, mam.Query{Owner: user, BeforeID: mamID(2), Max: 1, Last: true}, []int{1}, false)
	wantPage(t, s, mam.Query{Owner: user, BeforeID: mamID(0), Max: 5, Last: true}, nil, true)
	// BeforeID without Last: the oldest messages before it.
	wantPage(t, s, mam.Query{Owner: user, BeforeID: mamID(5), Max: 2}, []int{0, 1}, false)
	wantPage(t, s, mam.Query{Owner: user, BeforeID: mamID(5), Max: 5}, span(0, 5), true)
	// AfterID with Last: the newest messages after it.
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(5), Max: 2, Last: true}, []int{8, 9}, false)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(5), Max: 4, Last: true}, []int{6, 7, 8, 9}, true)
	// Both: a window.
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(1), BeforeID: mamID(6), Max: 10}, []int{2, 3, 4, 5}, true)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(1), BeforeID: mamID(6), Max: 3}, []int{2, 3, 4}, false)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(1), BeforeID: mamID(6), Max: 3, Last: true}, []int{3, 4, 5}, false)
	wantPage(t, s, mam.Query{Owner: user, AfterID: mamID(4), BeforeID: mamID(5), Max: 3}, nil, true)

	// Walking the archive page by page, in both directions.
	var got []int64
	q := mam.Query{Owner: user, Max: 3}
	for pages := 0; ; pages++ {
		p := query(t, s, q)
		got = append(got, ids(p.Messages)...)
		if p.Complete {
			if pages != 3 {
				t.Errorf("forward walk: %d pages, want 4", pages+1)
			}
			break
		}
		if pages > 10 {
			t.Fatal("forward walk does not end")
		}
		q.AfterID = p.Messages[len(p.Messages)-1].ID
	}
	if want := mamIDs(all...); !slices.Equal(got, want) {
		t.Errorf("forward walk: %v, want %v", got, want)
	}
	got = nil
	q = mam.Query{Owner: user, Max: 4, Last: true}
	for pages := 0; ; pages++ {
		p := query(t, s, q)
		got = append(ids(p.Messages), got...)
		if p.Complete {
			if pages != 2 {
				t.Errorf("backward walk: %d pages, want 3", pages+1)
			}
			break
		}
		if pages > 10 {
			t.Fatal("backward walk does not end")
		}
		q.BeforeID = p.Messages[0].ID
	}
	if want := mamIDs(all...); !slices.Equal(got, want) {
		t.Errorf("backward walk: %v, want %v", got, want)
	}
}

func testMAMFilters(t *testing.T, s *sql.Stores) {
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	fillMAM(t, s, user, other)

	// With: messages 0, 2, 4, 5, 7, 9 are with romeo (bare or full JID).
	romeo := []int{0, 2, 4, 5, 7, 9}
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", Max: 10}, romeo, true)
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", Max: 2}, []int{0, 2}, false)
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", Max: 2, Last: true}, []int{7, 9}, false)
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", AfterID: mamID(4), Max: 2}, []int{5, 7}, false)
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", AfterID: mamID(5), Max: 2}, []int{7, 9}, true)
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", BeforeID: mamID(4), Max: 5, Last: true}, []int{0, 2}, true)
	wantPage(t, s, mam.Query{Owner: user, With: "nurse@example.com", Max: 10}, []int{1, 6}, true)
	wantPage(t, s, mam.Query{Owner: user, With: "benvolio@example.net", Max: 10}, nil, true)
	wantPage(t, s, mam.Query{Owner: other, With: "romeo@example.net", Max: 10}, []int{0, 2, 4}, true)
	// WithResource: a full JID.
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", WithResource: "orchard", Max: 10}, []int{0, 5}, true)
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", WithResource: "balcony", Max: 10, Last: true}, []int{2, 7}, true)
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", WithResource: "balcony", Max: 1, Last: true}, []int{7}, false)
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", WithResource: "street", Max: 10}, nil, true)

	// Start and End are inclusive, at microsecond precision.
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(3), Max: 10}, span(3, 10), true)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(3).Add(time.Microsecond), Max: 10}, span(4, 10), true)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(3).Add(time.Nanosecond), Max: 10}, span(4, 10), true)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(3).Add(-time.Microsecond), Max: 10}, span(3, 10), true)
	wantPage(t, s, mam.Query{Owner: user, End: mamStamp(6), Max: 10}, span(0, 7), true)
	wantPage(t, s, mam.Query{Owner: user, End: mamStamp(6).Add(-time.Nanosecond), Max: 10}, span(0, 6), true)
	wantPage(t, s, mam.Query{Owner: user, End: mamStamp(6).Add(time.Microsecond - 1), Max: 10}, span(0, 7), true)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(3), End: mamStamp(6), Max: 10}, span(3, 7), true)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(3), End: mamStamp(3), Max: 10}, []int{3}, true)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(3), End: mamStamp(6), Max: 2}, []int{3, 4}, false)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(3), End: mamStamp(6), Max: 2, Last: true}, []int{5, 6}, false)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(3), End: mamStamp(6), AfterID: mamID(4), Max: 2}, []int{5, 6}, true)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(3), End: mamStamp(6), BeforeID: mamID(5), Max: 5, Last: true}, []int{3, 4}, true)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(6), End: mamStamp(3), Max: 10}, nil, true)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(10), Max: 10}, nil, true)
	wantPage(t, s, mam.Query{Owner: user, End: mamStamp(-1), Max: 10, Last: true}, nil, true)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(-100), End: mamStamp(100), Max: 10}, span(0, 10), true)
	// Bounds in another time zone.
	zone := time.FixedZone("UTC-3", -3*3600)
	wantPage(t, s, mam.Query{Owner: user, Start: mamStamp(8).In(zone), Max: 10}, []int{8, 9}, true)
	// Time and 'with' together.
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", Start: mamStamp(3), End: mamStamp(8), Max: 10}, []int{4, 5, 7}, true)
	wantPage(t, s, mam.Query{Owner: user, With: "romeo@example.net", WithResource: "orchard", Start: mamStamp(1), Max: 10}, []int{5}, true)

	// IDs: exactly those present in this archive, in id order.
	list := []int64{mamID(7), mamID(2), 12345, mamID(2), mamID(9), mamID(20), mamID(0) + 1}
	wantPage(t, s, mam.Query{Owner: user, IDs: list, Max: 10}, []int{2, 7, 9}, true)
	wantPage(t, s, mam.Query{Owner: user, IDs: list, Max: 2}, []int{2, 7}, false)
	wantPage(t, s, mam.Query{Owner: user, IDs: list, Max: 2, Last: true}, []int{7, 9}, false)
	wantPage(t, s, mam.Query{Owner: user, IDs: list, AfterID: mamID(2), Max: 10}, []int{7, 9}, true)
	wantPage(t, s, mam.Query{Owner: user, IDs: list, With: "romeo@example.net", WithResource: "balcony", Max: 10}, []int{2, 7}, true)
	wantPage(t, s, mam.Query{Owner: user, IDs: []int64{12345}, Max: 10}, nil, true)
	// Ids 7 and 9 are not in the other archive.
	wantPage(t, s, mam.Query{Owner: other, IDs: list, Max: 10}, []int{2}, true)
}

func testMAMCount(t *testing.T, s *sql.Stores) {
	const user, other, empty = "juliet@example.com", "romeo@example.net", "nurse@example.com"
	createAccounts(t, s, user, other, empty)
	fillMAM(t, s, user, other)

	for _, tc := range []struct {
		q        mam.Query
		nums     []int
		complete bool
		count    int
	}{
		{mam.Query{Owner: empty, Max: 10}, nil, true, 0},
		{mam.Query{Owner: empty, Max: 0}, nil, true, 0},
		{mam.Query{Owner: user, Max: 3}, []int{0, 1, 2}, false, 10},
		{mam.Query{Owner: user, Max: 3, Last: true}, []int{7, 8, 9}, false, 10},
		{mam.Query{Owner: user, Max: 0}, nil, false, 10},
		{mam.Query{Owner: user, Max: 10}, span(0, 10), true, 10},
		// Count ignores AfterID, BeforeID, Max and Last...
		{mam.Query{Owner: user, AfterID: mamID(5), Max: 2}, []int{6, 7}, false, 10},
		{mam.Query{Owner: user, AfterID: mamID(9), Max: 2}, nil, true, 10},
		{mam.Query{Owner: user, AfterID: mamID(2), BeforeID: mamID(5), Max: 2, Last: true}, []int{3, 4}, true, 10},
		{mam.Query{Owner: user, BeforeID: mamID(5), Max: 2, Last: true}, []int{3, 4}, false, 10},
		// ...but not the filters.
		{mam.Query{Owner: user, With: "romeo@example.net", Max: 2}, []int{0, 2}, false, 6},
		{mam.Query{Owner: user, With: "romeo@example.net", WithResource: "orchard", Max: 0}, nil, false, 2},
		{mam.Query{Owner: user, Start: mamStamp(3), End: mamStamp(6), AfterID: mamID(6), Max: 2}, nil, true, 4},
		{mam.Query{Owner: user, IDs: mamIDs(1, 3, 5, 11), Max: 1}, []int{1}, false, 3},
		{mam.Query{Owner: other, Max: 100}, span(0, 5), true, 5},
	} {
		q := tc.q
		q.Count = true
		p := wantPage(t, s, q, tc.nums, tc.complete)
		if p.Count != tc.count {
			t.Errorf("Query(%+v): Count = %d, want %d", q, p.Count, tc.count)
		}
	}
}

func testMAMFullText(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	if !s.MAM.SupportsFullText() {
		_, err := s.MAM.Query(ctx, mam.Query{Owner: user, Text: "romeo", Max: 10})
		wantErr(t, "Query with Text", err, mam.ErrFullTextUnsupported)
		return
	}
	bodies := []string{
		"O Romeo, Romeo! wherefore art thou Romeo?",
		"The orchard walls are high and hard to climb",
		"",
		"ROMEO: With love's light wings did I o'erperch these walls",
		"Good night, good night! Parting is such sweet sorrow",
		"He said: \"quoted\" text; DROP TABLE archive; -- *",
		"Überraschung für Romeo: 友達",
	}
	var ms, others []mam.Message
	for i, b := range bodies {
		m := mamMessage(user, i)
		m.Body = b
		ms = append(ms, m)
		m.Owner = other
		others = append(others, m)
	}
	check(t, "Append", s.MAM.Append(ctx, ms))
	check(t, "Append", s.MAM.Append(ctx, others)) // the same texts in another archive

	for _, tc := range []struct {
		text string
		nums []int
	}{
		{"romeo", []int{0, 3, 6}}, // case-insensitive
		{"ROMEO", []int{0, 3, 6}},
		{"  Romeo   walls ", []int{3}}, // every word
		{"walls", []int{1, 3}},
		{"night sorrow", []int{4}},
		{"sorrow juliet", nil},
		{"capulet", nil},
		{"wall", nil}, // no stemming or prefixes
		{"quoted", []int{5}},
		{`"quoted"`, []int{5}},
		{`"romeo`, []int{0, 3, 6}},
		{"DROP TABLE", []int{5}},
		{"*", nil}, // no words at all
		{"-- ; ' \"", nil},
		{"überraschung", []int{6}},
		{"友達", []int{6}},
	} {
		wantPage(t, s, mam.Query{Owner: user, Text: tc.text, Max: 10}, tc.nums, true)
	}

	// With the other filters and paging.
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", Max: 2}, []int{0, 3}, false)
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", Max: 2, Last: true}, []int{3, 6}, false)
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", AfterID: mamID(0), Max: 2}, []int{3, 6}, true)
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", AfterID: mamID(0), Max: 1}, []int{3}, false)
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", BeforeID: mamID(5), Max: 5, Last: true}, []int{0, 3}, true)
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", With: "romeo@example.net", Max: 10}, []int{0}, true)
	wantPage(t, s, mam.Query{Owner: user, Text: "orchard walls", With: "nurse@example.com", Max: 10}, []int{1}, true)
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", With: "romeo@example.net", WithResource: "balcony", Max: 10}, nil, true)
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", Start: mamStamp(1), End: mamStamp(6), Max: 10}, []int{3, 6}, true)
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", Start: mamStamp(1), End: mamStamp(5), Max: 10}, []int{3}, true)
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", IDs: mamIDs(0, 1, 6), Max: 10}, []int{0, 6}, true)
	p := wantPage(t, s, mam.Query{Owner: user, Text: "romeo", Max: 1, Count: true}, []int{0}, false)
	if p.Count != 3 {
		t.Errorf("full-text Count = %d, want 3", p.Count)
	}
	p = wantPage(t, s, mam.Query{Owner: user, Text: "!!", Max: 1, Count: true}, nil, true)
	if p.Count != 0 {
		t.Errorf("Count of a query without words = %d, want 0", p.Count)
	}

	// Words in many messages (more than a thousand, in another archive: a
	// backend may plan common and rare words differently).
	var common []mam.Message
	for i := 100; i < 1600; i++ {
		m := mamMessage(other, i)
		m.Body = fmt.Sprintf("sweet sorrow %d", i)
		common = append(common, m)
	}
	check(t, "Append", s.MAM.Append(ctx, common))
	wantPage(t, s, mam.Query{Owner: user, Text: "sorrow", Max: 10}, []int{4}, true)
	wantPage(t, s, mam.Query{Owner: user, Text: "Sweet sorrow", Max: 10, Last: true}, []int{4}, true)
	wantPage(t, s, mam.Query{Owner: user, Text: "sorrow", AfterID: mamID(4), Max: 10}, nil, true)
	wantPage(t, s, mam.Query{Owner: other, Text: "sorrow", Max: 3}, []int{4, 100, 101}, false)
	wantPage(t, s, mam.Query{Owner: other, Text: "sorrow", Max: 2, Last: true}, []int{1598, 1599}, false)
	wantPage(t, s, mam.Query{Owner: other, Text: "sorrow", BeforeID: mamID(101), Max: 5, Last: true}, []int{4, 100}, true)
	wantPage(t, s, mam.Query{Owner: other, Text: "sorrow 1234", Max: 5}, []int{1234}, true)
	p = wantPage(t, s, mam.Query{Owner: other, Text: "sorrow", With: "nurse@example.com", AfterID: mamID(1500), Max: 2, Count: true}, []int{1501, 1506}, false)
	if p.Count != 300 {
		t.Errorf("Count of a common word with a contact = %d, want 300", p.Count)
	}
	n, err := s.MAM.DeleteBefore(ctx, mamStamp(1000), other, 2000)
	if err != nil || n != 907 { // 0 to 6 and 100 to 999
		t.Fatalf("DeleteBefore = %d, %v; want 907", n, err)
	}

	// The index follows deletions: retention, and account deletion.
	n, err = s.MAM.DeleteBefore(ctx, mamStamp(1), user, 10)
	if err != nil || n != 1 {
		t.Fatalf("DeleteBefore = %d, %v; want 1", n, err)
	}
	wantPage(t, s, mam.Query{Owner: user, Text: "romeo", Max: 10}, []int{3, 6}, true)
	wantPage(t, s, mam.Query{Owner: other, Text: "romeo", Max: 10}, nil, true)
	wantPage(t, s, mam.Query{Owner: other, Text: "sorrow", Max: 2}, []int{1000, 1001}, false)
	check(t, "DeleteAccount", s.Accounts.DeleteAccount(ctx, other))
	createAccounts(t, s, other)
	wantPage(t, s, mam.Query{Owner: other, Text: "romeo", Max: 10}, nil, true)
	m := mamMessage(other, 0)
	m.Body = "sweet sorrow"
	check(t, "Append after re-creating the account", s.MAM.Append(ctx, []mam.Message{m}))
	wantPage(t, s, mam.Query{Owner: other, Text: "romeo", Max: 10}, nil, true)
	wantPage(t, s, mam.Query{Owner: other, Text: "sorrow", Max: 10}, []int{0}, true)
}

func testMAMBounds(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	_, _, err := s.MAM.Bounds(ctx, user)
	wantErr(t, "Bounds of an empty archive", err, mam.ErrNotFound)
	_, _, err = s.MAM.Bounds(ctx, "ghost@example.org")
	wantErr(t, "Bounds of a user without an account", err, mam.ErrNotFound)

	check(t, "Append", s.MAM.Append(ctx, mamMessages(other, 7, 8)))
	first, last, err := s.MAM.Bounds(ctx, other)
	check(t, "Bounds of a one-message archive", err)
	if first.ID != mamID(7) || last.ID != mamID(7) {
		t.Errorf("Bounds of a one-message archive = %d, %d; want %d twice", first.ID, last.ID, mamID(7))
	}
	_, _, err = s.MAM.Bounds(ctx, user)
	wantErr(t, "Bounds of an empty archive when another is not", err, mam.ErrNotFound)

	fillMAM(t, s, user, other)
	first, last, err = s.MAM.Bounds(ctx, user)
	check(t, "Bounds", err)
	for _, c := range []struct {
		got  mam.Message
		want mam.Message
	}{{first, mamMessage(user, 0)}, {last, mamMessage(user, 9)}} {
		c.got.Stanza = c.want.Stanza // may be left empty
		if !equalMessage(c.got, c.want) {
			t.Errorf("Bounds returned %+v, want %+v", c.got, c.want)
		}
	}
	// The other archive has messages 0 to 4 and 7 now.
	first, last, err = s.MAM.Bounds(ctx, other)
	if err != nil || first.ID != mamID(0) || last.ID != mamID(7) {
		t.Errorf("Bounds of the other archive = %d, %d, %v; want %d, %d", first.ID, last.ID, err, mamID(0), mamID(7))
	}
}

func testMAMHas(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	fillMAM(t, s, user, other)
	for _, tc := range []struct {
		owner string
		id    int64
		want  bool
	}{
		{user, mamID(0), true},
		{user, mamID(9), true},
		{user, mamID(9) + 1, false},
		{user, mamID(10), false},
		{user, 0, false},
		{other, mamID(4), true},
		{other, mamID(5), false}, // in the user's archive only
		{"ghost@example.org", mamID(0), false},
	} {
		got, err := s.MAM.Has(ctx, tc.owner, tc.id)
		if err != nil || got != tc.want {
			t.Errorf("Has(%s, %d) = %v, %v; want %v", tc.owner, tc.id, got, err, tc.want)
		}
	}
}

func testMAMPrefs(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	_, err := s.MAM.Prefs(ctx, user)
	wantErr(t, "Prefs never set", err, mam.ErrNotFound)

	equalPrefs := func(a, b mam.Prefs) bool {
		sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
		return a.Default == b.Default && slices.Equal(sorted(a.Always), sorted(b.Always)) && slices.Equal(sorted(a.Never), sorted(b.Never))
	}
	for _, tc := range []struct{ set, want mam.Prefs }{
		{mam.Prefs{Default: mam.PrefRoster}, mam.Prefs{Default: mam.PrefRoster}},
		{
			mam.Prefs{Default: mam.PrefAlways, Always: []string{"romeo@example.net", "nurse@example.com", "romeo@example.net"}, Never: []string{"tybalt@example.org/street", "montague.example"}},
			mam.Prefs{Default: mam.PrefAlways, Always: []string{"nurse@example.com", "romeo@example.net"}, Never: []string{"montague.example", "tybalt@example.org/street"}},
		},
		{mam.Prefs{Default: mam.PrefNever, Always: []string{"友達@example.jp"}, Never: []string{}}, mam.Prefs{Default: mam.PrefNever, Always: []string{"友達@example.jp"}}},
	} {
		check(t, "SetPrefs", s.MAM.SetPrefs(ctx, user, tc.set))
		got, err := s.MAM.Prefs(ctx, user)
		check(t, "Prefs", err)
		if !equalPrefs(got, tc.want) {
			t.Errorf("after SetPrefs(%+v), Prefs = %+v; want %+v", tc.set, got, tc.want)
		}
		if len(got.Never) == 0 && got.Never != nil || len(got.Always) == 0 && got.Always != nil {
			t.Errorf("Prefs = %#v, want nil for empty lists", got)
		}
	}
	if err := s.MAM.SetPrefs(ctx, user, mam.Prefs{Default: "sometimes"}); err == nil {
		t.Errorf("SetPrefs with an invalid default succeeded")
	}
	if got, _ := s.MAM.Prefs(ctx, user); got.Default != mam.PrefNever {
		t.Errorf("an invalid SetPrefs changed the prefs to %+v", got)
	}
	_, err = s.MAM.Prefs(ctx, other)
	wantErr(t, "Prefs of another user", err, mam.ErrNotFound)

	// A zero Prefs deletes them.
	check(t, "SetPrefs to zero", s.MAM.SetPrefs(ctx, user, mam.Prefs{}))
	_, err = s.MAM.Prefs(ctx, user)
	wantErr(t, "Prefs after reset", err, mam.ErrNotFound)
	check(t, "SetPrefs to zero again", s.MAM.SetPrefs(ctx, user, mam.Prefs{}))

	wantErr(t, "SetPrefs for a user without an account", s.MAM.SetPrefs(ctx, "ghost@example.org", mam.Prefs{Default: mam.PrefAlways}), auth.ErrNotFound)
	check(t, "SetPrefs to zero for a user without an account", s.MAM.SetPrefs(ctx, "ghost@example.org", mam.Prefs{}))
}

func testMAMDeleteBefore(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	fillMAM(t, s, user, other)
	check(t, "Append", s.MAM.Append(ctx, mamMessages(other, 5, 10)))

	if _, err := s.MAM.DeleteBefore(ctx, mamStamp(5), user, 0); err == nil {
		t.Errorf("DeleteBefore with limit 0 succeeded")
	}
	// Per owner, in chunks, oldest first; the stamp bound is exclusive.
	for i, want := range []int{2, 2, 1, 0} {
		n, err := s.MAM.DeleteBefore(ctx, mamStamp(5), user, 2)
		if err != nil || n != want {
			t.Fatalf("DeleteBefore call %d = %d, %v; want %d", i, n, err, want)
		}
		first, _, err := s.MAM.Bounds(ctx, user)
		check(t, "Bounds", err)
		if wantFirst := mamID(min(2*(i+1), 5)); first.ID != wantFirst {
			t.Errorf("after DeleteBefore call %d, the oldest message is %d, want %d", i, first.ID, wantFirst)
		}
	}
	wantPage(t, s, mam.Query{Owner: user, Max: 10}, span(5, 10), true)
	wantPage(t, s, mam.Query{Owner: other, Max: 10}, span(0, 10), true)

	// A bound between two whole microseconds.
	n, err := s.MAM.DeleteBefore(ctx, mamStamp(5).Add(time.Nanosecond), user, 10)
	if err != nil || n != 1 {
		t.Errorf("DeleteBefore just after a stamp = %d, %v; want 1", n, err)
	}

	// Every owner.
	for i, want := range []int{3, 3, 2, 0} {
		n, err := s.MAM.DeleteBefore(ctx, mamStamp(7), "", 3)
		if err != nil || n != want {
			t.Fatalf("DeleteBefore for every owner, call %d = %d, %v; want %d", i, n, err, want)
		}
	}
	wantPage(t, s, mam.Query{Owner: user, Max: 10}, span(7, 10), true)
	wantPage(t, s, mam.Query{Owner: other, Max: 10}, span(7, 10), true)
	n, err = s.MAM.DeleteBefore(ctx, mamStamp(100), "", 1000)
	if err != nil || n != 6 {
		t.Errorf("DeleteBefore of everything = %d, %v; want 6", n, err)
	}
	for _, u := range []string{user, other} {
		_, _, err := s.MAM.Bounds(ctx, u)
		wantErr(t, "Bounds after deleting everything", err, mam.ErrNotFound)
	}
	n, err = s.MAM.DeleteBefore(ctx, mamStamp(100), "ghost@example.org", 10)
	if err != nil || n != 0 {
		t.Errorf("DeleteBefore for a user without an account = %d, %v; want 0", n, err)
	}
}

func testMAMDeleteAccount(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	fillMAM(t, s, user, other)
	check(t, "SetPrefs", s.MAM.SetPrefs(ctx, user, mam.Prefs{Default: mam.PrefAlways, Never: []string{"tybalt@example.org"}}))
	check(t, "SetPrefs", s.MAM.SetPrefs(ctx, other, mam.Prefs{Default: mam.PrefRoster}))

	check(t, "DeleteAccount", s.Accounts.DeleteAccount(ctx, user))
	p := wantPage(t, s, mam.Query{Owner: user, Max: 10, Count: true}, nil, true)
	if p.Count != 0 {
		t.Errorf("Count after DeleteAccount = %d, want 0", p.Count)
	}
	_, _, err := s.MAM.Bounds(ctx, user)
	wantErr(t, "Bounds after DeleteAccount", err, mam.ErrNotFound)
	_, err = s.MAM.Prefs(ctx, user)
	wantErr(t, "Prefs after DeleteAccount", err, mam.ErrNotFound)
	if ok, err := s.MAM.Has(ctx, user, mamID(0)); ok || err != nil {
		t.Errorf("Has after DeleteAccount = %v, %v", ok, err)
	}
	// The other user keeps everything.
	wantPage(t, s, mam.Query{Owner: other, Max: 10}, span(0, 5), true)
	if p, err := s.MAM.Prefs(ctx, other); err != nil || p.Default != mam.PrefRoster {
		t.Errorf("other user's Prefs = %+v, %v", p, err)
	}

	// A re-created account starts with an empty archive and takes the old ids.
	createAccounts(t, s, user)
	wantPage(t, s, mam.Query{Owner: user, Max: 10}, nil, true)
	check(t, "Append after re-creating the account", s.MAM.Append(ctx, mamMessages(user, 0, 2)))
	wantPage(t, s, mam.Query{Owner: user, Max: 10}, []int{0, 1}, true)
}

func testMAMAppendErrors(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	check(t, "Append", s.MAM.Append(ctx, mamMessages(user, 0, 3)))

	// An existing (Owner, ID), alone or in a batch: nothing of it is stored.
	wantErr(t, "Append of an archived id", s.MAM.Append(ctx, mamMessages(user, 2, 3)), mam.ErrDuplicate)
	wantErr(t, "Append of a batch with an archived id", s.MAM.Append(ctx, mamMessages(user, 1, 6)), mam.ErrDuplicate)
	dup := append(mamMessages(user, 5, 8), mamMessage(user, 6))
	wantErr(t, "Append of a batch with an id twice", s.MAM.Append(ctx, dup), mam.ErrDuplicate)
	mixed := append(mamMessages(other, 0, 3), mamMessage(user, 0))
	wantErr(t, "Append of a batch for two owners with an archived id", s.MAM.Append(ctx, mixed), mam.ErrDuplicate)
	wantPage(t, s, mam.Query{Owner: user, Max: 10}, []int{0, 1, 2}, true)
	wantPage(t, s, mam.Query{Owner: other, Max: 10}, nil, true)

	// A user without an account.
	wantErr(t, "Append for a user without an account", s.MAM.Append(ctx, mamMessages("ghost@example.org", 0, 1)), auth.ErrNotFound)
	ghostBatch := append(mamMessages(other, 0, 2), mamMessages("ghost@example.org", 0, 2)...)
	wantErr(t, "Append of a batch with a user without an account", s.MAM.Append(ctx, ghostBatch), auth.ErrNotFound)
	wantPage(t, s, mam.Query{Owner: other, Max: 10}, nil, true)
	wantPage(t, s, mam.Query{Owner: "ghost@example.org", Max: 10}, nil, true)

	// Ids must be positive.
	bad := mamMessage(user, 10)
	bad.ID = 0
	if err := s.MAM.Append(ctx, []mam.Message{bad}); err == nil || errors.Is(err, mam.ErrDuplicate) {
		t.Errorf("Append of id 0: %v, want an error", err)
	}
	bad.ID = -5
	if err := s.MAM.Append(ctx, append(mamMessages(user, 11, 12), bad)); err == nil {
		t.Errorf("Append of a negative id succeeded")
	}

	// The same ids for both owners in one batch (a message between local users).
	both := append(mamMessages(other, 5, 7), mamMessages(user, 5, 7)...)
	check(t, "Append for two owners", s.MAM.Append(ctx, both))
	wantPage(t, s, mam.Query{Owner: user, Max: 10}, []int{0, 1, 2, 5, 6}, true)
	wantPage(t, s, mam.Query{Owner: other, Max: 10}, []int{5, 6}, true)

	// A large batch (backends may split it into several statements) whose
	// last message is a duplicate: nothing of it is stored, its text
	// included.
	large := mamMessages(other, 100, 1100)
	for i := range large {
		large[i].Body = "quince"
	}
	large = append(large, mamMessage(other, 5))
	wantErr(t, "Append of a large batch ending with an archived id", s.MAM.Append(ctx, large), mam.ErrDuplicate)
	wantPage(t, s, mam.Query{Owner: other, Max: 10}, []int{5, 6}, true)
	if s.MAM.SupportsFullText() {
		wantPage(t, s, mam.Query{Owner: other, Text: "quince", Max: 10}, nil, true)
	}
	check(t, "Append of a large batch", s.MAM.Append(ctx, large[:len(large)-1]))
	if p := query(t, s, mam.Query{Owner: other, Max: 0, Count: true}); p.Count != 1002 {
		t.Errorf("after a large batch: count %d, want 1002", p.Count)
	}
}

// testMAMConcurrentAppend appends from many goroutines at once (batches and
// single messages, with queries in between), then checks that every
// message was stored once.
func testMAMConcurrentAppend(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const (
		user, other = "juliet@example.com", "romeo@example.net"
		workers     = 8
		batches     = 10
		batchSize   = 5
	)
	createAccounts(t, s, user, other)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				from := (w*batches + b) * batchSize
				n := batchSize
				if b%3 == 0 {
					n = 1 // single messages too
				}
				// The user's and the other's copies in one batch.
				batch := append(mamMessages(user, from, from+n), mamMessages(other, from, from+n)...)
				if err := s.MAM.Append(ctx, batch); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				if _, err := s.MAM.Query(ctx, mam.Query{Owner: user, Max: 10, Last: true}); err != nil {
					t.Errorf("Query: %v", err)
					return
				}
				if ok, err := s.MAM.Has(ctx, other, mamID(from)); !ok || err != nil {
					t.Errorf("Has(%d) after Append = %v, %v", mamID(from), ok, err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var want []int
	for w := range workers {
		for b := range batches {
			from := (w*batches + b) * batchSize
			n := batchSize
			if b%3 == 0 {
				n = 1
			}
			want = append(want, span(from, from+n)...)
		}
	}
	slices.Sort(want)
	for _, u := range []string{user, other} {
		p := wantPage(t, s, mam.Query{Owner: u, Max: 1000, Count: true}, want, true)
		if p.Count != len(want) {
			t.Errorf("Count = %d, want %d", p.Count, len(want))
		}
	}
}

// testMAMFullTextFirstSearch: a store may index an archive for full-text
// search only from its owner's first full-text query on (both do). That
// query, made while messages keep being archived, finds what was archived
// before it (more than a thousand messages: more than one chunk of the
// indexing), and the next one finds everything archived since.
func testMAMFullTextFirstSearch(t *testing.T, s *sql.Stores) {
	if !s.MAM.SupportsFullText() {
		t.Skip("no full-text search")
	}
	ctx := t.Context()
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	// Message i says "roses" when i%3 == 0.
	msg := func(i int) mam.Message {
		m := mamMessage(user, i)
		m.Body = fmt.Sprintf("message %d", i)
		if i%3 == 0 {
			m.Body += " of roses"
		}
		return m
	}
	roses := func(n int) int { return (n + 2) / 3 } // among messages 0 to n-1
	const before = 1500
	var ms []mam.Message
	for i := range before {
		ms = append(ms, msg(i))
	}
	if err := s.MAM.Append(ctx, ms); err != nil {
		t.Fatal(err)
	}
	// Meanwhile, messages keep coming, a few at a time.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	n := before
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.MAM.Append(ctx, []mam.Message{msg(n), msg(n + 1)}); err != nil {
				t.Errorf("Append: %v", err)
				return
			}
			n += 2
		}
	})
	p, err := s.MAM.Query(ctx, mam.Query{Owner: user, Text: "roses", Max: 10_000, BeforeID: mamID(before)})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != roses(before) {
		t.Errorf("first search finds %d of the %d earlier messages with roses", len(p.Messages), roses(before))
	}
	p = query(t, s, mam.Query{Owner: user, Text: "roses", Max: 10_000, Count: true})
	if len(p.Messages) != roses(n) || p.Count != roses(n) {
		t.Errorf("next search finds %d (count %d) of the %d messages with roses (%d archived)", len(p.Messages), p.Count, roses(n), n)
	}
}
