package appserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/push/appserver/provider"
	"dormouse.im/dormouse/push/appserver/providertest"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

const domain = "push.example.org"

// env is an app server on SQLite with loopback FCM and APNs.
type env struct {
	t      testing.TB
	svc    *appserver.Service
	store  appserver.Store
	keys   *appserver.Keyring
	fcm    *providertest.FCM
	apns   *providertest.APNs
	clock  *xmpptest.FakeClock // nil: system clock
	out    chan *stanza.Stanza
	cfg    appserver.Config
	apnsKP []byte
	apnsID string
}

type envOpt func(*env)

func withFakeClock(e *env) {
	e.clock = xmpptest.NewFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
}

func withConfig(f func(*appserver.Config)) envOpt { return func(e *env) { f(&e.cfg) } }

func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	e := &env{t: t, fcm: providertest.NewFCM(), apns: providertest.NewAPNs(), out: make(chan *stanza.Stanza, 100),
		store: sqltest.SQLite(t).PushApps, keys: &appserver.Keyring{}}
	t.Cleanup(e.fcm.Close)
	t.Cleanup(e.apns.Close)
	e.cfg = appserver.Config{Domain: domain, DeviceRate: -1, RetryBase: time.Millisecond,
		Endpoints: appserver.Endpoints{FCM: e.fcm.URL(), APNs: e.apns.URL(), RootCAs: e.apns.RootCAs()}}
	for _, o := range opts {
		o(e)
	}
	if e.clock != nil {
		e.cfg.Clock = e.clock
	}
	e.addFCM("droid")
	e.apnsKP, e.apnsID = e.apns.NewKey()
	e.addAPNs("ios")
	svc, err := appserver.New(e.cfg, e.store, e.keys, appserver.SenderFunc(func(_ context.Context, st *stanza.Stanza) error {
		e.out <- st
		return nil
	}), nil, routertest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := svc.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return e
}

func (e *env) addFCM(name string) {
	e.t.Helper()
	a := appserver.App{Name: name, Platform: appserver.FCM, Credentials: appserver.Credentials{ServiceAccount: e.fcm.ServiceAccountJSON("proj-" + name)}}
	if err := appserver.PutApp(e.t.Context(), e.store, e.keys, a, time.Now(), e.newProvider); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) addAPNs(name string) {
	e.t.Helper()
	a := appserver.App{Name: name, Platform: appserver.APNs, Credentials: appserver.Credentials{KeyP8: e.apnsKP, KeyID: e.apnsID,
		TeamID: "TEAM000001", Topic: "im.example." + name}}
	if err := appserver.PutApp(e.t.Context(), e.store, e.keys, a, time.Now(), e.newProvider); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) newProvider(ctx context.Context, a appserver.App) (provider.Provider, error) {
	return appserver.NewProvider(ctx, a, e.cfg.Endpoints)
}

// handle passes a stanza to the service; a returned error is answered as
// the router would.
func (e *env) handle(s string) {
	e.t.Helper()
	st := routertest.Parse(e.t, s)
	if err := e.svc.HandleStanza(e.t.Context(), st); err != nil {
		e.out <- st.ErrorReply(stanza.AsError(err))
	}
}

// next returns the next stanza the service sent.
func (e *env) next() *stanza.Stanza {
	e.t.Helper()
	select {
	case st := <-e.out:
		return st
	case <-time.After(5 * time.Second):
		e.t.Fatal("no stanza from the app server")
		return nil
	}
}

// noMore checks that the service sent nothing more.
func (e *env) noMore() {
	e.t.Helper()
	select {
	case st := <-e.out:
		e.t.Fatalf("unexpected stanza %s", st)
	case <-time.After(50 * time.Millisecond):
	}
}

// iq sends an IQ and returns the answer, checking its id.
func (e *env) iq(s string) *stanza.Stanza {
	e.t.Helper()
	req := routertest.Parse(e.t, s)
	e.handle(s)
	got := e.next()
	if got.ID != req.ID || got.Kind != stanza.KindIQ {
		e.t.Fatalf("answer %s to %s", got, s)
	}
	return got
}

// field returns a field's value in the first data form of el.
func field(el *xml.Element, name string) string {
	var find func(*xml.Element) *xml.Element
	find = func(el *xml.Element) *xml.Element {
		if el.Name.Space == appserver.NSData && el.Name.Local == "x" {
			return el
		}
		for _, c := range el.Elements() {
			if x := find(c); x != nil {
				return x
			}
		}
		return nil
	}
	x := find(el)
	if x == nil {
		return ""
	}
	for _, f := range x.ChildrenNamed(appserver.NSData, "field") {
		if f.AttrValue("var") == name {
			return f.ChildText(appserver.NSData, "value")
		}
	}
	return ""
}

// registerP2 runs register-push-<platform> for from and returns node and secret.
func (e *env) registerP2(from, platform, token, device string, extra ...string) (node, secret string) {
	e.t.Helper()
	res := e.iq(registerP2IQ(from, platform, token, device, extra...))
	if res.Type != stanza.TypeResult {
		e.t.Fatalf("register: %s", res)
	}
	cmd := res.Payload()
	if cmd.AttrValue("status") != "completed" || field(cmd, "jid") != domain {
		e.t.Fatalf("register result %s", res)
	}
	return field(cmd, "node"), field(cmd, "secret")
}

func registerP2IQ(from, platform, token, device string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<iq type='set' id='reg1' from='%s' to='%s'><command xmlns='http://jabber.org/protocol/commands' node='register-push-%s' action='execute'><x xmlns='jabber:x:data' type='submit'>`, from, domain, platform)
	fmt.Fprintf(&b, `<field var='token'><value>%s</value></field><field var='android-id'><value>%s</value></field>`, token, device)
	for i := 0; i+1 < len(extra); i += 2 {
		fmt.Fprintf(&b, `<field var='%s'><value>%s</value></field>`, extra[i], extra[i+1])
	}
	b.WriteString(`</x></command></iq>`)
	return b.String()
}

// publishIQ is what a user's server publishes (mod_cloud_notify style).
func publishIQ(id, from, node, secret, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<iq type='set' id='%s' from='%s' to='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field><field var='message-count'><value>1</value></field>`, id, from, domain, node)
	if body != "" {
		fmt.Fprintf(&b, `<field var='last-message-body'><value>%s</value></field>`, body)
	}
	b.WriteString(`</x></notification></item></publish>`)
	if secret != "" {
		fmt.Fprintf(&b, `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>%s</value></field></x></publish-options>`, secret)
	}
	b.WriteString(`</pubsub></iq>`)
	return b.String()
}
