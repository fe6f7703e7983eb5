package disco_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"dormouse.im/dormouse/disco"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// relations is a fake router.Relations: alice and bob share their
// presence with each other; broken@example.org fails.
type relations struct{}

func (relations) Subscribed(_ context.Context, account, requester jid.JID) (bool, error) {
	if account.String() == "broken@example.org" {
		return false, errors.New("storage down")
	}
	return slices.Contains([]string{"alice@example.org", "bob@example.org"}, account.String()) &&
		slices.Contains([]string{"alice@example.org", "bob@example.org"}, requester.String()), nil
}

const alice = "alice@example.org/phone"

// setup returns a harness with disco and a couple of other features
// registered, and alice bound.
func setup(t *testing.T, cfg disco.Config) (*routertest.Harness, *disco.Service) {
	t.Helper()
	svc := disco.New(cfg, nil)
	h := routertest.New(t)
	h.Router.SetRelations(relations{})
	svc.Register(h.Mux)
	h.Mux.AddFeature(router.ToServer, "urn:xmpp:ping")
	h.Mux.AddFeature(router.ToAccount, "urn:xmpp:mam:2")
	h.Bind(alice)
	return h, svc
}

const serverInfo = `<query xmlns='http://jabber.org/protocol/disco#info'%s>
	<identity category='server' type='im' name='Dormouse'/>
	<feature var='http://jabber.org/protocol/caps'/>
	<feature var='http://jabber.org/protocol/disco#info'/>
	<feature var='http://jabber.org/protocol/disco#items'/>
	<feature var='urn:xmpp:ping'/>
</query>`

const accountInfo = `<query xmlns='http://jabber.org/protocol/disco#info'>
	<identity category='account' type='registered'/>
	<feature var='http://jabber.org/protocol/disco#info'/>
	<feature var='http://jabber.org/protocol/disco#items'/>
	<feature var='urn:xmpp:mam:2'/>
</query>`

func errorXML(cond, typ string) string {
	return `<error type='` + typ + `'><` + cond + ` xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
}

func TestDisco(t *testing.T) {
	h, svc := setup(t, disco.Config{})
	ver := svc.Ver()
	capsNode := disco.CapsNode + "#" + ver
	for i, tc := range []struct {
		in, want string
	}{
		0: { // server info
			in:   `<iq type='get' id='d0' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			want: `<iq type='result' id='d0' from='example.org' to='alice@example.org/phone'>` + fmt.Sprintf(serverInfo, "") + `</iq>`,
		},
		1: { // the caps node gives the same info (XEP-0115 §6.2)
			in:   `<iq type='get' id='d1' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='` + capsNode + `'/></iq>`,
			want: `<iq type='result' id='d1' from='example.org' to='alice@example.org/phone'>` + fmt.Sprintf(serverInfo, " node='"+capsNode+"'") + `</iq>`,
		},
		2: { // another node
			in: `<iq type='get' id='d2' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>`,
			want: `<iq type='error' id='d2' from='example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/>` +
				errorXML("item-not-found", "cancel") + `</iq>`,
		},
		3: { // server items (none configured)
			in:   `<iq type='get' id='d3' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			want: `<iq type='result' id='d3' from='example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
		},
		4: { // item nodes
			in: `<iq type='get' id='d4' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='x'/></iq>`,
			want: `<iq type='error' id='d4' from='example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#items' node='x'/>` +
				errorXML("item-not-found", "cancel") + `</iq>`,
		},
		5: { // another account
			in:   `<iq type='get' id='d5' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			want: `<iq type='result' id='d5' from='bob@example.org' to='alice@example.org/phone'>` + accountInfo + `</iq>`,
		},
		6: { // no 'to': the sender's own account (RFC 6120 §10.3.3)
			in:   `<iq type='get' id='d6'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			want: `<iq type='result' id='d6' to='alice@example.org/phone'>` + accountInfo + `</iq>`,
		},
		7: { // own bare JID
			in:   `<iq type='get' id='d7' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			want: `<iq type='result' id='d7' from='alice@example.org' to='alice@example.org/phone'>` + accountInfo + `</iq>`,
		},
		8: { // no such account
			in: `<iq type='get' id='d8' to='nobody@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			want: `<iq type='error' id='d8' from='nobody@example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#info'/>` +
				errorXML("service-unavailable", "cancel") + `</iq>`,
		},
		9: { // account items
			in:   `<iq type='get' id='d9' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			want: `<iq type='result' id='d9' from='bob@example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
		},
		10: {
			in: `<iq type='get' id='d10' to='nobody@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			want: `<iq type='error' id='d10' from='nobody@example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#items'/>` +
				errorXML("service-unavailable", "cancel") + `</iq>`,
		},
		11: { // account nodes
			in: `<iq type='get' id='d11' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>`,
			want: `<iq type='error' id='d11' from='bob@example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/>` +
				errorXML("item-not-found", "cancel") + `</iq>`,
		},
		12: { // storage failure
			in: `<iq type='get' id='d12' to='broken@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			want: `<iq type='error' id='d12' from='broken@example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#info'/>` +
				errorXML("internal-server-error", "cancel") + `</iq>`,
		},
		13: { // a set
			in: `<iq type='set' id='d13' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			want: `<iq type='error' id='d13' from='example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#info'/>
				<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>service discovery is queried with an IQ get</text></error></iq>`,
		},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			h := h.In(t)
			h.Bind(alice)
			routertest.WantXML(t, h.IQ(alice, tc.in), tc.want)
		})
	}
}

func TestCapsElement(t *testing.T) {
	h, svc := setup(t, disco.Config{})
	info := h.IQ(alice, `<iq type='get' id='c' from='alice@example.org/phone' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`).Payload()
	c := svc.CapsElement()
	want, _ := xml.Parse([]byte(`<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://dormouse.im' ver='`+disco.CapsVer(info)+`'/>`), "")
	if !routertest.EqualXML(c, want) {
		t.Errorf("caps element %s, want %s", c, want)
	}
	if svc.Ver() != disco.CapsVer(info) {
		t.Errorf("Ver %s, want the hash of the served info %s", svc.Ver(), disco.CapsVer(info))
	}
}

func TestItemsAndContacts(t *testing.T) {
	cfg := disco.Config{
		Name: "Example",
		Items: []disco.Item{
			{JID: jid.MustParse("conference.example.org"), Name: "Chatrooms"},
			{JID: jid.MustParse("push.example.org")},
		},
		Contacts: disco.Contacts{
			Abuse: []string{"mailto:abuse@example.org", "xmpp:abuse@example.org"},
			Admin: []string{"xmpp:admin@example.org"},
		},
	}
	h, svc := setup(t, cfg)
	routertest.WantXML(t, h.IQ(alice, `<iq type='get' id='i' from='alice@example.org/phone' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`), `<iq type='result' id='i' from='example.org' to='alice@example.org/phone'>
		<query xmlns='http://jabber.org/protocol/disco#items'>
			<item jid='conference.example.org' name='Chatrooms'/>
			<item jid='push.example.org'/>
		</query></iq>`)

	got := h.IQ(alice, `<iq type='get' id='c' from='alice@example.org/phone' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	routertest.WantXML(t, got, `<iq type='result' id='c' from='example.org' to='alice@example.org/phone'>
		<query xmlns='http://jabber.org/protocol/disco#info'>
			<identity category='server' type='im' name='Example'/>
			<feature var='http://jabber.org/protocol/caps'/>
			<feature var='http://jabber.org/protocol/disco#info'/>
			<feature var='http://jabber.org/protocol/disco#items'/>
			<feature var='urn:xmpp:ping'/>
			<x xmlns='jabber:x:data' type='result'>
				<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/network/serverinfo</value></field>
				<field var='abuse-addresses' type='list-multi'><value>mailto:abuse@example.org</value><value>xmpp:abuse@example.org</value></field>
				<field var='admin-addresses' type='list-multi'><value>xmpp:admin@example.org</value></field>
			</x>
		</query></iq>`)
	// The form counts in the verification string.
	noForm := got.Payload().Copy()
	noForm.RemoveChildren(disco.NSData, "x")
	if svc.Ver() != disco.CapsVer(got.Payload()) || svc.Ver() == disco.CapsVer(noForm) {
		t.Errorf("ver %s does not cover the contact form", svc.Ver())
	}
}

func TestFeatures(t *testing.T) {
	svc := disco.New(disco.Config{}, nil)
	h := routertest.New(t)
	mux := h.Mux
	svc.Register(mux)
	for _, tc := range []struct {
		to   router.Addressee
		want []string
	}{
		{router.ToServer, []string{disco.NSCaps, disco.NSInfo, disco.NSItems}},
		{router.ToAccount, []string{disco.NSInfo, disco.NSItems}},
	} {
		if got := mux.Features(tc.to); !equalStrings(got, tc.want) {
			t.Errorf("features(%d) = %v, want %v", tc.to, got, tc.want)
		}
	}
	if ids := mux.Identities(); len(ids) != 1 || ids[0] != (router.Identity{Category: "server", Type: "im", Name: "Dormouse"}) {
		t.Errorf("identities %v", ids)
	}
	// Without an account checker, any local bare JID is an account.
	h.Bind(alice)
	if st := h.IQ(alice, `<iq type='get' id='x' from='alice@example.org/phone' to='zed@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`); st.Type != stanza.TypeResult {
		t.Errorf("got %s, want a result", st)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestServiceItems: services routed now are listed beside the configured
// components, each once.
func TestServiceItems(t *testing.T) {
	var r *router.Router
	h, _ := setup(t, disco.Config{
		Items:    []disco.Item{{JID: jid.MustParse("push.example.org")}, {JID: jid.MustParse("bridge.example.org"), Name: "Bridge"}},
		Services: func() []router.ServiceEntry { return r.Services() },
	})
	r = h.Router
	noop := router.ServiceFunc(func(context.Context, *stanza.Stanza) error { return nil })
	if err := r.AddService("conference.example.org", "Chatrooms", noop); err != nil {
		t.Fatal(err)
	}
	if err := r.AddService("push.example.org", "Push", noop); err != nil {
		t.Fatal(err)
	}
	routertest.WantXML(t, h.IQ(alice, `<iq type='get' id='i' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`), `<iq type='result' id='i' from='example.org' to='alice@example.org/phone'>
		<query xmlns='http://jabber.org/protocol/disco#items'>
			<item jid='conference.example.org' name='Chatrooms'/>
			<item jid='push.example.org' name='Push'/>
			<item jid='bridge.example.org' name='Bridge'/>
		</query></iq>`)
}
