package push

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

const (
	user   = "juliet@example.com"
	phone  = user + "/phone"
	laptop = user + "/laptop"
	app    = "push.example.net"
	secret = "KK4+H5WMfpRG/2zCbuKq6wpX"
)

type harness struct {
	t     *testing.T
	s     *Service
	store *memStore
	r     *fakeRouter
	clock *xmpptest.FakeClock
	m     *metricsRecorder
	n     int // message ids
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, store: &memStore{}, r: newFakeRouter(),
		clock: xmpptest.NewFakeClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)), m: &metricsRecorder{}}
	cfg.Clock, cfg.Metrics = h.clock, h.m
	h.s = New(cfg, h.store, h.r, routertest.Logger())
	t.Cleanup(func() {
		if err := h.s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return h
}

func mustJID(t testing.TB, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// iq sends an IQ from the user's resource and returns the error (nil for
// a result).
func (h *harness) iq(from, payload string) error {
	h.t.Helper()
	st := routertest.Parse(h.t, "<iq type='set' id='x' from='"+from+"'>"+payload+"</iq>")
	reply, err := h.s.handleIQ(h.t.Context(), st)
	if err == nil && (reply == nil || reply.Type != stanza.TypeResult) {
		h.t.Fatalf("handleIQ: no result")
	}
	return err
}

func (h *harness) enable(from, node, extra string) {
	h.t.Helper()
	if err := h.iq(from, "<enable xmlns='urn:xmpp:push:0' jid='"+app+"' node='"+node+"'>"+extra+"</enable>"); err != nil {
		h.t.Fatalf("enable: %v", err)
	}
}

const secretForm = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>` + secret + `</value></field></x>`

// msg returns a chat message to the user with a body and a stanza-id.
func (h *harness) msg(body string) *stanza.Stanza {
	h.n++
	return routertest.Parse(h.t, fmt.Sprintf(`<message type='chat' id='m%d' from='romeo@example.net/orchard' to='%s'><body>%s</body><stanza-id xmlns='urn:xmpp:sid:0' by='%s' id='sid%d'/></message>`, h.n, user, body, user, h.n))
}

func (h *harness) hibernate(full string) {
	h.r.bind(full, true)
	h.s.Hibernated(h.t.Context(), mustJID(h.t, full), nil)
}

func (h *harness) queued(full string, st *stanza.Stanza) {
	h.s.StanzaQueued(h.t.Context(), mustJID(h.t, full), st)
	waitIdle(h.t, h.s)
}

func (h *harness) stored(st *stanza.Stanza) {
	h.s.MessageStored(h.t.Context(), mustJID(h.t, user), st)
	waitIdle(h.t, h.s)
}

func (h *harness) advance(d time.Duration) {
	h.clock.Advance(d)
	waitIdle(h.t, h.s)
}

func (h *harness) wantPublishes(n int) {
	h.t.Helper()
	if got := h.r.count(); got != n {
		h.t.Fatalf("%d publishes, want %d", got, n)
	}
}

// fields returns the summary form of a publish and its publish-options.
func fields(t testing.TB, iq *stanza.Stanza) (summary, options map[string]string) {
	t.Helper()
	read := func(x *xml.Element) map[string]string {
		m := map[string]string{}
		for _, f := range x.ChildrenNamed(NSData, "field") {
			m[f.AttrValue("var")] = f.ChildText(NSData, "value")
		}
		return m
	}
	ps := iq.El.Child(NSPubSub, "pubsub")
	n := ps.Child(NSPubSub, "publish").Child(NSPubSub, "item").Child(NS, "notification")
	if n == nil {
		t.Fatalf("no notification in %s", iq)
	}
	if x := n.Child(NSData, "x"); x != nil {
		summary = read(x)
	}
	if po := ps.Child(NSPubSub, "publish-options"); po != nil {
		options = read(po.Child(NSData, "x"))
	}
	return summary, options
}

func TestHibernatedPublishesOnce(t *testing.T) {
	h := newHarness(t, Config{})
	h.enable(phone, "tok-1", secretForm)
	h.hibernate(phone)
	h.queued(phone, h.msg("hi"))
	h.wantPublishes(1)
	iq := h.r.last()
	if iq.Type != "set" || iq.From.String() != user || iq.To.String() != app {
		t.Fatalf("publish %s", iq)
	}
	if node := iq.El.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").AttrValue("node"); node != "tok-1" {
		t.Fatalf("node %q", node)
	}
	sum, opts := fields(t, iq)
	want := map[string]string{"FORM_TYPE": NSSummary, "message-count": "1", "last-message-body": DefaultBody}
	if fmt.Sprint(sum) != fmt.Sprint(want) {
		t.Errorf("summary %v, want %v", sum, want)
	}
	if opts["secret"] != secret || opts["FORM_TYPE"] != FormPublishOptions {
		t.Errorf("publish-options %v", opts)
	}
	// A message queued, then rescued to offline storage when the session
	// times out: counted once.
	h.advance(time.Hour)
	st := h.msg("again")
	h.queued(phone, st)
	h.wantPublishes(2)
	h.r.bind(phone, false) // unbound, then its messages are rescued
	h.stored(st)
	h.s.TimedOut(t.Context(), mustJID(t, phone), 1)
	h.wantPublishes(2)
	if h.m.get(OutcomeOK) != 2 {
		t.Errorf("ok outcomes %d", h.m.get(OutcomeOK))
	}
	regs, _ := h.store.Registrations(t.Context(), user)
	if len(regs) != 1 || regs[0].LastSuccess.IsZero() {
		t.Errorf("registrations %+v", regs)
	}
}

// TestHibernatedUnacked: stanzas the client had not acknowledged when its
// connection was lost may never have reached it: the important ones wake
// it, once for the lot; chat states alone do not.
func TestHibernatedUnacked(t *testing.T) {
	h := newHarness(t, Config{})
	h.enable(phone, "tok-1", secretForm)
	state := routertest.Parse(t, `<message type='chat' id='cs' from='romeo@example.net/orchard' to='`+user+`'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	h.r.bind(phone, true)
	h.s.Hibernated(t.Context(), mustJID(t, phone), []*stanza.Stanza{state})
	waitIdle(t, h.s)
	h.wantPublishes(0)

	h.s.Resumed(t.Context(), mustJID(t, phone))
	h.s.Hibernated(t.Context(), mustJID(t, phone), []*stanza.Stanza{state, h.msg("one"), h.msg("two")})
	waitIdle(t, h.s)
	h.wantPublishes(1)
	if sum, _ := fields(t, h.r.last()); sum["message-count"] != "1" {
		// The first wakes at once; the second waits for the window.
		t.Errorf("summary %v", sum)
	}
	h.advance(2 * time.Second)
	h.wantPublishes(2)
}

func TestBurstCoalesced(t *testing.T) {
	h := newHarness(t, Config{IncludeSender: true, IncludeBody: true})
	h.enable(phone, "tok-1", "")
	h.hibernate(phone)
	for i := range 10 {
		h.queued(phone, h.msg(fmt.Sprint("msg ", i)))
	}
	h.wantPublishes(1) // the leading edge, at once
	h.advance(999 * time.Millisecond)
	h.wantPublishes(1)
	h.advance(time.Millisecond)
	h.wantPublishes(2) // one more when the window ends
	sum, opts := fields(t, h.r.last())
	if sum["message-count"] != "10" || sum["last-message-body"] != "msg 9" || sum["last-message-sender"] != "romeo@example.net" {
		t.Errorf("summary %v", sum)
	}
	if opts != nil {
		t.Errorf("publish-options %v without a form at enable", opts)
	}
	h.advance(10 * time.Second)
	h.wantPublishes(2)
	// After a quiet window the next message publishes at once.
	h.queued(phone, h.msg("later"))
	h.wantPublishes(3)
	// A call does not wait for the window.
	call := routertest.Parse(t, `<message from='romeo@example.net/orchard' to='`+user+`' id='c1'><propose xmlns='urn:xmpp:jingle-message:0' id='call1'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>`)
	h.queued(phone, call)
	h.wantPublishes(4)
	// Back online: counters and window start again.
	h.s.Resumed(t.Context(), mustJID(t, phone))
	h.advance(100 * time.Millisecond)
	h.hibernate(phone)
	h.queued(phone, h.msg("new"))
	h.wantPublishes(5)
	if sum, _ := fields(t, h.r.last()); sum["message-count"] != "1" {
		t.Errorf("after resumption: %v", sum)
	}
}

func TestNoPush(t *testing.T) {
	h := newHarness(t, Config{})
	h.enable(phone, "tok-1", "")
	h.enable(laptop, "tok-2", "")
	// Live, active session of the phone: offline storage (for another
	// reason) does not wake it; the laptop has no session.
	h.r.bind(phone, true)
	h.stored(h.msg("to the laptop only"))
	h.wantPublishes(1)
	if n := h.r.last().El.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").AttrValue("node"); n != "tok-2" {
		t.Fatalf("published to %s", n)
	}
	h.hibernate(phone)
	for _, s := range []string{
		`<message type='chat' from='romeo@example.net/o' to='` + user + `'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<message from='romeo@example.net/o' to='` + user + `'><received xmlns='urn:xmpp:receipts' id='x'/></message>`,
		`<message from='romeo@example.net/o' to='` + user + `'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>`,
		`<message from='` + laptop + `' to='` + phone + `'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat' from='` + laptop + `' to='romeo@example.net'><body>mine</body></message></forwarded></sent></message>`,
		`<message type='headline' from='example.com' to='` + user + `'><body>news</body></message>`,
		`<presence from='romeo@example.net/o' to='` + user + `'/>`,
	} {
		h.queued(phone, routertest.Parse(t, s))
	}
	h.wantPublishes(1)
	// Queued for another resource's hibernated session: not the phone.
	h.queued(user+"/tablet", h.msg("tablet"))
	h.wantPublishes(1)
	// Disabled: nothing.
	if err := h.iq(phone, "<disable xmlns='urn:xmpp:push:0' jid='"+app+"' node='tok-1'/>"); err != nil {
		t.Fatal(err)
	}
	h.queued(phone, h.msg("after disable"))
	h.wantPublishes(1)
	// CSI-inactive stanzas only with csi_inactive.
	h.enable(phone, "tok-1", "")
	h.s.InactiveStanza(t.Context(), mustJID(t, phone), h.msg("inactive"))
	waitIdle(t, h.s)
	h.wantPublishes(1)
}

func TestCSIInactive(t *testing.T) {
	h := newHarness(t, Config{CSIInactive: true})
	h.enable(phone, "tok-1", "")
	h.r.bind(phone, true)
	h.s.InactiveStanza(t.Context(), mustJID(t, phone), h.msg("inactive"))
	waitIdle(t, h.s)
	h.wantPublishes(1)
}

func TestOfflineAndSubscription(t *testing.T) {
	h := newHarness(t, Config{})
	h.enable(phone, "tok-1", "")
	h.stored(h.msg("offline"))
	h.wantPublishes(1)
	h.advance(2 * time.Second)
	h.hibernate(phone)
	h.queued(phone, routertest.Parse(t, `<presence type='subscribe' from='romeo@example.net' to='`+user+`'/>`))
	h.wantPublishes(2)
	sum, _ := fields(t, h.r.last())
	if sum["pending-subscription-count"] != "1" || sum["message-count"] != "1" || sum["last-message-body"] != "" {
		t.Errorf("summary %v", sum)
	}
}

func TestRejectedDisables(t *testing.T) {
	for _, cond := range []string{"item-not-found", "not-authorized", "forbidden", "registration-required"} {
		t.Run(cond, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.r.answer = func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
				e := stanza.NewError(stanza.Condition(cond), "")
				return iq.ErrorReply(e), e
			}
			h.enable(phone, "tok-1", "")
			h.enable(phone, "tok-2", "") // another app server node: kept
			h.r.answer = func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
				if iq.El.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").AttrValue("node") == "tok-2" {
					return iq.Result(nil), nil
				}
				e := stanza.NewError(stanza.Condition(cond), "")
				return iq.ErrorReply(e), e
			}
			h.hibernate(phone)
			h.queued(phone, h.msg("x"))
			h.wantPublishes(2)
			regs, _ := h.store.Registrations(t.Context(), user)
			if len(regs) != 1 || regs[0].Node != "tok-2" {
				t.Fatalf("registrations %+v", regs)
			}
			h.advance(time.Hour)
			h.queued(phone, h.msg("y"))
			h.wantPublishes(3)
			if h.m.get(OutcomeRejected) != 1 {
				t.Errorf("rejected %d", h.m.get(OutcomeRejected))
			}
		})
	}
}

func TestTemporaryErrorsRetryThenDisable(t *testing.T) {
	for _, tc := range []struct {
		outcome string
		err     error
	}{
		{OutcomeTimeout, fmt.Errorf("router: no answer: %w", context.DeadlineExceeded)},
		{OutcomeRemoteServerNotFound, stanza.NewError(stanza.RemoteServerNotFound, "")},
		{OutcomeWait, stanza.NewError(stanza.ResourceConstraint, "")},
		{OutcomeError, stanza.NewError(stanza.InternalServerError, "")},
	} {
		t.Run(tc.outcome, func(t *testing.T) {
			h := newHarness(t, Config{MaxErrors: 3})
			h.r.answer = func(context.Context, *stanza.Stanza) (*stanza.Stanza, error) { return nil, tc.err }
			h.enable(phone, "tok-1", "")
			h.hibernate(phone)
			h.queued(phone, h.msg("x"))
			h.wantPublishes(1)
			// Retried after 2 s (window 1 s · 2), then 4 s: backoff.
			h.advance(1999 * time.Millisecond)
			h.wantPublishes(1)
			h.advance(time.Millisecond)
			h.wantPublishes(2)
			regs, _ := h.store.Registrations(t.Context(), user)
			if len(regs) != 1 || regs[0].Errors != 2 {
				t.Fatalf("registrations %+v", regs)
			}
			h.advance(3999 * time.Millisecond)
			h.wantPublishes(2)
			h.advance(time.Millisecond)
			h.wantPublishes(3)
			// The third error disables it.
			if regs, _ := h.store.Registrations(t.Context(), user); len(regs) != 0 {
				t.Fatalf("registrations %+v after max_errors", regs)
			}
			h.advance(time.Hour)
			h.queued(phone, h.msg("y"))
			h.wantPublishes(3)
			if h.m.get(tc.outcome) != 3 {
				t.Errorf("%s outcomes: %d", tc.outcome, h.m.get(tc.outcome))
			}
		})
	}
}

func TestSuccessClearsErrors(t *testing.T) {
	h := newHarness(t, Config{MaxErrors: 2})
	fail := true
	h.r.answer = func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		if fail {
			return nil, context.DeadlineExceeded
		}
		return iq.Result(nil), nil
	}
	h.enable(phone, "tok-1", "")
	h.hibernate(phone)
	h.queued(phone, h.msg("x"))
	fail = false
	h.advance(2 * time.Second)
	h.wantPublishes(2)
	fail = true
	h.advance(time.Minute)
	h.queued(phone, h.msg("y"))
	h.wantPublishes(3)
	if regs, _ := h.store.Registrations(t.Context(), user); len(regs) != 1 {
		t.Fatalf("one error after a success disabled the registration: %+v", regs)
	}
}

func TestEncrypted(t *testing.T) {
	h := newHarness(t, Config{})
	key := []byte("0123456789abcdef")
	h.enable(phone, "tok-1", secretForm+"<encrypt xmlns='tigase:push:encrypt:0' alg='aes-128-gcm'>"+base64.StdEncoding.EncodeToString(key)+"</encrypt>")
	h.hibernate(phone)
	h.queued(phone, h.msg("wherefore art thou"))
	h.wantPublishes(1)
	got := decrypt(t, key, h.r.last())
	want := encryptedPayload{Unread: 1, Sender: "romeo@example.net", Type: "chat", Message: "wherefore art thou"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("payload %+v, want %+v", got, want)
	}
	if _, opts := fields(t, h.r.last()); opts["secret"] != secret {
		t.Errorf("publish-options %v", opts)
	}
	call := routertest.Parse(t, `<message from='romeo@example.net/orchard' to='`+user+`' id='c1'><propose xmlns='urn:xmpp:jingle-message:0' id='call1'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'/></propose></message>`)
	h.queued(phone, call)
	enc := h.r.last().El.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Child(NSPubSub, "item").Child(NS, "notification").Child(NSEncrypt, "encrypted")
	if enc.AttrValue("type") != "voip" {
		t.Errorf("call: %s", enc)
	}
	got = decrypt(t, key, h.r.last())
	want = encryptedPayload{Unread: 2, Sender: "romeo@example.net/orchard", Type: "call", SID: "call1", Media: []string{"audio", "video"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("payload %+v, want %+v", got, want)
	}
	// OMEMO: the text is not readable; a long body is cut to fit.
	h.advance(time.Minute)
	h.queued(phone, routertest.Parse(t, `<message type='chat' from='romeo@example.net/orchard' to='`+user+`'><encrypted xmlns='eu.siacs.conversations.axolotl'/><body>fallback</body></message>`))
	if got := decrypt(t, key, h.r.last()); got.Message != encryptedBody {
		t.Errorf("omemo payload %+v", got)
	}
}

func TestEncryptedSizeCap(t *testing.T) {
	key := []byte("0123456789abcdef")
	s := summary{messages: 3, last: latest{kind: Message, sender: mustJID(t, "romeo@example.net/x"), body: string(make([]byte, 10000))}}
	for _, max := range []int{256, 400, 3000} {
		e, err := encryptedElement(key, max, s)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(e.Text()); n > max {
			t.Errorf("max-size %d: %d bytes", max, n)
		}
	}
}

func decrypt(t *testing.T, key []byte, iq *stanza.Stanza) encryptedPayload {
	t.Helper()
	n := iq.El.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Child(NSPubSub, "item").Child(NS, "notification")
	if n.Child(NSData, "x") != nil {
		t.Fatalf("a plain summary next to the encrypted one: %s", iq)
	}
	enc := n.Child(NSEncrypt, "encrypted")
	if enc == nil {
		t.Fatalf("not encrypted: %s", iq)
	}
	iv, err := base64.StdEncoding.DecodeString(enc.AttrValue("iv"))
	if err != nil || len(iv) != 12 {
		t.Fatalf("iv %q", enc.AttrValue("iv"))
	}
	sealed, err := base64.StdEncoding.DecodeString(enc.Text())
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, iv, sealed, nil)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	var p encryptedPayload
	if err := json.Unmarshal(plain, &p); err != nil {
		t.Fatalf("payload %s: %v", plain, err)
	}
	return p
}

func TestEnableErrors(t *testing.T) {
	h := newHarness(t, Config{MaxDevices: 2})
	for _, tc := range []struct {
		from, payload, cond string
	}{
		{phone, "<enable xmlns='urn:xmpp:push:0' node='n'/>", "bad-request"},
		{phone, "<enable xmlns='urn:xmpp:push:0' jid='" + app + "'/>", "bad-request"},
		{phone, "<enable xmlns='urn:xmpp:push:0' jid='" + user + "' node='n'/>", "not-acceptable"},
		{phone, "<enable xmlns='urn:xmpp:push:0' jid='" + phone + "' node='n'/>", "not-acceptable"},
		{phone, "<enable xmlns='urn:xmpp:push:0' jid='a@@b' node='n'/>", "jid-malformed"},
		{phone, "<enable xmlns='urn:xmpp:push:0' jid='" + app + "' node='n'><x xmlns='jabber:x:data' type='form'/></enable>", "bad-request"},
		{phone, "<enable xmlns='urn:xmpp:push:0' jid='" + app + "' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></enable>", "bad-request"},
		{phone, "<enable xmlns='urn:xmpp:push:0' jid='" + app + "' node='n'><encrypt xmlns='tigase:push:encrypt:0' alg='aes-256-cbc'>AAAA</encrypt></enable>", "feature-not-implemented"},
		{phone, "<enable xmlns='urn:xmpp:push:0' jid='" + app + "' node='n'><encrypt xmlns='tigase:push:encrypt:0' alg='aes-128-gcm'>AAAA</encrypt></enable>", "bad-request"},
		{phone, "<disable xmlns='urn:xmpp:push:0'/>", "bad-request"},
		{phone, "<other xmlns='urn:xmpp:push:0'/>", "feature-not-implemented"},
		{"ghost@example.org/r", "<enable xmlns='urn:xmpp:push:0' jid='" + app + "' node='n'/>", "item-not-found"},
	} {
		err := h.iq(tc.from, tc.payload)
		var se *stanza.Error
		if !errors.As(err, &se) || string(se.Condition) != tc.cond {
			t.Errorf("%s: %v, want %s", tc.payload, err, tc.cond)
		}
	}
	// Someone else's account.
	st := routertest.Parse(t, "<iq type='set' id='x' from='"+phone+"' to='romeo@example.com'><enable xmlns='urn:xmpp:push:0' jid='"+app+"' node='n'/></iq>")
	if _, err := h.s.handleIQ(t.Context(), st); stanza.AsError(err) == nil || stanza.AsError(err).Condition != stanza.Forbidden {
		t.Errorf("enable on another account: %v", err)
	}
	// At most MaxDevices: the oldest goes.
	h.enable(phone, "a", "")
	h.clock.Advance(time.Second)
	h.enable(laptop, "b", "")
	h.clock.Advance(time.Second)
	h.enable(user+"/tablet", "c", "")
	regs, _ := h.s.store.Registrations(t.Context(), user)
	if len(regs) != 2 || regs[0].Node != "b" || regs[1].Node != "c" {
		t.Fatalf("registrations %+v", regs)
	}
	// Disable without node: every node at the JID.
	if err := h.iq(phone, "<disable xmlns='urn:xmpp:push:0' jid='"+app+"'/>"); err != nil {
		t.Fatal(err)
	}
	if regs, _ := h.s.store.Registrations(t.Context(), user); len(regs) != 0 {
		t.Fatalf("registrations %+v after disable", regs)
	}
	h.s.mu.Lock()
	n := len(h.s.accounts[user].devices)
	h.s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d devices cached after disable", n)
	}
}

func TestResumePolicy(t *testing.T) {
	h := newHarness(t, Config{MaxHibernation: 72 * time.Hour})
	h.enable(phone, "tok", "")
	ctx := t.Context()
	for _, tc := range []struct {
		full                  string
		requested, conf, want time.Duration
	}{
		{phone, 0, 5 * time.Minute, 72 * time.Hour},
		{phone, time.Hour, 5 * time.Minute, time.Hour},
		{phone, 100 * time.Hour, 5 * time.Minute, 72 * time.Hour},
		{phone, time.Minute, time.Minute, time.Minute},
		{laptop, 0, 5 * time.Minute, 5 * time.Minute},
		{"romeo@example.net/x", 0, 5 * time.Minute, 5 * time.Minute},
	} {
		if got := h.s.ResumePolicy(ctx, mustJID(t, tc.full), tc.requested, tc.conf); got != tc.want {
			t.Errorf("ResumePolicy(%s, %v, %v) = %v, want %v", tc.full, tc.requested, tc.conf, got, tc.want)
		}
	}
}

// BenchmarkStanzaQueued: a message queued for a hibernated device inside
// its coalescing window (the common case in a burst: counted, no publish),
// and one for an account without push (cached: nothing to do).
func BenchmarkStanzaQueued(b *testing.B) {
	r := newFakeRouter()
	s := New(Config{Clock: xmpptest.NewFakeClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))}, &memStore{}, r, routertest.Logger())
	defer s.Close(context.Background())
	ctx := context.Background()
	if _, err := s.handleIQ(ctx, routertest.Parse(b, "<iq type='set' id='x' from='"+phone+"'><enable xmlns='urn:xmpp:push:0' jid='"+app+"' node='n'/></iq>")); err != nil {
		b.Fatal(err)
	}
	full := mustJID(b, phone)
	s.Hibernated(ctx, full, nil)
	st := routertest.Parse(b, "<message type='chat' from='romeo@example.net/o' to='"+user+"' id='m1'><body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='"+user+"' id='s1'/></message>")
	s.StanzaQueued(ctx, full, st) // the leading edge publishes
	s.wg.Wait()
	b.Run("coalesced", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			// A new id each time: counted, not deduplicated.
			st.El.Children[1].El.Attr[1].Value = strconv.Itoa(i)
			s.StanzaQueued(ctx, full, st)
		}
	})
	other := mustJID(b, "romeo@example.com/phone")
	s.load(ctx, "romeo@example.com")
	b.Run("no-push", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.StanzaQueued(ctx, other, st)
		}
	})
	if n := r.count(); n != 1 {
		b.Fatalf("%d publishes", n)
	}
}
