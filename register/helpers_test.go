package register_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

const host = "example.org"

// recorder is a stanza.Target that records what it is given.
type recorder struct {
	jid jid.JID // the full JID it is bound to

	mu  sync.Mutex
	got []*stanza.Stanza
}

func (r *recorder) Deliver(st *stanza.Stanza) bool {
	r.mu.Lock()
	r.got = append(r.got, st)
	r.mu.Unlock()
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

// parseStanza parses a jabber:client stanza.
func parseStanza(t *testing.T, s string) *stanza.Stanza {
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

// one returns the single stanza rec received.
func one(t *testing.T, rec *recorder) *stanza.Stanza {
	t.Helper()
	got := rec.take()
	if len(got) != 1 {
		t.Fatalf("got %d stanzas, want 1: %v", len(got), got)
	}
	return got[0]
}

// wantXML fails unless got is equivalent to the element written in want
// (jabber:client default namespace): same names, same attributes in any
// order, same child elements in order, same trimmed text.
func wantXML(t *testing.T, got *stanza.Stanza, want string) {
	t.Helper()
	w, err := xml.Parse([]byte(want), stanza.NSClient)
	if err != nil {
		t.Fatalf("parse %s: %v", want, err)
	}
	if !equal(got.El, w) {
		t.Errorf("got  %s\nwant %s", got, w)
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

var ctx = context.Background()
