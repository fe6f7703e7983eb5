package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/sql"
)

func testOffline(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	o := s.Offline
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)

	if n, err := o.Count(ctx, user); err != nil || n != 0 {
		t.Errorf("Count of an empty store = %d, %v; want 0", n, err)
	}
	ms, err := o.Messages(ctx, user, 0)
	check(t, "Messages of an empty store", err)
	if len(ms) != 0 {
		t.Errorf("Messages of an empty store = %v, want none", ms)
	}

	// Stamps in another zone, with sub-millisecond digits.
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	base := time.Date(2024, 2, 29, 23, 59, 58, 123_456_789, zone)
	big := bytes.Repeat([]byte("<body>wherefore art thou, Romeo? ♥</body>"), 2000)
	stanzas := [][]byte{
		[]byte("<message from='romeo@example.net/orchard' to='juliet@example.com' type='chat'><body>1</body></message>"),
		[]byte("<message><body>Ünïcödé 友達 🌹 &amp; \x00\xff not even UTF-8</body></message>"),
		[]byte("<message><body>3</body></message>"),
		big,
	}
	for i, st := range stanzas {
		m := offline.Message{Stamp: base.Add(time.Duration(i) * time.Second), Stanza: st}
		check(t, "Store", o.Store(ctx, user, m, 0))
	}
	check(t, "Store for another user", o.Store(ctx, other, offline.Message{Stamp: base, Stanza: []byte("<message/>")}, 0))

	ms, err = o.Messages(ctx, user, 0)
	check(t, "Messages", err)
	if len(ms) != len(stanzas) {
		t.Fatalf("Messages returned %d messages, want %d", len(ms), len(stanzas))
	}
	for i, m := range ms {
		if !bytes.Equal(m.Stanza, stanzas[i]) {
			t.Errorf("message %d: stanza = %.60q..., want %.60q...", i, m.Stanza, stanzas[i])
		}
		if i > 0 && m.ID <= ms[i-1].ID {
			t.Errorf("message %d: ID %d not greater than the previous %d", i, m.ID, ms[i-1].ID)
		}
		want := base.Add(time.Duration(i) * time.Second)
		if m.Stamp.Location() != time.UTC {
			t.Errorf("message %d: stamp %v not in UTC", i, m.Stamp)
		}
		if d := m.Stamp.Sub(want).Abs(); d >= time.Millisecond {
			t.Errorf("message %d: stamp %v, want %v (off by %v)", i, m.Stamp, want.UTC(), d)
		}
	}
	if n, err := o.Count(ctx, user); err != nil || n != len(stanzas) {
		t.Errorf("Count = %d, %v; want %d", n, err, len(stanzas))
	}

	// max.
	first2, err := o.Messages(ctx, user, 2)
	check(t, "Messages(2)", err)
	if len(first2) != 2 || first2[0].ID != ms[0].ID || first2[1].ID != ms[1].ID {
		t.Errorf("Messages(2) = %v, want the two oldest", first2)
	}
	if all, err := o.Messages(ctx, user, 100); err != nil || len(all) != len(stanzas) {
		t.Errorf("Messages(100) = %d messages, %v; want %d", len(all), err, len(stanzas))
	}

	// Limit.
	wantErr(t, "Store at the limit", o.Store(ctx, user, offline.Message{Stamp: base, Stanza: []byte("x")}, len(stanzas)), offline.ErrFull)
	wantErr(t, "Store over the limit", o.Store(ctx, user, offline.Message{Stamp: base, Stanza: []byte("x")}, 2), offline.ErrFull)
	if n, _ := o.Count(ctx, user); n != len(stanzas) {
		t.Errorf("Count after ErrFull = %d, want %d", n, len(stanzas))
	}
	check(t, "Store under the limit", o.Store(ctx, user, offline.Message{Stamp: base, Stanza: []byte("5")}, len(stanzas)+1))
	check(t, "Store with no limit", o.Store(ctx, user, offline.Message{Stamp: base, Stanza: []byte("6")}, -1))

	// Delete: only the given ids, only the user's.
	ms, err = o.Messages(ctx, user, 0)
	check(t, "Messages", err)
	otherMs, err := o.Messages(ctx, other, 0)
	check(t, "Messages of the other user", err)
	if len(ms) != 6 || len(otherMs) != 1 {
		t.Fatalf("got %d and %d messages, want 6 and 1", len(ms), len(otherMs))
	}
	check(t, "Delete", o.Delete(ctx, user, []int64{ms[0].ID, ms[2].ID, ms[5].ID, otherMs[0].ID, 1 << 60}))
	check(t, "Delete of nothing", o.Delete(ctx, user, nil))
	left, err := o.Messages(ctx, user, 0)
	check(t, "Messages after Delete", err)
	var gotIDs []int64
	for _, m := range left {
		gotIDs = append(gotIDs, m.ID)
	}
	if wantIDs := []int64{ms[1].ID, ms[3].ID, ms[4].ID}; !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("ids after Delete = %v, want %v", gotIDs, wantIDs)
	}
	if n, _ := o.Count(ctx, user); n != 3 {
		t.Errorf("Count after Delete = %d, want 3", n)
	}
	if n, _ := o.Count(ctx, other); n != 1 {
		t.Errorf("Delete with another user's id deleted it (Count = %d, want 1)", n)
	}

	// Ids keep growing after deletions.
	check(t, "Store after Delete", o.Store(ctx, user, offline.Message{Stamp: base, Stanza: []byte("7")}, 0))
	left, err = o.Messages(ctx, user, 0)
	check(t, "Messages", err)
	if last := left[len(left)-1]; string(last.Stanza) != "7" || last.ID <= ms[5].ID {
		t.Errorf("newest message = %d %q, want an id above %d and stanza 7", last.ID, last.Stanza, ms[5].ID)
	}

	// A zero stamp is stored as the current time.
	before := time.Now()
	check(t, "Store with a zero stamp", o.Store(ctx, other, offline.Message{Stanza: []byte("now")}, 0))
	otherMs, err = o.Messages(ctx, other, 0)
	check(t, "Messages", err)
	if st := otherMs[len(otherMs)-1].Stamp; st.Before(before.Add(-time.Second)) || st.After(time.Now().Add(time.Second)) {
		t.Errorf("zero stamp stored as %v, want about %v", st, before)
	}
}

// testOfflineLimitConcurrent checks that the limit holds under concurrency:
// 10 goroutines storing with limit 5 store exactly 5 messages.
func testOfflineLimitConcurrent(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const user = "juliet@example.com"
	createAccounts(t, s, user)
	for round := range 3 {
		var (
			wg           sync.WaitGroup
			mu           sync.Mutex
			stored, full int
		)
		for i := range 10 {
			wg.Go(func() {
				err := s.Offline.Store(ctx, user, offline.Message{Stamp: time.Now(), Stanza: fmt.Appendf(nil, "<message id='%d-%d'/>", round, i)}, 5)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					stored++
				case errors.Is(err, offline.ErrFull):
					full++
				default:
					t.Errorf("Store: %v", err)
				}
			})
		}
		wg.Wait()
		if stored != 5 || full != 5 {
			t.Errorf("round %d: %d stored, %d ErrFull; want 5 and 5", round, stored, full)
		}
		if n, err := s.Offline.Count(ctx, user); err != nil || n != 5 {
			t.Errorf("round %d: Count = %d, %v; want 5", round, n, err)
		}
		// Empty the store for the next round.
		ms, err := s.Offline.Messages(ctx, user, 0)
		check(t, "Messages", err)
		var ids []int64
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		check(t, "Delete", s.Offline.Delete(ctx, user, ids))
	}
}
