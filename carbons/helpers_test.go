package carbons_test

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"dormouse.im/dormouse/carbons"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

const host = "localhost"

var ctx = context.Background()

// recorder is a stanza.Target that records what it is given.
type recorder struct {
	jid jid.JID // the full JID it is bound to

	mu     sync.Mutex
	got    []*stanza.Stanza
	refuse bool // refuse everything (a full queue)
}

func (r *recorder) Deliver(st *stanza.Stanza) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return false
	}
	r.got = append(r.got, st)
	return true
}

// take returns and forgets the recorded stanzas.
func (r *recorder) take() []*stanza.Stanza {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// env is a router with the carbons service registered.
type env struct {
	t   *testing.T
	mux *router.Mux
	r   *router.Router
	svc *carbons.Service
	ids int // IQ ids
}

// newEnv returns an env; hooks are registered on the mux before carbons.
func newEnv(t *testing.T, hooks ...func(*router.Mux)) *env {
	t.Helper()
	mux := router.NewMux()
	r := router.New([]string{host}, mux, slog.New(slog.DiscardHandler))
	for _, h := range hooks {
		h(mux)
	}
	svc := carbons.New(carbons.Config{}, r, nil)
	svc.Register(mux)
	return &env{t: t, mux: mux, r: r, svc: svc}
}

// bind binds full to a new recorder. prio "" leaves it unavailable (no
// initial presence); otherwise it sends available presence with that
// priority.
func (e *env) bind(full, prio string) *recorder {
	e.t.Helper()
	rec := &recorder{jid: jid.MustParse(full)}
	e.r.Bind(rec.jid, rec)
	if prio != "" {
		e.r.SetPresence(ctx, rec.jid, presence(prio))
	}
	return rec
}

func presence(prio string) *stanza.Stanza {
	p := stanza.Build(stanza.KindPresence, "", "", jid.JID{}, jid.JID{})
	p.El.AddChild(xml.NewElement(stanza.NSClient, "priority").AddText(prio))
	return p
}

// iq routes an IQ set from rec with payload and returns the answer rec got.
func (e *env) iq(rec *recorder, to, payload string) *stanza.Stanza {
	e.t.Helper()
	e.ids++
	id := "iq" + strconv.Itoa(e.ids)
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	e.r.Route(ctx, parseStanza(e.t, "<iq type='set' id='"+id+"' from='"+rec.jid.String()+"'"+toAttr+">"+payload+"</iq>"))
	got := rec.take()
	if len(got) != 1 || got[0].ID != id {
		e.t.Fatalf("answer to %s: got %v", payload, got)
	}
	return got[0]
}

// enable enables carbons for rec and checks the result.
func (e *env) enable(rec *recorder) {
	e.t.Helper()
	if got := e.iq(rec, "", "<enable xmlns='urn:xmpp:carbons:2'/>"); got.Type != stanza.TypeResult {
		e.t.Fatalf("enable %s: %s", rec.jid, got)
	}
}

// route routes a stanza written in XML.
func (e *env) route(s string) { e.r.Route(ctx, parseStanza(e.t, s)) }

// parseStanza parses a jabber:client stanza.
func parseStanza(t testing.TB, s string) *stanza.Stanza {
	t.Helper()
	el, err := xml.Parse([]byte(s), stanza.NSClient)
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	st, err := stanza.New(el)
	if err != nil {
		t.Fatalf("stanza %s: %v", s, err)
	}
	return st
}

// wantXML fails unless got, and got serialized and parsed again, are
// equivalent to the element written in want (jabber:client default
// namespace): same names, same attributes in any order, same child
// elements in order, same trimmed text.
func wantXML(t *testing.T, got *stanza.Stanza, want string) {
	t.Helper()
	w, err := xml.Parse([]byte(want), stanza.NSClient)
	if err != nil {
		t.Fatalf("parse %s: %v", want, err)
	}
	if !equal(got.El, w) {
		t.Errorf("got  %s\nwant %s", got, w)
		return
	}
	again, err := xml.Parse(got.AppendXML(nil, stanza.NSClient), stanza.NSClient)
	if err != nil || !equal(again, w) {
		t.Errorf("serialized: %s (%v)\nwant %s", got, err, w)
	}
}

func equal(a, b *xml.Element) bool {
	if a.Name != b.Name || len(a.Attr) != len(b.Attr) {
		return false
	}
	for _, x := range a.Attr {
		if !slices.Contains(b.Attr, x) {
			return false
		}
	}
	if strings.TrimSpace(a.Text()) != strings.TrimSpace(b.Text()) {
		return false
	}
	ae, be := a.Elements(), b.Elements()
	if len(ae) != len(be) {
		return false
	}
	for i := range ae {
		if !equal(ae[i], be[i]) {
			return false
		}
	}
	return true
}

// carbon returns the wrapper name of a carbon ("sent" or "received"), or
// "" if st is not one.
func carbon(st *stanza.Stanza) string {
	if c := st.El.Child(carbons.NS, ""); c != nil && c.Child(carbons.NSForward, "forwarded") != nil {
		return c.Name.Local
	}
	return ""
}

// forwarded returns the message inside a carbon.
func forwarded(t *testing.T, st *stanza.Stanza) *xml.Element {
	t.Helper()
	m := st.El.Child(carbons.NS, "").Child(carbons.NSForward, "forwarded").Child(stanza.NSClient, "message")
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
