package ping_test

import (
	"fmt"
	"slices"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/ping"
	"dormouse.im/dormouse/router"
)

func TestPing(t *testing.T) {
	for i, tc := range []struct {
		in, want string
	}{
		0: { // no 'to': handled by the server
			in:   `<iq type='get' id='p1' from='alice@example.org/phone'><ping xmlns='urn:xmpp:ping'/></iq>`,
			want: `<iq type='result' id='p1' to='alice@example.org/phone'/>`,
		},
		1: { // to the server
			in:   `<iq type='get' id='p2' from='alice@example.org/phone' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			want: `<iq type='result' id='p2' from='example.org' to='alice@example.org/phone'/>`,
		},
		2: { // a set is not a ping
			in: `<iq type='set' id='p3' from='alice@example.org/phone' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			want: `<iq type='error' id='p3' from='example.org' to='alice@example.org/phone'><ping xmlns='urn:xmpp:ping'/>
				<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>a ping is an IQ get</text></error></iq>`,
		},
		3: { // the server does not answer for an account
			in: `<iq type='get' id='p4' from='alice@example.org/phone' to='bob@example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			want: `<iq type='error' id='p4' from='bob@example.org' to='alice@example.org/phone'><ping xmlns='urn:xmpp:ping'/>
				<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
		},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			h := routertest.New(t)
			ping.New(ping.Config{}, nil).Register(h.Mux)
			h.Bind("alice@example.org/phone")
			routertest.WantXML(t, h.IQ("alice@example.org/phone", tc.in), tc.want)
		})
	}
}

func TestPingFeature(t *testing.T) {
	mux := router.NewMux()
	ping.New(ping.Config{}, nil).Register(mux)
	if !slices.Contains(mux.Features(router.ToServer), ping.NS) {
		t.Errorf("server features %v lack %s", mux.Features(router.ToServer), ping.NS)
	}
	if slices.Contains(mux.Features(router.ToAccount), ping.NS) {
		t.Errorf("account features %v advertise %s", mux.Features(router.ToAccount), ping.NS)
	}
}
