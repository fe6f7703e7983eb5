package appserver_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/push/appserver/providertest"
	"dormouse.im/dormouse/stanza"
)

const alice = "alice@example.org/phone"

func TestDisco(t *testing.T) {
	e := newEnv(t)
	info := e.iq(`<iq type='get' id='d1' from='` + alice + `' to='push.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	s := info.String()
	for _, want := range []string{`category='pubsub'`, `type='push'`, appserver.NSCommands} {
		if !strings.Contains(s, want) {
			t.Errorf("disco#info lacks %s: %s", want, s)
		}
	}
	items := e.iq(`<iq type='get' id='d2' from='` + alice + `' to='push.example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`)
	if n := len(items.Payload().Elements()); n != 6 {
		t.Errorf("%d commands listed: %s", n, items)
	}
	for _, c := range []string{"register-push-fcm", "register-push-apns", "unregister-push-fcm", "v1-register-push", "v1-unregister-push"} {
		if !strings.Contains(items.String(), `node='`+c+`'`) {
			t.Errorf("command %s not listed", c)
		}
	}
	ci := e.iq(`<iq type='get' id='d3' from='` + alice + `' to='push.example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='register-push-fcm'/></iq>`)
	if !strings.Contains(ci.String(), "command-node") {
		t.Errorf("command node info %s", ci)
	}
	bad := e.iq(`<iq type='get' id='d4' from='` + alice + `' to='push.example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='nope'/></iq>`)
	if routertest.ErrorCondition(bad) != "item-not-found" {
		t.Errorf("unknown node: %s", bad)
	}
}

func TestRegisterFCMAndPublish(t *testing.T) {
	e := newEnv(t)
	node, secret := e.registerP2(alice, "fcm", "fcm-token-1", "android-1")
	if node == "" || len(secret) < 16 {
		t.Fatalf("node %q secret %q", node, secret)
	}
	// Re-registering (another resource, a new token) gives the same node.
	node2, secret2 := e.registerP2("alice@example.org/other", "fcm", "fcm-token-2", "android-1")
	if node2 != node || secret2 != secret {
		t.Errorf("re-registration: %s/%s, want %s/%s", node2, secret2, node, secret)
	}
	// Another device gets another node.
	if n3, _ := e.registerP2(alice, "fcm", "fcm-token-3", "android-2"); n3 == node {
		t.Error("two devices share a node")
	}

	res := e.iq(publishIQ("p1", "example.org", node, secret, "New message"))
	if res.Type != stanza.TypeResult {
		t.Fatalf("publish: %s", res)
	}
	reqs, err := e.fcm.Await(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	q := reqs[0]
	if q.Token != "fcm-token-2" || q.Priority != "high" || q.Project != "proj-droid" || q.TTL != "259200s" || q.CollapseKey != "xmpp" {
		t.Errorf("FCM request %+v", q)
	}
	if len(q.Data) != 2 || q.Data["message-count"] != "1" || q.Data["last-message-body"] != "New message" {
		t.Errorf("FCM data %v: must be what the server sent", q.Data)
	}
	// Without a body: normal priority.
	e.iq(publishIQ("p2", "example.org", node, secret, ""))
	reqs, _ = e.fcm.Await(2, 5*time.Second)
	if reqs[1].Priority != "normal" {
		t.Errorf("unimportant push priority %q", reqs[1].Priority)
	}
	// Dormouse's own server side publishes from the account's bare JID
	// (XEP-0357 §5): the domain is what is checked.
	if r := e.iq(publishIQ("p3", "alice@example.org", node, secret, "")); r.Type != stanza.TypeResult {
		t.Errorf("publish from the account's JID: %s", r)
	}
	regs, _ := e.store.Registrations(t.Context(), "droid")
	for _, r := range regs {
		if r.Node == node && r.LastSuccess.IsZero() {
			t.Errorf("last success not recorded: %+v", r)
		}
	}
}

func TestPublishErrors(t *testing.T) {
	e := newEnv(t)
	node, secret := e.registerP2(alice, "fcm", "tok", "dev")
	for i, tc := range []struct{ iq, cond string }{
		0:  {publishIQ("e0", "example.org", node, "wrong", "x"), "not-authorized"},
		1:  {publishIQ("e1", "example.org", node, "", "x"), "not-authorized"},
		2:  {publishIQ("e2", "evil.example", node, secret, "x"), "forbidden"},
		3:  {publishIQ("e3", "example.org", "unknown-node", secret, "x"), "item-not-found"},
		4:  {`<iq type='set' id='e4' from='example.org' to='push.example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish/></pubsub></iq>`, "bad-request"},
		5:  {`<iq type='set' id='e5' from='example.org' to='push.example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'/></iq>`, "bad-request"},
		6:  {`<iq type='set' id='e6' from='example.org' to='push.example.org'><foo xmlns='urn:x'/></iq>`, "service-unavailable"},
		7:  {`<iq type='set' id='e7' from='example.org' to='push.example.org'/>`, "bad-request"},
		8:  {`<iq type='set' id='e8' from='` + alice + `' to='push.example.org'><command xmlns='http://jabber.org/protocol/commands' node='nope'/></iq>`, "item-not-found"},
		9:  {`<iq type='set' id='e9' from='` + alice + `' to='push.example.org'><command xmlns='http://jabber.org/protocol/commands' node='register-push-fcm' action='fly'/></iq>`, "bad-request"},
		10: {`<iq type='set' id='e10' from='` + alice + `' to='push.example.org'><command xmlns='http://jabber.org/protocol/commands' node='register-push-fcm'><x xmlns='jabber:x:data' type='submit'><field var='token'><value>t</value></field></x></command></iq>`, "bad-request"},
		11: {`<iq type='set' id='e11' from='` + alice + `' to='push.example.org'><command xmlns='http://jabber.org/protocol/commands' node='v1-register-push'><x xmlns='jabber:x:data' type='submit'><field var='type'><value>gcm</value></field><field var='node'><value>d</value></field><field var='token'><value>t</value></field></x></command></iq>`, "bad-request"},
		12: {registerP2IQ(alice, "fcm", "t", "d", "app", "ios"), "item-not-found"},
	} {
		res := e.iq(tc.iq)
		if got := routertest.ErrorCondition(res); got != tc.cond {
			t.Errorf("%d: %s, want %s", i, res, tc.cond)
		}
	}
	if n := len(e.fcm.Requests()); n != 0 {
		t.Errorf("%d FCM requests for refused publishes", n)
	}
	// Messages are refused, presence ignored.
	e.handle(`<message from='` + alice + `' to='push.example.org'><body>hi</body></message>`)
	if c := routertest.ErrorCondition(e.next()); c != "service-unavailable" {
		t.Errorf("message: %s", c)
	}
	e.handle(`<presence from='` + alice + `' to='push.example.org'/>`)
	e.noMore()
}

func TestCommandStages(t *testing.T) {
	e := newEnv(t)
	res := e.iq(`<iq type='set' id='c1' from='` + alice + `' to='push.example.org'><command xmlns='http://jabber.org/protocol/commands' node='register-push-apns' action='execute'/></iq>`)
	cmd := res.Payload()
	if cmd.AttrValue("status") != "executing" || cmd.AttrValue("sessionid") == "" || !strings.Contains(res.String(), `var='token'`) {
		t.Fatalf("first stage %s", res)
	}
	res = e.iq(`<iq type='set' id='c2' from='` + alice + `' to='push.example.org'><command xmlns='http://jabber.org/protocol/commands' node='register-push-apns' sessionid='` + cmd.AttrValue("sessionid") + `' action='cancel'/></iq>`)
	if res.Payload().AttrValue("status") != "canceled" {
		t.Errorf("cancel: %s", res)
	}
}

func TestV1RegisterAPNsAndUnregistered(t *testing.T) {
	e := newEnv(t)
	res := e.iq(`<iq type='set' id='v1' from='` + alice + `' to='push.example.org'><command xmlns='http://jabber.org/protocol/commands' node='v1-register-push' action='execute'><x xmlns='jabber:x:data' type='submit'><field type='hidden' var='FORM_TYPE'><value>` + appserver.FormV1 + `</value></field><field var='type'><value>apns</value></field><field var='node'><value>ios-device-1</value></field><field var='token'><value>a1b2c3</value></field></x></command></iq>`)
	node, secret := field(res.Payload(), "node"), field(res.Payload(), "secret")
	if res.Type != stanza.TypeResult || node == "" || secret == "" {
		t.Fatalf("v1-register-push: %s", res)
	}
	if r := e.iq(publishIQ("p1", "example.org", node, secret, "hello")); r.Type != stanza.TypeResult {
		t.Fatalf("publish: %s", r)
	}
	reqs, err := e.apns.Await(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	q := reqs[0]
	if q.Token != "a1b2c3" || q.Topic != "im.example.ios" || q.PushType != "alert" || q.Priority != "10" || q.KeyID != e.apnsID ||
		q.TeamID != "TEAM000001" || q.CollapseID != "xmpp" || q.Expiration == "" {
		t.Errorf("APNs request %+v", q)
	}
	aps, _ := q.Payload["aps"].(map[string]any)
	if aps["mutable-content"] != 1.0 || q.Payload["last-message-body"] != "hello" {
		t.Errorf("APNs payload %v", q.Payload)
	}
	// The token dies: 410 → item-not-found, registration gone.
	e.apns.Answer("a1b2c3", providertest.Answer{Status: 410, Reason: "Unregistered"})
	if c := routertest.ErrorCondition(e.iq(publishIQ("p2", "example.org", node, secret, ""))); c != "item-not-found" {
		t.Fatalf("publish to a dead token: %s", c)
	}
	if _, err := e.store.Registration(t.Context(), node); err == nil {
		t.Error("registration still there")
	}
	if c := routertest.ErrorCondition(e.iq(publishIQ("p3", "example.org", node, secret, ""))); c != "item-not-found" {
		t.Errorf("publish after unregistration: %s", c)
	}
	if n := len(e.apns.Requests()); n != 2 {
		t.Errorf("%d APNs requests, want 2", n)
	}
}

func TestUnregisterCommand(t *testing.T) {
	e := newEnv(t)
	node, _ := e.registerP2(alice, "fcm", "tok", "dev-9")
	res := e.iq(`<iq type='set' id='u1' from='` + alice + `' to='push.example.org'><command xmlns='http://jabber.org/protocol/commands' node='unregister-push-fcm' action='execute'><x xmlns='jabber:x:data' type='submit'><field var='android-id'><value>dev-9</value></field></x></command></iq>`)
	if res.Type != stanza.TypeResult || res.Payload().AttrValue("status") != "completed" {
		t.Fatalf("unregister: %s", res)
	}
	if _, err := e.store.Registration(t.Context(), node); err == nil {
		t.Error("still registered")
	}
	// Another account cannot unregister alice's device id.
	e.registerP2(alice, "fcm", "tok", "dev-9")
	res = e.iq(`<iq type='set' id='u2' from='mallory@example.org/x' to='push.example.org'><command xmlns='http://jabber.org/protocol/commands' node='unregister-push-fcm' action='execute'><x xmlns='jabber:x:data' type='submit'><field var='android-id'><value>dev-9</value></field></x></command></iq>`)
	if routertest.ErrorCondition(res) != "item-not-found" {
		t.Errorf("mallory's unregister: %s", res)
	}
}

func TestTokenInNode(t *testing.T) {
	e := newEnv(t)
	iq := `<iq type='set' id='f1' from='example.org' to='push.example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='deadbeef01'><item><notification xmlns='urn:xmpp:push:0'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pushModule'><value>ios</value></field></x></publish-options></pubsub></iq>`
	if r := e.iq(iq); r.Type != stanza.TypeResult {
		t.Fatalf("token-in-node publish: %s", r)
	}
	reqs, err := e.apns.Await(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if reqs[0].Token != "deadbeef01" || reqs[0].PushType != "background" || reqs[0].Priority != "5" {
		t.Errorf("request %+v", reqs[0])
	}
	devs, _ := e.store.Registrations(t.Context(), "ios")
	if len(devs) != 1 || devs[0].Node != "deadbeef01" || devs[0].LastSuccess.IsZero() {
		t.Errorf("devices %+v", devs)
	}
	bad := strings.Replace(iq, "<value>ios</value>", "<value>nope</value>", 1)
	bad = strings.Replace(bad, "deadbeef01", "other", 1)
	if c := routertest.ErrorCondition(e.iq(bad)); c != "item-not-found" {
		t.Errorf("unknown pushModule: %s", c)
	}
}

func TestEncryptedPassThrough(t *testing.T) {
	e := newEnv(t)
	node, secret := e.registerP2(alice, "fcm", "tok-e", "dev-e")
	iq := `<iq type='set' id='x1' from='example.org' to='push.example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='` + node + `'><item><notification xmlns='urn:xmpp:push:0'><encrypted xmlns='tigase:push:encrypt:0' iv='SVY='>Q0lQSEVS</encrypted></notification></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='secret'><value>` + secret + `</value></field></x></publish-options></pubsub></iq>`
	if r := e.iq(iq); r.Type != stanza.TypeResult {
		t.Fatalf("publish: %s", r)
	}
	reqs, _ := e.fcm.Await(1, 5*time.Second)
	if q := reqs[0]; q.Priority != "high" || len(q.Data) != 2 || q.Data["encrypted"] != "Q0lQSEVS" || q.Data["iv"] != "SVY=" {
		t.Errorf("request %+v", q)
	}
}

func TestSeveralApps(t *testing.T) {
	e := newEnv(t)
	e.addFCM("droid2")
	if err := e.svc.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	res := e.iq(registerP2IQ(alice, "fcm", "t", "d"))
	if routertest.ErrorCondition(res) != "bad-request" || !strings.Contains(res.String(), "droid2") {
		t.Errorf("ambiguous app: %s", res)
	}
	node, secret := e.registerP2(alice, "fcm", "t2", "d", "app", "droid2")
	e.iq(publishIQ("p", "example.org", node, secret, "x"))
	reqs, _ := e.fcm.Await(1, 5*time.Second)
	if reqs[0].Project != "proj-droid2" {
		t.Errorf("sent through %s", reqs[0].Project)
	}
}

func TestCoalescing(t *testing.T) {
	e := newEnv(t, withFakeClock, withConfig(func(c *appserver.Config) { c.DeviceRate = 5 * time.Second }))
	node, secret := e.registerP2(alice, "fcm", "tok-c", "dev-c")
	for i, body := range []string{"", "x", ""} {
		if r := e.iq(publishIQ("c"+string(rune('0'+i)), "example.org", node, secret, body)); r.Type != stanza.TypeResult {
			t.Fatalf("publish %d: %s", i, r)
		}
	}
	if reqs, _ := e.fcm.Await(1, 5*time.Second); len(reqs) != 1 {
		t.Fatalf("%d requests within the rate, want 1", len(reqs))
	}
	e.clock.Advance(5 * time.Second)
	reqs, err := e.fcm.Await(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[1].Priority != "high" {
		t.Errorf("coalesced push %+v: want one, important (one of the folded was)", reqs)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(e.fcm.Requests()); n != 2 {
		t.Errorf("%d requests", n)
	}
}

func TestRetry(t *testing.T) {
	e := newEnv(t)
	node, secret := e.registerP2(alice, "fcm", "tok-r", "dev-r")
	e.fcm.Answer("tok-r", providertest.Answer{Reason: "INTERNAL"}, providertest.Answer{Reason: "QUOTA_EXCEEDED", RetryAfter: "0"}, providertest.Answer{})
	if r := e.iq(publishIQ("r1", "example.org", node, secret, "x")); r.Type != stanza.TypeResult {
		t.Fatalf("publish: %s", r)
	}
	if n := len(e.fcm.Requests()); n != 3 {
		t.Errorf("%d requests, want 3 (two retries)", n)
	}
	// Always failing: bounded retries, then a wait error.
	e.fcm.Reset()
	e.fcm.Answer("tok-r", providertest.Answer{Reason: "INTERNAL"})
	res := e.iq(publishIQ("r2", "example.org", node, secret, "x"))
	if se := stanza.ParseError(res.El); se == nil || se.Type != stanza.Wait {
		t.Errorf("failing provider: %s", res)
	}
	if n := len(e.fcm.Requests()); n != 4 {
		t.Errorf("%d requests, want 4 (1 + MaxRetries)", n)
	}
	regs, _ := e.store.Registrations(t.Context(), "droid")
	if len(regs) != 1 || regs[0].LastErrorText == "" {
		t.Errorf("last error not recorded: %+v", regs)
	}
}

func TestCircuitBreaker(t *testing.T) {
	e := newEnv(t, withFakeClock, withConfig(func(c *appserver.Config) {
		c.MaxRetries, c.BreakerThreshold, c.BreakerCooldown = -1, 2, time.Minute
	}))
	node, secret := e.registerP2(alice, "fcm", "tok-b", "dev-b")
	e.fcm.Answer("tok-b", providertest.Answer{Reason: "INTERNAL"})
	for i := range 3 {
		e.iq(publishIQ("b"+string(rune('0'+i)), "example.org", node, secret, "x"))
	}
	if n := len(e.fcm.Requests()); n != 2 {
		t.Errorf("%d requests, want 2 (breaker open after 2 failures)", n)
	}
	e.fcm.Answer("tok-b", providertest.Answer{})
	e.clock.Advance(time.Minute)
	if r := e.iq(publishIQ("b9", "example.org", node, secret, "x")); r.Type != stanza.TypeResult {
		t.Errorf("after the cool-down: %s", r)
	}
}

func TestReloadCredentials(t *testing.T) {
	e := newEnv(t)
	node, secret := e.registerP2(alice, "fcm", "tok-k", "dev-k")
	// Rotate the service account: the next push uses the new one.
	e.addFCM("droid")
	if err := e.svc.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.iq(publishIQ("k1", "example.org", node, secret, "x"))
	if n := e.fcm.TokensIssued(); n != 1 {
		t.Errorf("%d OAuth tokens issued", n)
	}
	if err := e.store.DeleteApp(t.Context(), "droid"); err != nil {
		t.Fatal(err)
	}
	e.svc.Reload(t.Context())
	if c := routertest.ErrorCondition(e.iq(registerP2IQ(alice, "fcm", "t", "d"))); c != "item-not-found" {
		t.Errorf("register with no FCM app: %s", c)
	}
}

func TestCredentialsNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	c := appserver.Credentials{KeyP8: []byte("SECRETKEY"), KeyID: "KID", TeamID: "TEAM", CertPassword: "SECRETPW"}
	log.Info("x", "app", appserver.App{Name: "a", Credentials: c}, "creds", c)
	log.Info("y", "registration", appserver.Registration{Node: "n", Token: "SECRETTOKEN", Secret: "SECRETSECRET"})
	if strings.Contains(buf.String(), "SECRET") || !strings.Contains(buf.String(), "KID") {
		t.Errorf("log: %s", buf.String())
	}
}

func TestKeyring(t *testing.T) {
	k, err := appserver.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	c := appserver.Credentials{KeyP8: []byte("key"), KeyID: "K", Topic: "t"}
	sealed, err := k.Seal("app", c)
	if err != nil || bytes.Contains(sealed, []byte("key")) {
		t.Fatalf("Seal: %q %v", sealed, err)
	}
	got, err := k.Open("app", sealed)
	if err != nil || string(got.KeyP8) != "key" || got.KeyID != "K" {
		t.Errorf("Open: %+v %v", got, err)
	}
	if _, err := k.Open("other", sealed); err == nil {
		t.Error("opened under another app's name")
	}
	if _, err := (&appserver.Keyring{}).Open("app", sealed); err != appserver.ErrNoKey {
		t.Errorf("no key: %v", err)
	}
	k2, _ := appserver.NewKeyring([]byte("another key, also 32 bytes long!"))
	if _, err := k2.Open("app", sealed); err == nil {
		t.Error("opened with the wrong key")
	}
	if _, err := appserver.NewKeyring([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
	plain, _ := (&appserver.Keyring{}).Seal("app", c)
	if got, err := k.Open("app", plain); err != nil || got.KeyID != "K" {
		t.Errorf("plain credentials with a keyring: %v", err)
	}
}

// TestCloseFlushesCoalesced: a notification coalesced for later was
// answered already; Close sends it instead of dropping it.
func TestCloseFlushesCoalesced(t *testing.T) {
	e := newEnv(t, withFakeClock, withConfig(func(c *appserver.Config) { c.DeviceRate = time.Hour }))
	node, secret := e.registerP2(alice, "fcm", "tok-z", "dev-z")
	e.iq(publishIQ("z1", "example.org", node, secret, ""))
	e.iq(publishIQ("z2", "example.org", node, secret, "late"))
	if n := len(e.fcm.Requests()); n != 1 {
		t.Fatalf("%d requests before Close", n)
	}
	if err := e.svc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	reqs := e.fcm.Requests()
	if len(reqs) != 2 || reqs[1].Data["last-message-body"] != "late" {
		t.Errorf("after Close: %+v", reqs)
	}
}
