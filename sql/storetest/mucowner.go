package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/sql"
)

// testMUCOwner checks the room ownership records of clustering: a claim is
// a compare-and-swap, so of two nodes claiming a room from the same
// previous owner exactly one wins, and only the owner releases it.
func testMUCOwner(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	st, ok := s.MUC.(muc.OwnerStore)
	if !ok {
		t.Fatalf("%T does not implement muc.OwnerStore", s.MUC)
	}
	const room = "coven@chat.example.org"
	a, b := muc.RoomOwner{Node: "n1", Epoch: 100}, muc.RoomOwner{Node: "n2", Epoch: 200}
	if _, found, err := st.RoomOwner(ctx, room); err != nil || found {
		t.Fatalf("RoomOwner of an unowned room: %v, %v", found, err)
	}
	// Two claimers of an unowned room, at once, many times: one wins.
	for i := range 20 {
		claimRace(t, st, room, nil, a, b)
		o, _, err := st.RoomOwner(ctx, room)
		check(t, "RoomOwner", err)
		// Take it over from the winner the same way.
		prev := o
		next := [2]muc.RoomOwner{{Node: "n3", Epoch: int64(300 + i)}, {Node: "n4", Epoch: int64(400 + i)}}
		claimRace(t, st, room, &prev, next[0], next[1])
		check(t, "ReleaseRoom (not the owner)", st.ReleaseRoom(ctx, room, prev))
		o2, found, err := st.RoomOwner(ctx, room)
		check(t, "RoomOwner", err)
		if !found || (o2 != next[0] && o2 != next[1]) {
			t.Fatalf("owner after the takeover: %v, %v", o2, found)
		}
		check(t, "ReleaseRoom", st.ReleaseRoom(ctx, room, o2))
		if _, found, err := st.RoomOwner(ctx, room); err != nil || found {
			t.Fatalf("RoomOwner after ReleaseRoom: %v, %v", found, err)
		}
	}
	// A claim from a previous owner that is not the recorded one fails.
	won, err := st.ClaimRoom(ctx, room, nil, a)
	check(t, "ClaimRoom", err)
	if !won {
		t.Fatal("ClaimRoom of an unowned room failed")
	}
	stale := muc.RoomOwner{Node: "n1", Epoch: 99}
	if won, err := st.ClaimRoom(ctx, room, &stale, b); err != nil || won {
		t.Fatalf("ClaimRoom from a stale owner: %v, %v", won, err)
	}
	if won, err := st.ClaimRoom(ctx, room, nil, b); err != nil || won {
		t.Fatalf("ClaimRoom of an owned room as unowned: %v, %v", won, err)
	}
	// The owner renews its own claim.
	if won, err := st.ClaimRoom(ctx, room, &a, a); err != nil || !won {
		t.Fatalf("ClaimRoom renewing: %v, %v", won, err)
	}

	// Room reads one stored room.
	if _, err := st.Room(ctx, room); !errors.Is(err, muc.ErrNotFound) {
		t.Fatalf("Room of a room not stored: %v, want ErrNotFound", err)
	}
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := muc.StoredRoom{JID: room, Config: muc.RoomConfig{Name: "The Coven", Persistent: true, MembersOnly: true},
		Created: created, Affiliations: []muc.AffiliationItem{
			{JID: "crone@example.org", Affiliation: muc.Owner},
			{JID: "hag@example.org", Affiliation: muc.Member, Nick: "secondwitch"},
		}}
	check(t, "SaveRoom", s.MUC.SaveRoom(ctx, r))
	check(t, "SaveRoom (other)", s.MUC.SaveRoom(ctx, muc.StoredRoom{JID: "other@chat.example.org", Created: created,
		Affiliations: []muc.AffiliationItem{{JID: "x@example.org", Affiliation: muc.Admin}}}))
	got, err := st.Room(ctx, room)
	check(t, "Room", err)
	if got.JID != r.JID || got.Config != r.Config || !got.Created.Equal(created) || len(got.Affiliations) != 2 {
		t.Fatalf("Room = %+v, want %+v", got, r)
	}
	for _, want := range r.Affiliations {
		found := false
		for _, a := range got.Affiliations {
			found = found || a == want
		}
		if !found {
			t.Errorf("Room lost the affiliation %+v: %+v", want, got.Affiliations)
		}
	}
}

// claimRace has x and y claim room from prev at the same moment and checks
// that exactly one of them won.
func claimRace(t *testing.T, st muc.OwnerStore, room string, prev *muc.RoomOwner, x, y muc.RoomOwner) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		won   [2]bool
		errs  [2]error
	)
	for i, o := range []muc.RoomOwner{x, y} {
		wg.Go(func() {
			<-start
			won[i], errs[i] = st.ClaimRoom(t.Context(), room, prev, o)
		})
	}
	close(start)
	wg.Wait()
	check(t, "ClaimRoom", errors.Join(errs[:]...))
	if won[0] == won[1] {
		t.Fatalf("two claims of %s from %v: won %v, want exactly one", room, prev, won)
	}
}
