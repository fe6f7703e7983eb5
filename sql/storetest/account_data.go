package storetest

import (
	"errors"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/push"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/vcard"
)

// fillUserData gives user some data in every store.
func fillUserData(t *testing.T, s *sql.Stores, user string) {
	t.Helper()
	ctx := t.Context()
	for _, c := range []string{"a@example.com", "b@example.com"} {
		if _, err := s.Roster.Put(ctx, user, roster.Item{Contact: c, Groups: []string{"G"}, Subscription: roster.SubBoth}); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	if _, err := s.Roster.Delete(ctx, user, "b@example.com"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	check(t, "AddPending", s.Roster.AddPending(ctx, user, roster.Pending{Contact: "c@example.com", Stanza: []byte("<presence type='subscribe'/>")}))
	for range 3 {
		check(t, "Store", s.Offline.Store(ctx, user, offline.Message{Stamp: time.Now(), Stanza: []byte("<message/>")}, 10))
	}
	check(t, "SetVCard", s.VCard.SetVCard(ctx, user, []byte("<vCard xmlns='vcard-temp'/>")))
	check(t, "Block", s.Blocking.Block(ctx, user, []string{"d@example.com"}))
	check(t, "MAM.Append", s.MAM.Append(ctx, mamMessages(user, 0, 3)))
	check(t, "MAM.SetPrefs", s.MAM.SetPrefs(ctx, user, mam.Prefs{Default: mam.PrefRoster, Always: []string{"a@example.com"}}))
	for _, node := range []string{"n1", "n2"} {
		_, err := s.Push.Enable(ctx, push.Registration{Account: user, Resource: "phone", JID: "push.example.net", Node: node, Since: time.Now()}, 5)
		check(t, "Push.Enable", err)
	}
}

// userDataCount counts user's data in every store (tombstones show up in
// the roster version).
func userDataCount(t *testing.T, s *sql.Stores, user string) int {
	t.Helper()
	ctx := t.Context()
	n := 0
	items, ver, err := s.Roster.Changes(ctx, user, 0)
	check(t, "Changes", err)
	n += len(items) + int(ver)
	ps, err := s.Roster.PendingRequests(ctx, user)
	check(t, "PendingRequests", err)
	n += len(ps)
	c, err := s.Offline.Count(ctx, user)
	check(t, "Count", err)
	n += c
	if _, err := s.VCard.VCard(ctx, user); err == nil {
		n++
	} else if !errors.Is(err, vcard.ErrNotFound) {
		t.Fatalf("VCard: %v", err)
	}
	bl, err := s.Blocking.BlockList(ctx, user)
	check(t, "BlockList", err)
	n += len(bl)
	regs, err := s.Push.Registrations(ctx, user)
	check(t, "Push.Registrations", err)
	n += len(regs)
	p, err := s.MAM.Query(ctx, mam.Query{Owner: user, Count: true})
	check(t, "MAM.Query", err)
	n += p.Count
	if _, err := s.MAM.Prefs(ctx, user); err == nil {
		n++
	} else if !errors.Is(err, mam.ErrNotFound) {
		t.Fatalf("MAM.Prefs: %v", err)
	}
	return n
}

func testDeleteAccountCascades(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)
	fillUserData(t, s, user)
	fillUserData(t, s, other)
	before := userDataCount(t, s, other)
	if n := userDataCount(t, s, user); n != before || n == 0 {
		t.Fatalf("user data count = %d, want %d", n, before)
	}

	check(t, "DeleteAccount", s.Accounts.DeleteAccount(ctx, user))
	if n := userDataCount(t, s, user); n != 0 {
		t.Errorf("after DeleteAccount, the user still has %d pieces of data", n)
	}
	if n := userDataCount(t, s, other); n != before {
		t.Errorf("DeleteAccount of another user changed this one's data: %d pieces, want %d", n, before)
	}

	// A new account of the same name starts empty, with roster version 0.
	createAccounts(t, s, user)
	if n := userDataCount(t, s, user); n != 0 {
		t.Errorf("a re-created account has %d pieces of old data", n)
	}
	v, err := s.Roster.Put(ctx, user, roster.Item{Contact: "a@example.com"})
	check(t, "Put", err)
	if v != 1 {
		t.Errorf("first Put of a re-created account returned version %d, want 1", v)
	}
}

// testUnknownAccount checks that writes for a user without an account fail
// with auth.ErrNotFound (and store nothing), and that reads find nothing.
func testUnknownAccount(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const ghost = "ghost@example.org"
	_, err := s.Roster.Put(ctx, ghost, roster.Item{Contact: "a@example.com"})
	wantErr(t, "Roster.Put", err, auth.ErrNotFound)
	wantErr(t, "Roster.AddPending", s.Roster.AddPending(ctx, ghost, roster.Pending{Contact: "a@example.com", Stanza: []byte("<presence/>")}), auth.ErrNotFound)
	wantErr(t, "Offline.Store", s.Offline.Store(ctx, ghost, offline.Message{Stamp: time.Now(), Stanza: []byte("<message/>")}, 0), auth.ErrNotFound)
	wantErr(t, "Offline.Store with a limit", s.Offline.Store(ctx, ghost, offline.Message{Stamp: time.Now(), Stanza: []byte("<message/>")}, 5), auth.ErrNotFound)
	wantErr(t, "SetVCard", s.VCard.SetVCard(ctx, ghost, []byte("<vCard/>")), auth.ErrNotFound)
	wantErr(t, "Block", s.Blocking.Block(ctx, ghost, []string{"a@example.com"}), auth.ErrNotFound)
	wantErr(t, "MAM.Append", s.MAM.Append(ctx, mamMessages(ghost, 0, 1)), auth.ErrNotFound)
	wantErr(t, "MAM.Append of a batch", s.MAM.Append(ctx, mamMessages(ghost, 0, 3)), auth.ErrNotFound)
	wantErr(t, "MAM.SetPrefs", s.MAM.SetPrefs(ctx, ghost, mam.Prefs{Default: mam.PrefAlways}), auth.ErrNotFound)
	_, err = s.Push.Enable(ctx, push.Registration{Account: ghost, Resource: "r", JID: "push.example.net", Node: "n", Since: time.Now()}, 5)
	wantErr(t, "Push.Enable", err, auth.ErrNotFound)

	items, ver, err := s.Roster.Roster(ctx, ghost)
	if err != nil || len(items) != 0 || ver != 0 {
		t.Errorf("Roster = %v, %d, %v; want none, 0, nil", items, ver, err)
	}
	_, err = s.Roster.Delete(ctx, ghost, "a@example.com")
	wantErr(t, "Roster.Delete", err, roster.ErrNotFound)
	check(t, "RemovePending", s.Roster.RemovePending(ctx, ghost, "a@example.com"))
	check(t, "Offline.Delete", s.Offline.Delete(ctx, ghost, []int64{1}))
	check(t, "Unblock", s.Blocking.Unblock(ctx, ghost, nil))
	if n := userDataCount(t, s, ghost); n != 0 {
		t.Errorf("%d pieces of data stored for a user without an account", n)
	}
}
