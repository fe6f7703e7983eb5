package version_test

import (
	"runtime"
	"slices"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/version"
)

func TestVersion(t *testing.T) {
	for i, tc := range []struct {
		cfg      version.Config
		in, want string
	}{
		0: {
			cfg:  version.Config{Version: "1.2.3"},
			in:   `<iq type='get' id='v1' from='alice@example.org/phone' to='example.org'><query xmlns='jabber:iq:version'/></iq>`,
			want: `<iq type='result' id='v1' from='example.org' to='alice@example.org/phone'><query xmlns='jabber:iq:version'><name>Dormouse</name><version>1.2.3</version></query></iq>`,
		},
		1: { // no 'to', default version, with the OS
			cfg: version.Config{ShowOS: true},
			in:  `<iq type='get' id='v2' from='alice@example.org/phone'><query xmlns='jabber:iq:version'/></iq>`,
			want: `<iq type='result' id='v2' to='alice@example.org/phone'><query xmlns='jabber:iq:version'><name>Dormouse</name><version>unknown</version>` +
				`<os>` + runtime.GOOS + `</os></query></iq>`,
		},
		2: {
			cfg: version.Config{Version: "1"},
			in:  `<iq type='set' id='v3' from='alice@example.org/phone' to='example.org'><query xmlns='jabber:iq:version'/></iq>`,
			want: `<iq type='error' id='v3' from='example.org' to='alice@example.org/phone'><query xmlns='jabber:iq:version'/>
				<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>software version is queried with an IQ get</text></error></iq>`,
		},
		3: { // not for accounts
			cfg: version.Config{Version: "1"},
			in:  `<iq type='get' id='v4' from='alice@example.org/phone' to='bob@example.org'><query xmlns='jabber:iq:version'/></iq>`,
			want: `<iq type='error' id='v4' from='bob@example.org' to='alice@example.org/phone'><query xmlns='jabber:iq:version'/>
				<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
		},
	} {
		h := routertest.New(t)
		version.New(tc.cfg, nil).Register(h.Mux)
		if !slices.Contains(h.Mux.Features(router.ToServer), version.NS) {
			t.Errorf("%d: features %v lack %s", i, h.Mux.Features(router.ToServer), version.NS)
		}
		h.Bind("alice@example.org/phone")
		routertest.WantXML(t, h.IQ("alice@example.org/phone", tc.in), tc.want)
	}
}
