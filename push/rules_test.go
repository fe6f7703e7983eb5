package push

import (
	"testing"

	"dormouse.im/dormouse/internal/routertest"
)

func TestWake(t *testing.T) {
	const to = " to='juliet@example.com/phone' from='romeo@example.net/orchard'"
	for _, tc := range []struct {
		name, st string
		want     Kind
	}{
		{"chat body", "<message type='chat'" + to + "><body>hi</body></message>", Message},
		{"normal body", "<message" + to + "><body>hi</body></message>", Message},
		{"empty body", "<message type='chat'" + to + "><body></body></message>", None},
		{"chat state", "<message type='chat'" + to + "><active xmlns='http://jabber.org/protocol/chatstates'/></message>", None},
		{"receipt", "<message" + to + "><received xmlns='urn:xmpp:receipts' id='1'/></message>", None},
		{"marker", "<message" + to + "><displayed xmlns='urn:xmpp:chat-markers:0' id='1'/></message>", None},
		{"omemo legacy", "<message type='chat'" + to + "><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>", Message},
		{"omemo 0", "<message type='chat'" + to + "><encrypted xmlns='urn:xmpp:omemo:0'/></message>", Message},
		{"omemo 2", "<message type='chat'" + to + "><encrypted xmlns='urn:xmpp:omemo:2'/></message>", Message},
		{"pgp", "<message type='chat'" + to + "><x xmlns='jabber:x:encrypted'>...</x></message>", Message},
		{"ox", "<message type='chat'" + to + "><openpgp xmlns='urn:xmpp:openpgp:0'>...</openpgp></message>", Message},
		{"call", "<message" + to + "><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message>", Call},
		{"call retract", "<message" + to + "><retract xmlns='urn:xmpp:jingle-message:0' id='c'/></message>", None},
		{"headline", "<message type='headline'" + to + "><body>news</body></message>", None},
		{"error", "<message type='error'" + to + "><body>hi</body></message>", None},
		{"received carbon", "<message" + to + "><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat' from='romeo@example.net/o' to='juliet@example.com/laptop'><body>hi</body></message></forwarded></received></message>", Message},
		{"received carbon of a chat state", "<message" + to + "><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat'><gone xmlns='http://jabber.org/protocol/chatstates'/></message></forwarded></received></message>", None},
		{"sent carbon", "<message" + to + "><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat'><body>mine</body></message></forwarded></sent></message>", None},
		{"empty carbon", "<message" + to + "><received xmlns='urn:xmpp:carbons:2'/></message>", None},
		{"groupchat", "<message type='groupchat'" + to + "><body>hello all</body></message>", None},
		{"groupchat mention", "<message type='groupchat'" + to + "><body>Juliet: hello</body></message>", Message},
		{"groupchat not a word", "<message type='groupchat'" + to + "><body>juliette is here</body></message>", None},
		{"groupchat reference", "<message type='groupchat'" + to + "><body>@Jules hi</body><reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:juliet@example.com' begin='0' end='6'/></message>", Message},
		{"groupchat subject", "<message type='groupchat'" + to + "><subject>juliet</subject><body>juliet</body></message>", None},
		{"groupchat encrypted", "<message type='groupchat'" + to + "><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>", Message},
		{"subscribe", "<presence type='subscribe'" + to + "/>", Subscribe},
		{"presence", "<presence" + to + "/>", None},
		{"iq", "<iq type='get' id='1'" + to + "><ping xmlns='urn:xmpp:ping'/></iq>", None},
	} {
		st := routertest.Parse(t, tc.st)
		if got, _ := Wake(st, mustJID(t, "juliet@example.com")); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func BenchmarkWake(b *testing.B) {
	st := routertest.Parse(b, "<message type='chat' to='juliet@example.com' from='romeo@example.net/o' id='1'><body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='juliet@example.com' id='abc'/></message>")
	user := mustJID(b, "juliet@example.com")
	b.ReportAllocs()
	for b.Loop() {
		if k, _ := Wake(st, user); k != Message {
			b.Fatal(k)
		}
	}
}
