package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/sql"
)

func testMUCRooms(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	st := s.MUC
	rooms, err := st.Rooms(ctx)
	check(t, "Rooms (empty)", err)
	if len(rooms) != 0 {
		t.Fatalf("Rooms of an empty store: %v", rooms)
	}
	created := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	r := muc.StoredRoom{
		JID: "coven@chat.example.org",
		Config: muc.RoomConfig{Name: "The Coven 🧹", Description: "witches", Persistent: true, Public: true,
			MembersOnly: true, Moderated: true, Password: "cauldron", WhoIs: "anyone", MaxUsers: 30,
			ChangeSubject: true, AllowInvites: true, AllowPM: "participants", Archiving: true},
		Subject: "Fire burn", SubjectNick: "firstwitch", SubjectStamp: created.Add(time.Minute), Created: created,
		Affiliations: []muc.AffiliationItem{
			{JID: "crone@example.org", Affiliation: muc.Owner},
			{JID: "hag@example.org", Affiliation: muc.Member, Nick: "secondwitch", Reason: "welcome"},
			{JID: "macbeth@example.org", Affiliation: muc.Outcast, Reason: "ambition"},
		},
	}
	check(t, "SaveRoom", st.SaveRoom(ctx, r))
	other := muc.StoredRoom{JID: "a-room@chat.example.org", Config: muc.RoomConfig{Persistent: true}, Created: created}
	check(t, "SaveRoom (other)", st.SaveRoom(ctx, other))
	rooms, err = st.Rooms(ctx)
	check(t, "Rooms", err)
	if len(rooms) != 2 || !reflect.DeepEqual(rooms[0], other) || !reflect.DeepEqual(rooms[1], r) {
		t.Fatalf("Rooms:\n got %+v\nwant %+v", rooms, []muc.StoredRoom{other, r})
	}
	// Replace: config, subject and affiliations change; creation stays.
	r2 := r
	r2.Config.Name, r2.Subject, r2.SubjectNick = "Renamed", "", ""
	r2.SubjectStamp = time.Time{}
	r2.Created = created.Add(time.Hour)
	r2.Affiliations = []muc.AffiliationItem{{JID: "crone@example.org", Affiliation: muc.Owner, Nick: "crone"}}
	check(t, "SaveRoom (replace)", st.SaveRoom(ctx, r2))
	rooms, err = st.Rooms(ctx)
	check(t, "Rooms after replace", err)
	r2.Created = created
	if len(rooms) != 2 || !reflect.DeepEqual(rooms[1], r2) {
		t.Fatalf("Rooms after replace:\n got %+v\nwant %+v", rooms[1], r2)
	}
	check(t, "DeleteRoom", st.DeleteRoom(ctx, r.JID))
	check(t, "DeleteRoom (again)", st.DeleteRoom(ctx, r.JID))
	rooms, err = st.Rooms(ctx)
	check(t, "Rooms after delete", err)
	if len(rooms) != 1 || rooms[0].JID != other.JID {
		t.Fatalf("Rooms after delete: %+v", rooms)
	}
}

func testMUCArchive(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	st := s.MUC
	const room, otherRoom = "coven@chat.example.org", "other@chat.example.org"
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var all []muc.ArchivedMessage
	for i := range 10 {
		at := base.Add(time.Duration(i) * time.Second).Add(time.Duration(i) * time.Microsecond)
		m := muc.ArchivedMessage{Room: room, ID: at.UnixMilli()<<20 | int64(i), Stamp: at,
			Nick: fmt.Sprintf("n%d", i%2), Sender: fmt.Sprintf("u%d@example.org", i%2), Body: fmt.Sprintf("body %d", i),
			Stanza: []byte(fmt.Sprintf("<message type='groupchat'><body>body %d</body></message>", i))}
		check(t, "Archive", st.Archive(ctx, m))
		all = append(all, m)
	}
	check(t, "Archive (other room)", st.Archive(ctx, muc.ArchivedMessage{Room: otherRoom, ID: all[0].ID, Stamp: base, Stanza: []byte("<x/>")}))
	if err := st.Archive(ctx, all[3]); err == nil {
		t.Error("Archive of a duplicate id succeeded")
	}
	ids := func(p muc.ArchivePage) []int64 {
		var out []int64
		for _, m := range p.Messages {
			out = append(out, m.ID)
		}
		return out
	}
	want := func(what string, q muc.ArchiveQuery, msgs []muc.ArchivedMessage, complete bool) {
		t.Helper()
		q.Room = room
		p, err := st.QueryArchive(ctx, q)
		check(t, what, err)
		var w []int64
		for _, m := range msgs {
			w = append(w, m.ID)
		}
		if !reflect.DeepEqual(ids(p), w) || p.Complete != complete {
			t.Errorf("%s: ids %v complete %v, want %v %v", what, ids(p), p.Complete, w, complete)
		}
	}
	want("first page", muc.ArchiveQuery{Max: 3}, all[:3], false)
	want("after", muc.ArchiveQuery{Max: 3, AfterID: all[2].ID}, all[3:6], false)
	want("last page", muc.ArchiveQuery{Max: 3, Last: true}, all[7:], false)
	want("last page, all of it", muc.ArchiveQuery{Max: 10, Last: true}, all, true)
	want("before", muc.ArchiveQuery{Max: 3, Last: true, BeforeID: all[7].ID}, all[4:7], false)
	want("everything", muc.ArchiveQuery{Max: 100}, all, true)
	want("start and end", muc.ArchiveQuery{Max: 100, Start: all[2].Stamp, End: all[5].Stamp}, all[2:6], true)
	want("start just after a stamp", muc.ArchiveQuery{Max: 100, Start: all[2].Stamp.Add(time.Nanosecond)}, all[3:], true)
	want("sender", muc.ArchiveQuery{Max: 100, Sender: "u1@example.org"}, []muc.ArchivedMessage{all[1], all[3], all[5], all[7], all[9]}, true)
	want("count only", muc.ArchiveQuery{Max: 0}, nil, false)
	want("ids", muc.ArchiveQuery{Max: 100, IDs: []int64{all[8].ID, all[1].ID, 12345}}, []muc.ArchivedMessage{all[1], all[8]}, true)
	want("ids and after", muc.ArchiveQuery{Max: 100, IDs: []int64{all[8].ID, all[1].ID}, AfterID: all[1].ID}, all[8:9], true)
	p, err := st.QueryArchive(ctx, muc.ArchiveQuery{Room: room, Max: 1, AfterID: all[4].ID})
	check(t, "QueryArchive", err)
	if len(p.Messages) != 1 {
		t.Fatalf("QueryArchive: %+v", p)
	}
	if got := p.Messages[0]; got.Nick != all[5].Nick || got.Sender != all[5].Sender || got.Body != all[5].Body ||
		!bytes.Equal(got.Stanza, all[5].Stanza) || !got.Stamp.Equal(all[5].Stamp) || got.Room != room {
		t.Errorf("message read back: %+v, want %+v", got, all[5])
	}
	check(t, "DeleteRoom", st.DeleteRoom(ctx, room))
	want("after DeleteRoom", muc.ArchiveQuery{Max: 100}, nil, true)
	p, err = st.QueryArchive(ctx, muc.ArchiveQuery{Room: otherRoom, Max: 10})
	check(t, "QueryArchive other room", err)
	if len(p.Messages) != 1 {
		t.Errorf("the other room's archive: %+v", p)
	}
}
