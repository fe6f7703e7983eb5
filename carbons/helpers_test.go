package carbons_test

import (
	"strconv"
	"testing"

	"dormouse.im/dormouse/carbons"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

const host = "localhost"

// env is a router harness with the carbons service registered.
type env struct {
	*routertest.Harness
	svc *carbons.Service
	ids int // IQ ids
}

// newEnv returns an env; hooks are registered on the mux before carbons.
func newEnv(t *testing.T, hooks ...func(*router.Mux)) *env {
	t.Helper()
	h := routertest.New(t, host)
	for _, hook := range hooks {
		hook(h.Mux)
	}
	svc := carbons.New(carbons.Config{}, h.Router, h.Log)
	svc.Register(h.Mux)
	return &env{Harness: h, svc: svc}
}

// iq sends an IQ set with payload from rec (to the account if to is "")
// and returns the answer, which must be the one stanza rec then got.
func (e *env) iq(rec *routertest.Recorder, to, payload string) *stanza.Stanza {
	e.T.Helper()
	e.ids++
	id := "iq" + strconv.Itoa(e.ids)
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	e.Send(rec.JID.String(), "<iq type='set' id='"+id+"'"+toAttr+">"+payload+"</iq>")
	got := rec.One(e.T)
	if got.ID != id {
		e.T.Fatalf("answer to %s: got %v", payload, got)
	}
	return got
}

// enable enables carbons for each of recs, in turn, and checks the
// results.
func (e *env) enable(recs ...*routertest.Recorder) {
	e.T.Helper()
	for _, rec := range recs {
		if got := e.iq(rec, "", "<enable xmlns='urn:xmpp:carbons:2'/>"); got.Type != stanza.TypeResult {
			e.T.Fatalf("enable %s: %s", rec.JID, got)
		}
	}
}

// twoUsers puts alice online with resources a and b, and bob with b1 and
// b2, all of priority 1 but b1 (5): a message to bob's bare JID goes to
// b1 only.
func (e *env) twoUsers() (a, ab, b1, b2 *routertest.Recorder) {
	e.T.Helper()
	return e.Online("alice@localhost/a", 1), e.Online("alice@localhost/b", 1),
		e.Online("bob@localhost/b1", 5), e.Online("bob@localhost/b2", 1)
}

// carbon returns the wrapper name of a carbon ("sent" or "received"), or
// "" if st is not one.
func carbon(st *stanza.Stanza) string {
	if c := st.El.Child(carbons.NS, ""); c != nil && c.Child(stanza.NSForward, "forwarded") != nil {
		return c.Name.Local
	}
	return ""
}

// forwarded returns the message inside a carbon.
func forwarded(t *testing.T, st *stanza.Stanza) *xml.Element {
	t.Helper()
	m := st.El.Child(carbons.NS, "").Child(stanza.NSForward, "forwarded").Child(stanza.NSClient, "message")
	if m == nil {
		t.Fatalf("no forwarded message in %s", st)
	}
	return m
}

// kinds summarizes what a recorder got: "message", "sent" or "received"
// (a carbon from the account), "error", "iq"..., one per stanza.
func kinds(got []*stanza.Stanza) []string {
	var out []string
	for _, st := range got {
		switch {
		case st.Kind == stanza.KindMessage && st.IsError():
			out = append(out, "error")
		case st.Kind == stanza.KindMessage && carbon(st) != "" && st.From.Equal(st.To.Bare()):
			// A carbon comes from the account's bare JID (§11).
			out = append(out, carbon(st))
		default:
			out = append(out, st.Kind.String())
		}
	}
	return out
}
