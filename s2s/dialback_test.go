package s2s

import (
	"testing"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// The example of XEP-0185 §3.
func TestDialbackKeyXEP0185(t *testing.T) {
	const want = "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643"
	got := dialbackKey([]byte("s3cr3tf0rd14lb4ck"), "xmpp.example.com", "example.org", "D60000229F")
	if got != want {
		t.Fatalf("key %s, want %s", got, want)
	}
	if !checkKey([]byte("s3cr3tf0rd14lb4ck"), "xmpp.example.com", "example.org", "D60000229F", want) {
		t.Error("checkKey refuses the right key")
	}
	if checkKey([]byte("s3cr3tf0rd14lb4ck"), "example.org", "xmpp.example.com", "D60000229F", want) {
		t.Error("checkKey accepts the key for swapped domains")
	}
}

func TestParseDialback(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
		d  dbElement
	}{
		{"<db:result from='B.example' to='a.example'>k</db:result>", true, dbElement{From: "b.example", To: "a.example", Key: "k"}},
		{"<db:result from='b.example' to='a.example' type='valid'/>", true, dbElement{From: "b.example", To: "a.example", Type: "valid"}},
		{"<db:verify from='b.example' to='a.example' id='x'>k</db:verify>", true, dbElement{Verify: true, From: "b.example", To: "a.example", ID: "x", Key: "k"}},
		{"<db:verify from='b.example' to='a.example'>k</db:verify>", false, dbElement{}},
		{"<db:result from='b.example' to='a.example'/>", false, dbElement{}},
		{"<db:result from='u@b.example' to='a.example'>k</db:result>", false, dbElement{}},
		{"<db:result to='a.example'>k</db:result>", false, dbElement{}},
		{"<db:result from='b.example' to='a.example' type='maybe'/>", false, dbElement{}},
		{"<db:other from='b.example' to='a.example'>k</db:other>", false, dbElement{}},
	} {
		el, err := xml.Parse([]byte("<x xmlns='jabber:server' xmlns:db='"+NSDialback+"'>"+tc.in+"</x>"), stanza.NSServer)
		if err != nil {
			t.Fatal(err)
		}
		d, err := parseDialback(el.FirstChild())
		if (err == nil) != tc.ok || (tc.ok && d != tc.d) {
			t.Errorf("%s: %+v %v", tc.in, d, err)
		}
	}
}
