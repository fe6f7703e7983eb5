package stanza_test

import (
	"testing"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

func TestPack(t *testing.T) {
	from, to := jid.MustParse("alice@localhost/phone"), jid.MustParse("bob@localhost")
	for i, tc := range []struct {
		in, packed, out string
	}{
		0: {in: "<presence from='alice@localhost/phone'/>", packed: "<presence/>",
			out: "<presence from='alice@localhost/phone' to='bob@localhost'/>"},
		1: {in: "<presence to='x@localhost' from='y@localhost/a' id='p1'><show>away</show><priority>5</priority>" +
			"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>",
			packed: "<presence id='p1'><show>away</show><priority>5</priority>" +
				"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>",
			out: "<presence id='p1' from='alice@localhost/phone' to='bob@localhost'><show>away</show><priority>5</priority>" +
				"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>"},
		2: {in: "<presence><status>a &amp; b &lt;3</status></presence>", packed: "<presence><status>a &amp; b &lt;3</status></presence>",
			out: "<presence from='alice@localhost/phone' to='bob@localhost'><status>a &amp; b &lt;3</status></presence>"},
	} {
		st, err := stanza.New(parse(t, tc.in, stanza.NSClient))
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		before := st.String()
		packed := stanza.Pack(st)
		if packed != tc.packed {
			t.Errorf("%d: packed %s, want %s", i, packed, tc.packed)
		}
		if st.String() != before {
			t.Errorf("%d: Pack changed the stanza: %s, was %s", i, st.String(), before)
		}
		got, err := stanza.Unpack(packed, from, to)
		if err != nil {
			t.Fatalf("%d: Unpack: %v", i, err)
		}
		if got.String() != tc.out || !got.From.Equal(from) || !got.To.Equal(to) || got.Kind != stanza.KindPresence {
			t.Errorf("%d: unpacked %s (from %s to %s), want %s", i, got, got.From, got.To, tc.out)
		}
	}
	if _, err := stanza.Unpack("<presence", from, to); err == nil {
		t.Error("Unpack of malformed XML: no error")
	}
	if _, err := stanza.Unpack("<foo/>", from, to); err == nil {
		t.Error("Unpack of a non-stanza: no error")
	}
}

// TestPackShared checks that the most common kept presence costs no
// string of its own.
func TestPackShared(t *testing.T) {
	st, err := stanza.New(parse(t, "<presence from='alice@localhost/phone'/>", stanza.NSClient))
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = stanza.Pack(st) }); n > 2 {
		t.Errorf("Pack of an empty presence: %.0f allocations, want at most 2 (attributes, buffer)", n)
	}
}
