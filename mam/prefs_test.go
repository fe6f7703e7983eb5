package mam_test

import (
	"slices"
	"testing"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/stanza"
)

// prefsOf parses a <prefs/> result.
func prefsOf(t *testing.T, got []*stanza.Stanza) (string, []string, []string) {
	t.Helper()
	if len(got) != 1 || got[0].Type != stanza.TypeResult {
		t.Fatalf("prefs answer: %v", got)
	}
	p := got[0].El.Child(mam.NS, "prefs")
	list := func(name string) []string {
		l := p.Child(mam.NS, name)
		if l == nil {
			t.Fatalf("no <%s/> in %s (XEP-0441: must be present)", name, got[0])
		}
		var out []string
		for _, j := range l.ChildrenNamed(mam.NS, "jid") {
			out = append(out, j.Text())
		}
		return out
	}
	return p.AttrValue("default"), list("always"), list("never")
}

func TestPrefsIQ(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, mam.Config{Default: mam.PrefRoster})
		def, always, never := prefsOf(t, e.iq(aliceDesk, `<iq type='get' id='p'><prefs xmlns='urn:xmpp:mam:2'/></iq>`))
		if def != "roster" || len(always) != 0 || len(never) != 0 {
			t.Errorf("unset prefs: %s %v %v", def, always, never)
		}
		def, always, never = prefsOf(t, e.iq(aliceDesk, `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='never'>`+
			`<always><jid>Romeo@Montague.lit</jid><jid>bob@localhost</jid><jid>bob@localhost</jid></always>`+
			`<never><jid>carol@localhost/x</jid></never></prefs></iq>`))
		if def != "never" || !slices.Equal(always, []string{"bob@localhost", "romeo@montague.lit"}) || !slices.Equal(never, []string{"carol@localhost/x"}) {
			t.Errorf("set answer: %s %v %v", def, always, never)
		}
		def2, always2, never2 := prefsOf(t, e.iq(aliceDesk, `<iq type='get' id='p'><prefs xmlns='urn:xmpp:mam:2'/></iq>`))
		if def2 != def || !slices.Equal(always2, always) || !slices.Equal(never2, never) {
			t.Errorf("get after set: %s %v %v", def2, always2, never2)
		}
		for _, c := range []struct{ name, iq, cond string }{
			{"bad default", `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='sometimes'/></iq>`, "bad-request"},
			{"no default", `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2'/></iq>`, "bad-request"},
			{"bad jid", `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='always'><always><jid>@@</jid></always></prefs></iq>`, "jid-malformed"},
			{"another user's", `<iq type='get' id='p' to='bob@localhost'><prefs xmlns='urn:xmpp:mam:2'/></iq>`, "forbidden"},
		} {
			got := e.iq(aliceDesk, c.iq)
			if len(got) != 1 || got[0].Type != stanza.TypeError || string(stanza.ParseError(got[0].El).Condition) != c.cond {
				t.Errorf("%s: %v, want %s", c.name, got, c.cond)
			}
		}
	})
}

func TestPrefsApplied(t *testing.T) {
	type archived struct{ alice, bob int }
	cases := []struct {
		name       string
		cfg        mam.Config
		alicePrefs string // a <prefs/> set by alice, "" for none
		bobPrefs   string
		roster     [][2]string
		want       archived // counts after alice→bob and bob→alice (full JIDs)
	}{
		{name: "default always", want: archived{2, 2}},
		{name: "configured never", cfg: mam.Config{Default: mam.PrefNever}, want: archived{0, 0}},
		{name: "configured roster, not in roster", cfg: mam.Config{Default: mam.PrefRoster}, want: archived{0, 0}},
		{name: "configured roster, in alice's roster", cfg: mam.Config{Default: mam.PrefRoster},
			roster: [][2]string{{"alice@localhost", "bob@localhost"}}, want: archived{2, 0}},
		{name: "user never", alicePrefs: `default='never'`, want: archived{0, 2}},
		{name: "user never, always bob", alicePrefs: `default='never'><always><jid>bob@localhost</jid></always`, want: archived{2, 2}},
		{name: "user always, never bob", alicePrefs: `default='always'><never><jid>bob@localhost</jid></never`, want: archived{0, 2}},
		{name: "never full JID", alicePrefs: `default='always'><never><jid>bob@localhost/phone</jid></never`, want: archived{0, 2}},
		{name: "never other resource", alicePrefs: `default='always'><never><jid>bob@localhost/laptop</jid></never`, want: archived{2, 2}},
		{name: "always full JID", alicePrefs: `default='never'><always><jid>bob@localhost/phone</jid></always`, want: archived{2, 2}},
		{name: "never wins over always", alicePrefs: `default='always'><always><jid>bob@localhost</jid></always><never><jid>bob@localhost</jid></never`, want: archived{0, 2}},
		{name: "user roster", bobPrefs: `default='roster'`, roster: [][2]string{{"bob@localhost", "alice@localhost"}}, want: archived{2, 2}},
		{name: "user roster, not in roster", bobPrefs: `default='roster'`, want: archived{2, 0}},
		{name: "user always overrides configured never", cfg: mam.Config{Default: mam.PrefNever}, bobPrefs: `default='always'`, want: archived{0, 2}},
	}
	backends(t, func(t *testing.T, backend string) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := newEnv(t, backend, c.cfg)
				for _, r := range c.roster {
					e.roster.add(r[0], r[1])
				}
				tb := e.online("bob@localhost/phone")
				ta := e.online(aliceDesk)
				for who, p := range map[string]string{aliceDesk: c.alicePrefs, "bob@localhost/phone": c.bobPrefs} {
					if p == "" {
						continue
					}
					got := e.iq(who, `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' `+p+`></prefs></iq>`)
					if len(got) != 1 || got[0].Type != stanza.TypeResult {
						t.Fatalf("set prefs %s: %v", p, got)
					}
				}
				e.chat(aliceDesk, "bob@localhost/phone", "one")
				e.chat("bob@localhost/phone", aliceDesk, "two")
				if n := len(e.archive("alice@localhost")); n != c.want.alice {
					t.Errorf("alice archived %d, want %d", n, c.want.alice)
				}
				nb := len(e.archive("bob@localhost"))
				if nb != c.want.bob {
					t.Errorf("bob archived %d, want %d", nb, c.want.bob)
				}
				// Bob's delivered copy has a stanza-id iff bob archives.
				for _, st := range tb.Take() {
					if (mam.StanzaID(st, "bob@localhost") != "") != (c.want.bob > 0) {
						t.Errorf("bob got %s", st)
					}
				}
				ta.Take()
			})
		}
	})
}

func TestPrefsElementRoundTrip(t *testing.T) {
	// A set with no lists answers with both lists present and empty.
	e := newEnv(t, memBackend, mam.Config{})
	got := e.iq(aliceDesk, `<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='always'/></iq>`)
	p := got[0].El.Child(mam.NS, "prefs")
	if p == nil || p.Child(mam.NS, "always") == nil || p.Child(mam.NS, "never") == nil {
		t.Errorf("answer %s", got[0])
	}
}
