package session

import (
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/xml"
)

func mustParse(t testing.TB, s string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(s), "jabber:client")
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func TestParseAuthenticate(t *testing.T) {
	const full = `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'>
		<initial-response>biwsbj11c2VyLHI9YWJj</initial-response>
		<user-agent id='D4565FA7-4d72-4749-b3d3-740edbf87770'><software>App</software><device>Kiva's Phone</device></user-agent>
		<bind xmlns='urn:xmpp:bind:0'><tag>App</tag><enable xmlns='urn:xmpp:sm:3' resume='true' max='600'/>
			<enable xmlns='urn:xmpp:carbons:2'/><inactive xmlns='urn:xmpp:csi:0'/><unknown xmlns='urn:x'/></bind>
		<resume xmlns='urn:xmpp:sm:3' previd='some-id' h='4294967295'/>
		<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>
		<fast xmlns='urn:xmpp:fast:0' count='7' invalidate='true'/>
		<other xmlns='urn:example'/>
	</authenticate>`
	r, perr := parseAuthenticate(mustParse(t, full))
	if perr != nil {
		t.Fatal(perr)
	}
	if r.mech != auth.ScramSHA256 || string(r.initial) != "n,,n=user,r=abc" || r.uaID != "d4565fa7-4d72-4749-b3d3-740edbf87770" ||
		r.software != "App" || r.device != "Kiva's Phone" || r.requestToken != auth.HTSHA256None ||
		!r.fast || r.fastCount != 7 || !r.invalidate {
		t.Errorf("parsed %+v", r)
	}
	if b := r.bind; b == nil || b.tag != "App" || !b.sm || !b.smResume || b.smMax != 600*time.Second || !b.carbons || !b.inactive {
		t.Errorf("bind %+v", r.bind)
	}
	if r.resume == nil || r.resume.previd != "some-id" || r.resume.h != 4294967295 {
		t.Errorf("resume %+v", r.resume)
	}

	for name, c := range map[string]struct{ xml, cond string }{
		"no mechanism":       {`<authenticate xmlns='urn:xmpp:sasl:2'/>`, auth.ConditionInvalidMechanism},
		"bad base64":         {`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>!!</initial-response></authenticate>`, auth.ConditionIncorrectEncoding},
		"bad uuid":           {`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent id='abc'/></authenticate>`, auth.ConditionMalformedRequest},
		"uuid not hex":       {`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent id='g4565fa7-4d72-4749-b3d3-740edbf87770'/></authenticate>`, auth.ConditionMalformedRequest},
		"two responses":      {`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response/><initial-response/></authenticate>`, auth.ConditionMalformedRequest},
		"resume without h":   {`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><resume xmlns='urn:xmpp:sm:3' previd='x'/></authenticate>`, auth.ConditionMalformedRequest},
		"resume h too big":   {`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><resume xmlns='urn:xmpp:sm:3' previd='x' h='4294967296'/></authenticate>`, auth.ConditionMalformedRequest},
		"bad count":          {`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><fast xmlns='urn:xmpp:fast:0' count='-1'/></authenticate>`, auth.ConditionMalformedRequest},
		"token without mech": {`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><request-token xmlns='urn:xmpp:fast:0'/></authenticate>`, auth.ConditionMalformedRequest},
		"empty tag":          {`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><bind xmlns='urn:xmpp:bind:0'><tag> </tag></bind></authenticate>`, auth.ConditionMalformedRequest},
	} {
		_, perr := parseAuthenticate(mustParse(t, c.xml))
		if perr == nil || perr.cond != c.cond || perr.text == "" {
			t.Errorf("%s: %+v, want %s with a text", name, perr, c.cond)
		}
	}
}

// TestUserAgentWithoutID: XEP-0388's <user-agent/> may come without an id
// (clients such as moxxmpp send only <software/>): the login goes on, with
// no user-agent id (so no FAST token and a random Bind 2 resource suffix).
func TestUserAgentWithoutID(t *testing.T) {
	r, perr := parseAuthenticate(mustParse(t, `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'>
		<user-agent><software>App</software><device>Phone</device></user-agent></authenticate>`))
	if perr != nil {
		t.Fatalf("refused: %+v", perr)
	}
	if r.uaID != "" || r.software != "App" || r.device != "Phone" {
		t.Errorf("parsed %+v", r)
	}
}

func TestBoundedText(t *testing.T) {
	if got := boundedText("  ab\u00e9 ", 3); got != "ab" {
		t.Errorf("cut in a rune: %q", got)
	}
	if got := boundedText("abc", 3); got != "abc" {
		t.Errorf("%q", got)
	}
}

// FuzzParseAuthenticate: no input makes the SASL2/Bind 2/FAST parser
// panic, and what it accepts is within bounds.
func FuzzParseAuthenticate(f *testing.F) {
	for _, s := range []string{
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>AGEAYg==</initial-response></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'/><fast xmlns='urn:xmpp:fast:0' count='1' invalidate='1'/><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='X'><bind xmlns='urn:xmpp:bind:0'><tag>t</tag><enable xmlns='urn:xmpp:sm:3' resume='true' max='9'/><enable xmlns='urn:xmpp:carbons:2'/><inactive xmlns='urn:xmpp:csi:0'/></bind><resume xmlns='urn:xmpp:sm:3' previd='p' h='1'/></authenticate>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xml.Parse([]byte(s), "jabber:client")
		if err != nil {
			return
		}
		r, perr := parseAuthenticate(el)
		if perr != nil {
			if r != nil || perr.cond == "" {
				t.Fatalf("error %+v with result %+v", perr, r)
			}
			return
		}
		if r.mech == "" || len(r.software) > maxUserAgentText || len(r.device) > maxUserAgentText {
			t.Fatalf("accepted %+v", r)
		}
		if r.uaID != "" && len(r.uaID) != 36 {
			t.Fatalf("user agent id %q", r.uaID)
		}
		if r.bind != nil && len(r.bind.tag) > maxTag {
			t.Fatalf("tag %q", r.bind.tag)
		}
	})
}
