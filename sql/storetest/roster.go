package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/sql"
)

// equalItem reports whether two items are equal (nil and empty Groups are).
func equalItem(a, b roster.Item) bool {
	return a.Contact == b.Contact && a.Name == b.Name && slices.Equal(a.Groups, b.Groups) &&
		a.Subscription == b.Subscription && a.Ask == b.Ask && a.Version == b.Version && a.Removed == b.Removed
}

func checkItems(t *testing.T, what string, got, want []roster.Item) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = equalItem(got[i], want[i])
	}
	if !ok {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testRoster(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	r := s.Roster
	const user, other = "romeo@example.net", "mercutio@example.net"
	createAccounts(t, s, user, other)

	// Empty roster: version 0.
	items, ver, err := r.Roster(ctx, user)
	check(t, "Roster of an empty roster", err)
	if len(items) != 0 || ver != 0 {
		t.Errorf("Roster of an empty roster = %v, %d; want none, 0", items, ver)
	}
	if n, err := r.Count(ctx, user); err != nil || n != 0 {
		t.Errorf("Count of an empty roster = %d, %v; want 0", n, err)
	}
	_, err = r.Item(ctx, user, "juliet@example.com")
	wantErr(t, "Item of an empty roster", err, roster.ErrNotFound)
	_, err = r.Delete(ctx, user, "juliet@example.com")
	wantErr(t, "Delete from an empty roster", err, roster.ErrNotFound)
	items, ver, err = r.Changes(ctx, user, 0)
	check(t, "Changes of an empty roster", err)
	if len(items) != 0 || ver != 0 {
		t.Errorf("Changes of an empty roster = %v, %d; want none, 0", items, ver)
	}

	// Each Put increments the version by one and stores it in the item.
	juliet := roster.Item{
		Contact:      "juliet@example.com",
		Name:         "Juliet Capulet 🌹",
		Groups:       []string{"Capulets", "Friends", "Ünïcödé", "友達"},
		Subscription: roster.SubBoth,
	}
	benvolio := roster.Item{Contact: "benvolio@example.net", Subscription: roster.SubNone, Ask: true}
	nurse := roster.Item{Contact: "nurse@example.com", Name: "Nurse", Groups: []string{"Capulets"}, Subscription: roster.SubFrom}
	tybalt := roster.Item{Contact: "tybalt@example.com", Subscription: roster.SubTo}
	for i, it := range []*roster.Item{&juliet, &benvolio, &nurse, &tybalt} {
		v, err := r.Put(ctx, user, *it)
		check(t, "Put", err)
		if v != int64(i+1) {
			t.Errorf("Put #%d returned version %d, want %d", i+1, v, i+1)
		}
		it.Version = v
	}
	got, err := r.Item(ctx, user, juliet.Contact)
	check(t, "Item", err)
	checkItems(t, "Item (unicode groups round trip)", []roster.Item{got}, []roster.Item{juliet})
	items, ver, err = r.Roster(ctx, user)
	check(t, "Roster", err)
	checkItems(t, "Roster (sorted by contact)", items, []roster.Item{benvolio, juliet, nurse, tybalt})
	if ver != 4 {
		t.Errorf("Roster version = %d, want 4", ver)
	}
	if n, err := r.Count(ctx, user); err != nil || n != 4 {
		t.Errorf("Count = %d, %v; want 4", n, err)
	}

	// Rosters are per user, with their own versions.
	_, ver, err = r.Roster(ctx, other)
	check(t, "Roster of another user", err)
	if ver != 0 {
		t.Errorf("Roster version of another user = %d, want 0", ver)
	}
	v, err := r.Put(ctx, other, roster.Item{Contact: juliet.Contact, Subscription: roster.SubTo})
	check(t, "Put for another user", err)
	if v != 1 {
		t.Errorf("first Put for another user returned version %d, want 1", v)
	}

	// Update: a new version; groups are stored sorted, without duplicates.
	nurse.Name = "Angelica"
	nurse.Groups = []string{"Zzz", "Capulets", "Servants", "Capulets"}
	nurse.Subscription = roster.SubBoth
	v, err = r.Put(ctx, user, nurse)
	check(t, "Put (update)", err)
	if v != 5 {
		t.Errorf("Put (update) returned version %d, want 5", v)
	}
	nurse.Version = 5
	nurse.Groups = []string{"Capulets", "Servants", "Zzz"}
	got, err = r.Item(ctx, user, nurse.Contact)
	check(t, "Item after update", err)
	checkItems(t, "Item after update", []roster.Item{got}, []roster.Item{nurse})
	if n, _ := r.Count(ctx, user); n != 4 {
		t.Errorf("Count after update = %d, want 4", n)
	}

	// Delete leaves a tombstone, visible in Changes only.
	v, err = r.Delete(ctx, user, tybalt.Contact)
	check(t, "Delete", err)
	if v != 6 {
		t.Errorf("Delete returned version %d, want 6", v)
	}
	_, err = r.Item(ctx, user, tybalt.Contact)
	wantErr(t, "Item after Delete", err, roster.ErrNotFound)
	_, err = r.Delete(ctx, user, tybalt.Contact)
	wantErr(t, "Delete twice", err, roster.ErrNotFound)
	items, ver, err = r.Roster(ctx, user)
	check(t, "Roster after Delete", err)
	checkItems(t, "Roster after Delete", items, []roster.Item{benvolio, juliet, nurse})
	if ver != 6 {
		t.Errorf("Roster version after Delete (and a failed Delete) = %d, want 6", ver)
	}
	if n, _ := r.Count(ctx, user); n != 3 {
		t.Errorf("Count after Delete = %d, want 3", n)
	}

	// Changes: items and tombstones changed after a version, by version.
	type change struct {
		contact string
		version int64
		removed bool
	}
	checkChanges := func(since, wantVer int64, want []change) {
		t.Helper()
		items, ver, err := r.Changes(ctx, user, since)
		check(t, "Changes", err)
		var got []change
		for _, it := range items {
			got = append(got, change{it.Contact, it.Version, it.Removed})
		}
		if !slices.Equal(got, want) {
			t.Errorf("Changes(%d) = %+v, want %+v", since, got, want)
		}
		if ver != wantVer {
			t.Errorf("Changes(%d) version = %d, want %d", since, ver, wantVer)
		}
	}
	checkChanges(3, 6, []change{{nurse.Contact, 5, false}, {tybalt.Contact, 6, true}})
	checkChanges(0, 6, []change{{juliet.Contact, 1, false}, {benvolio.Contact, 2, false}, {nurse.Contact, 5, false}, {tybalt.Contact, 6, true}})
	checkChanges(6, 6, nil)
	checkChanges(100, 6, nil)
	changes, ver, err := r.Changes(ctx, user, 4)
	check(t, "Changes", err)
	if ver != 6 {
		t.Errorf("Changes version = %d, want 6", ver)
	}
	if len(changes) == 2 {
		checkItems(t, "Changes(4)[0]", changes[:1], []roster.Item{nurse})
	}

	// Re-adding a removed item.
	tybalt.Name = "Prince of Cats"
	v, err = r.Put(ctx, user, tybalt)
	check(t, "Put of a removed item", err)
	if v != 7 {
		t.Errorf("Put of a removed item returned version %d, want 7", v)
	}
	tybalt.Version = 7
	got, err = r.Item(ctx, user, tybalt.Contact)
	check(t, "Item after re-adding", err)
	checkItems(t, "Item after re-adding", []roster.Item{got}, []roster.Item{tybalt})
	checkChanges(6, 7, []change{{tybalt.Contact, 7, false}})
	items, ver, err = r.Roster(ctx, user)
	check(t, "Roster after re-adding", err)
	checkItems(t, "Roster after re-adding", items, []roster.Item{benvolio, juliet, nurse, tybalt})
	if ver != 7 {
		t.Errorf("Roster version after re-adding = %d, want 7", ver)
	}
	if n, _ := r.Count(ctx, user); n != 4 {
		t.Errorf("Count after re-adding = %d, want 4", n)
	}

	// An empty subscription means none; an invalid one is rejected.
	v, err = r.Put(ctx, user, roster.Item{Contact: "paris@example.com"})
	check(t, "Put without subscription", err)
	got, err = r.Item(ctx, user, "paris@example.com")
	check(t, "Item", err)
	checkItems(t, "Item put without subscription", []roster.Item{got}, []roster.Item{{Contact: "paris@example.com", Subscription: roster.SubNone, Version: v}})
	if _, err := r.Put(ctx, user, roster.Item{Contact: "x@example.com", Subscription: "remove"}); err == nil {
		t.Errorf("Put with subscription %q succeeded", "remove")
	}
	if _, err := r.Item(ctx, user, "x@example.com"); err == nil {
		t.Errorf("the item with an invalid subscription was stored")
	}

	// The other user's roster was not touched.
	items, ver, err = r.Roster(ctx, other)
	check(t, "Roster of the other user", err)
	checkItems(t, "Roster of the other user", items, []roster.Item{{Contact: juliet.Contact, Subscription: roster.SubTo, Version: 1}})
	if ver != 1 {
		t.Errorf("Roster version of the other user = %d, want 1", ver)
	}
}

func testRosterPending(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	r := s.Roster
	const user, other = "juliet@example.com", "nurse@example.com"
	createAccounts(t, s, user, other)

	ps, err := r.PendingRequests(ctx, user)
	check(t, "PendingRequests (none)", err)
	if len(ps) != 0 {
		t.Errorf("PendingRequests = %v, want none", ps)
	}
	stanza := func(from, id string) []byte {
		return []byte(fmt.Sprintf("<presence from='%s' to='%s' type='subscribe' id='%s'><status>Wherefore art thou? ✨</status></presence>", from, user, id))
	}
	// Contacts in non-alphabetical order, to check that arrival order is kept.
	contacts := []string{"romeo@example.net", "benvolio@example.net", "tybalt@example.com", "mercutio@example.net"}
	for i, c := range contacts {
		check(t, "AddPending", r.AddPending(ctx, user, roster.Pending{Contact: c, Stanza: stanza(c, fmt.Sprint(i))}))
	}
	check(t, "AddPending for another user", r.AddPending(ctx, other, roster.Pending{Contact: contacts[0], Stanza: []byte("<presence/>")}))

	checkPending := func(want []roster.Pending) {
		t.Helper()
		got, err := r.PendingRequests(ctx, user)
		check(t, "PendingRequests", err)
		ok := len(got) == len(want)
		for i := 0; ok && i < len(got); i++ {
			ok = got[i].Contact == want[i].Contact && bytes.Equal(got[i].Stanza, want[i].Stanza)
		}
		if !ok {
			t.Errorf("PendingRequests:\n got %q\nwant %q", got, want)
		}
	}
	var want []roster.Pending
	for i, c := range contacts {
		want = append(want, roster.Pending{Contact: c, Stanza: stanza(c, fmt.Sprint(i))})
	}
	checkPending(want)

	// Replacing a request keeps one per contact, with the new stanza, in
	// the position of its latest arrival.
	check(t, "AddPending (replace)", r.AddPending(ctx, user, roster.Pending{Contact: contacts[1], Stanza: stanza(contacts[1], "again")}))
	want = []roster.Pending{want[0], want[2], want[3], {Contact: contacts[1], Stanza: stanza(contacts[1], "again")}}
	checkPending(want)

	check(t, "RemovePending", r.RemovePending(ctx, user, contacts[2]))
	check(t, "RemovePending of a missing request", r.RemovePending(ctx, user, "nobody@example.org"))
	check(t, "RemovePending twice", r.RemovePending(ctx, user, contacts[2]))
	want = slices.Delete(want, 1, 2)
	checkPending(want)

	// A new request goes last.
	check(t, "AddPending", r.AddPending(ctx, user, roster.Pending{Contact: "paris@example.com", Stanza: stanza("paris@example.com", "p")}))
	want = append(want, roster.Pending{Contact: "paris@example.com", Stanza: stanza("paris@example.com", "p")})
	checkPending(want)

	// Pending requests are not roster items.
	if n, _ := r.Count(ctx, user); n != 0 {
		t.Errorf("Count with only pending requests = %d, want 0", n)
	}
	ps, err = r.PendingRequests(ctx, other)
	check(t, "PendingRequests of the other user", err)
	if len(ps) != 1 || ps[0].Contact != contacts[0] {
		t.Errorf("PendingRequests of the other user = %q", ps)
	}
}
