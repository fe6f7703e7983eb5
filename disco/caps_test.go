package disco_test

import (
	"testing"

	"dormouse.im/dormouse/disco"
	"dormouse.im/dormouse/xml"
)

func TestCapsVer(t *testing.T) {
	for i, tc := range []struct {
		query, ver string
	}{
		0: { // XEP-0115 §5.2 simple example
			query: `<query xmlns='http://jabber.org/protocol/disco#info'>
				<identity category='client' name='Exodus 0.9.1' type='pc'/>
				<feature var='http://jabber.org/protocol/caps'/>
				<feature var='http://jabber.org/protocol/disco#info'/>
				<feature var='http://jabber.org/protocol/disco#items'/>
				<feature var='http://jabber.org/protocol/muc'/>
			</query>`,
			ver: "QgayPKawpkPSDYmwT/WM94uAlu0=",
		},
		1: { // the same, in another order
			query: `<query xmlns='http://jabber.org/protocol/disco#info'>
				<feature var='http://jabber.org/protocol/muc'/>
				<feature var='http://jabber.org/protocol/disco#items'/>
				<feature var='http://jabber.org/protocol/caps'/>
				<identity type='pc' name='Exodus 0.9.1' category='client'/>
				<feature var='http://jabber.org/protocol/disco#info'/>
			</query>`,
			ver: "QgayPKawpkPSDYmwT/WM94uAlu0=",
		},
		2: { // XEP-0115 §5.3 complex example: languages and a form
			query: `<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
				<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
				<identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
				<feature var='http://jabber.org/protocol/caps'/>
				<feature var='http://jabber.org/protocol/disco#info'/>
				<feature var='http://jabber.org/protocol/disco#items'/>
				<feature var='http://jabber.org/protocol/muc'/>
				<x xmlns='jabber:x:data' type='result'>
					<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
					<field var='ip_version'><value>ipv4</value><value>ipv6</value></field>
					<field var='os'><value>Mac</value></field>
					<field var='os_version'><value>10.5.1</value></field>
					<field var='software'><value>Psi</value></field>
					<field var='software_version'><value>0.11</value></field>
				</x>
			</query>`,
			ver: "q07IKJEyjvHSyhy//CH0CxmKi8w=",
		},
		3: { // a form without a hidden FORM_TYPE is ignored
			query: `<query xmlns='http://jabber.org/protocol/disco#info'>
				<identity category='client' name='Exodus 0.9.1' type='pc'/>
				<feature var='http://jabber.org/protocol/caps'/>
				<feature var='http://jabber.org/protocol/disco#info'/>
				<feature var='http://jabber.org/protocol/disco#items'/>
				<feature var='http://jabber.org/protocol/muc'/>
				<x xmlns='jabber:x:data' type='result'><field var='os'><value>Mac</value></field></x>
			</query>`,
			ver: "QgayPKawpkPSDYmwT/WM94uAlu0=",
		},
	} {
		q, err := xml.Parse([]byte(tc.query), "")
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if got := disco.CapsVer(q); got != tc.ver {
			t.Errorf("%d: ver %s, want %s", i, got, tc.ver)
		}
	}
}

func TestCapsVerEscaping(t *testing.T) {
	// XEP-0115 §5.1: "&lt;" in a factor stays literal, so a name that
	// contains it must not collide with a '<' separator.
	a, _ := xml.Parse([]byte(`<query xmlns='http://jabber.org/protocol/disco#info'>
		<identity category='client' type='pc' name='SomeClient&amp;lt;http://jabber.org/protocol/muc'/></query>`), "")
	b, _ := xml.Parse([]byte(`<query xmlns='http://jabber.org/protocol/disco#info'>
		<identity category='client' type='pc' name='SomeClient'/><feature var='http://jabber.org/protocol/muc'/></query>`), "")
	if disco.CapsVer(a) == disco.CapsVer(b) {
		t.Error("an escaped '<' in a name collides with a separator")
	}
}
