package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// hibernatedForTest returns a hibernated resumable session of a@x/r with
// SM-ID id, h 5, the client's last h 0, four messages unacknowledged and
// one presence held, registered in srv.
func hibernatedForTest(srv *Server, id string) *Session {
	full := jid.MustParse("a@x/r")
	s := newSession(srv, nil, full)
	s.sm, s.id, s.timeout, s.counting, s.inH = true, id, time.Minute, true, 5
	s.setStateLocked(stateHibernated)
	for i := range 4 {
		s.out.push(queued{st: msg(i), at: int64(i)})
	}
	s.holdLocked(queued{st: stanza.Build(stanza.KindPresence, stanza.TypeAvailable, "p", jid.MustParse("c@x/r"), full), at: 9})
	srv.reg.add(id, s)
	return s
}

// TestHandOver: a hibernated session given up to another node exports its
// state with the client's h applied, leaves the registry, forwards what
// it is then given, and cannot be resumed or handed over again; an h too
// high leaves the session resumable; an unknown SM-ID is refused with the
// old h of an ended session.
func TestHandOver(t *testing.T) {
	srv := &Server{Router: nopRouter{}}
	srv.init()
	ctx := context.Background()
	s := hibernatedForTest(srv, "X.n1")
	var fwd []string
	forward := func(full jid.JID, st *stanza.Stanza) bool {
		fwd = append(fwd, full.String()+" "+st.ID)
		return true
	}

	var r *ResumeRefused
	if _, err := srv.HandOver(ctx, "X.n1", "b@x", 0, forward); !errors.As(err, &r) || r.Known {
		t.Fatalf("another account's session: %v", err)
	}
	if _, err := srv.HandOver(ctx, "X.n1", "a@x", 7, forward); !errors.As(err, &r) || !r.TooHigh || r.Sent != 4 {
		t.Fatalf("h too high: %v", err)
	}
	if srv.reg.lookup("X.n1", "a@x") != s || s.state != stateHibernated {
		t.Fatal("the session is not resumable after an h too high")
	}

	ho, err := srv.HandOver(ctx, "X.n1", "a@x", 2, forward)
	if err != nil {
		t.Fatal(err)
	}
	if ho.ID != "X.n1" || ho.JID.String() != "a@x/r" || ho.InH != 5 || ho.Acked != 2 || ho.Timeout != time.Minute {
		t.Errorf("handover %+v", ho)
	}
	var ids []string
	for _, q := range ho.Queue {
		ids = append(ids, q.St.ID)
	}
	if len(ids) != 3 || ids[0] != "2" || ids[1] != "3" || ids[2] != "p" || ho.Queue[0].At != 2 {
		t.Errorf("queue %v", ids)
	}
	if srv.reg.lookup("X.n1", "a@x") != nil || s.state != stateMoved {
		t.Fatalf("after the handover: registered %v, state %d", srv.reg.lookup("X.n1", "a@x") != nil, s.state)
	}
	if st := srv.Stats(); st.HandedOver != 1 || st.Hibernated != 0 {
		t.Errorf("stats %+v", st)
	}
	if !s.Deliver(msg(9)) || len(fwd) != 1 || fwd[0] != "a@x/r 9" {
		t.Errorf("a stanza for the moved session: forwarded %v", fwd)
	}
	if err := s.resume(nil, 2, nil, nil); !errors.Is(err, errSessionGone) {
		t.Errorf("resuming a moved session: %v", err)
	}
	if _, err := srv.HandOver(ctx, "X.n1", "a@x", 2, forward); !errors.As(err, &r) {
		t.Errorf("handing a moved session over again: %v", err)
	}

	// An ended session: refused with its old h.
	e := hibernatedForTest(srv, "Y.n1")
	e.endDetached(endTimeout)
	if _, err := srv.HandOver(ctx, "Y.n1", "a@x", 0, forward); !errors.As(err, &r) || !r.Known || r.H != 5 {
		t.Errorf("ended session: %v", err)
	}
}
