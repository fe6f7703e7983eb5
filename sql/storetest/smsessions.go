package storetest

import (
	"context"
	"testing"
	"time"

	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/sql"
)

// testSMSessions checks the XEP-0198 session records: a record replaces
// only a lower version (writes arriving out of order keep the newest), a
// record is read back only by its account and before it expires, and
// purging deletes the expired ones.
func testSMSessions(t *testing.T, s *sql.Stores) {
	ctx := context.Background()
	st := s.SM
	const alice = "alice@example.org"
	now := time.UnixMilli(1_700_000_000_000)
	rec := func(id string, h uint32, live bool, v uint64, exp time.Duration) session.SMRecord {
		return session.SMRecord{ID: id, Account: alice, Node: "n" + string(rune('0'+v)), H: h, Live: live, Version: v, Expires: now.Add(exp)}
	}
	for _, r := range []session.SMRecord{
		rec("A.n1", 7, false, 2, time.Hour), // hibernated
		rec("A.n1", 0, true, 1, time.Hour),  // an older write arriving late: ignored
		rec("B.n1", 3, false, 1, time.Hour),
		rec("B.n1", 3, true, 2, time.Hour), // resumed: h unknown
		rec("C.n2", 9, false, 1, time.Minute),
		rec("C.n2", 9, false, 1, 2*time.Hour), // the same version again: ignored
	} {
		if err := st.PutSM(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		id, account string
		at          time.Time
		ok          bool
		want        session.SMRecord
	}{
		{"A.n1", alice, now, true, rec("A.n1", 7, false, 2, time.Hour)},
		{"B.n1", alice, now, true, rec("B.n1", 3, true, 2, time.Hour)},
		{"C.n2", alice, now, true, rec("C.n2", 9, false, 1, time.Minute)},
		{"C.n2", alice, now.Add(time.Minute), false, session.SMRecord{}},
		{"A.n1", "bob@example.org", now, false, session.SMRecord{}},
		{"D.n1", alice, now, false, session.SMRecord{}},
	} {
		got, ok, err := st.LostSM(ctx, c.id, c.account, c.at)
		if err != nil {
			t.Fatal(err)
		}
		if ok != c.ok || got.ID != c.want.ID || got.Account != c.want.Account || got.Node != c.want.Node || got.H != c.want.H ||
			got.Live != c.want.Live || got.Version != c.want.Version || !got.Expires.Equal(c.want.Expires) {
			t.Errorf("LostSM(%s, %s, %v) = %+v, %v; want %+v, %v", c.id, c.account, c.at, got, ok, c.want, c.ok)
		}
	}
	// h is a full uint32.
	if err := st.PutSM(ctx, rec("A.n1", 1<<32-1, false, 3, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := st.LostSM(ctx, "A.n1", alice, now); got.H != 1<<32-1 {
		t.Errorf("h = %d, want %d", got.H, uint32(1<<32-1))
	}
	n, err := st.PurgeSM(ctx, now.Add(time.Minute))
	if err != nil || n != 1 {
		t.Errorf("PurgeSM = %d, %v; want 1 (C.n2)", n, err)
	}
	if _, ok, _ := st.LostSM(ctx, "C.n2", alice, now); ok {
		t.Error("C.n2 survived its purge")
	}
	if _, ok, _ := st.LostSM(ctx, "A.n1", alice, now); !ok {
		t.Error("A.n1 was purged before it expired")
	}
}
