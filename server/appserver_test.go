package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"log/slog"
	"path/filepath"
	"slices"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/push/appserver/provider"
	"dormouse.im/dormouse/push/appserver/providertest"
	"dormouse.im/dormouse/push/appserver/standalone"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// pushEnv is a test server with its built-in app server pointed at loopback
// FCM and APNs, with one app of each.
type pushEnv struct {
	*testServer
	fcm  *providertest.FCM
	apns *providertest.APNs
	ep   appserver.Endpoints
}

func providers(t testing.TB) (*providertest.FCM, *providertest.APNs, appserver.Endpoints) {
	fcm, apns := providertest.NewFCM(), providertest.NewAPNs()
	t.Cleanup(fcm.Close)
	t.Cleanup(apns.Close)
	return fcm, apns, appserver.Endpoints{FCM: fcm.URL(), APNs: apns.URL(), RootCAs: apns.RootCAs()}
}

// addApps stores an FCM app "droid" and an APNs app "ios".
func addApps(t testing.TB, store appserver.Store, fcm *providertest.FCM, apns *providertest.APNs, ep appserver.Endpoints) {
	t.Helper()
	p8, kid := apns.NewKey()
	newP := func(ctx context.Context, a appserver.App) (provider.Provider, error) {
		return appserver.NewProvider(ctx, a, ep)
	}
	for _, a := range []appserver.App{
		{Name: "droid", Platform: appserver.FCM, Credentials: appserver.Credentials{ServiceAccount: fcm.ServiceAccountJSON("droid-project")}},
		{Name: "ios", Platform: appserver.APNs, Credentials: appserver.Credentials{KeyP8: p8, KeyID: kid, TeamID: "TEAM000001", Topic: "im.example.ios"}},
	} {
		if err := appserver.PutApp(t.Context(), store, &appserver.Keyring{}, a, time.Now(), newP); err != nil {
			t.Fatal(err)
		}
	}
}

func startPush(t *testing.T) *pushEnv {
	t.Helper()
	fcm, apns, ep := providers(t)
	ts := start(t, func(c *config.Config) { c.Push.DeviceRate = config.Duration(time.Millisecond) }, server.WithPushEndpoints(ep))
	addApps(t, ts.Stores.PushApps, fcm, apns, ep)
	if err := ts.AppServer.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	ts.users("alice")
	return &pushEnv{testServer: ts, fcm: fcm, apns: apns, ep: ep}
}

// formValue returns a field's value in el's first data form.
func formValue(el *xml.Element, name string) string {
	for _, c := range el.Elements() {
		if c.Name == (xml.Name{Space: "jabber:x:data", Local: "x"}) {
			for _, f := range c.ChildrenNamed("jabber:x:data", "field") {
				if f.AttrValue("var") == name {
					return f.ChildText("jabber:x:data", "value")
				}
			}
		}
		if v := formValue(c, name); v != "" {
			return v
		}
	}
	return ""
}

// register runs a registration command as a client and returns node and
// secret.
func register(t *testing.T, c *xmpptest.Client, to, node, fields string) (string, string) {
	t.Helper()
	res, err := c.IQ("reg-"+node, `<iq type='set' id='reg-`+node+`' to='`+to+`'><command xmlns='http://jabber.org/protocol/commands' node='`+node+`' action='execute'><x xmlns='jabber:x:data' type='submit'>`+fields+`</x></command></iq>`)
	if err != nil {
		t.Fatal(err)
	}
	if res.AttrValue("type") != "result" || formValue(res, "jid") != to {
		t.Fatalf("registration: %s", res)
	}
	return formValue(res, "node"), formValue(res, "secret")
}

// publish sends the XEP-0357 publish the user's server sends (from its
// domain, through the router, answer matched) and returns the error
// condition ("" for success).
func publish(t *testing.T, r interface {
	SendIQ(context.Context, *stanza.Stanza) (*stanza.Stanza, error)
}, from, to, node, secret, body string) string {
	t.Helper()
	iq := routertest.Parse(t, fmt.Sprintf(`<iq type='set' from='%s' to='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field><field var='message-count'><value>1</value></field><field var='last-message-body'><value>%s</value></field></x></notification></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>%s</value></field></x></publish-options></pubsub></iq>`, from, to, node, body, secret))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := r.SendIQ(ctx, iq)
	var se *stanza.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return string(se.Condition)
	}
	t.Fatalf("publish: %v", err)
	return ""
}

func TestAppServerFCM(t *testing.T) {
	e := startPush(t)
	c := e.dial("alice", "phone")
	// The app server is listed in the server's disco#items.
	items, err := c.IQ("items", `<iq type='get' id='items' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if err != nil || !xmpptest.Contains(items, "push.localhost") {
		t.Fatalf("disco#items: %v %v", items, err)
	}
	node, secret := register(t, c, "push.localhost", "register-push-fcm",
		`<field var='token'><value>fcm-e2e-token</value></field><field var='android-id'><value>a1b2</value></field>`)
	if cond := publish(t, e.Router, "alice@localhost", "push.localhost", node, secret, "New message!"); cond != "" {
		t.Fatalf("publish: %s", cond)
	}
	reqs, err := e.fcm.Await(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if q := reqs[0]; len(reqs) != 1 || q.Token != "fcm-e2e-token" || q.Priority != "high" || q.Project != "droid-project" {
		t.Errorf("FCM got %+v", reqs)
	}
	if cond := publish(t, e.Router, "localhost", "push.localhost", node, "wrong", ""); cond != "not-authorized" {
		t.Errorf("wrong secret: %q", cond)
	}
}

func TestAppServerAPNsTokenInvalidation(t *testing.T) {
	e := startPush(t)
	c := e.dial("alice", "phone")
	node, secret := register(t, c, "push.localhost", "v1-register-push",
		`<field var='type'><value>apns</value></field><field var='node'><value>ios-dev-1</value></field><field var='token'><value>00fa11</value></field>`)
	if cond := publish(t, e.Router, "localhost", "push.localhost", node, secret, ""); cond != "" {
		t.Fatalf("publish: %s", cond)
	}
	reqs, err := e.apns.Await(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if q := reqs[0]; q.Token != "00fa11" || q.PushType != "background" || q.Priority != "5" || q.Topic != "im.example.ios" {
		t.Errorf("APNs got %+v", q)
	}
	e.apns.Answer("00fa11", providertest.Answer{Status: 410, Reason: "Unregistered"})
	time.Sleep(5 * time.Millisecond) // past push.device_rate
	if cond := publish(t, e.Router, "localhost", "push.localhost", node, secret, "hi"); cond != "item-not-found" {
		t.Fatalf("publish to a dead token: %q, want item-not-found", cond)
	}
	if _, err := e.Stores.PushApps.Registration(t.Context(), node); !errors.Is(err, appserver.ErrNotFound) {
		t.Errorf("registration after 410: %v", err)
	}
}

// TestStandaloneAppServer attaches the app server as an XEP-0114 component
// to a Dormouse whose built-in one is off.
func TestStandaloneAppServer(t *testing.T) {
	fcm, apns, ep := providers(t)
	ts := start(t, func(c *config.Config) {
		c.Push.AppServer = false
		c.Components.Secrets = map[string]string{"push.example.net": "comp-secret"}
	})
	ts.users("alice")
	store := ts.Stores.PushApps // the standalone app server may share the database or have its own
	addApps(t, store, fcm, apns, ep)

	conn := standalone.New(standalone.Config{Addr: ts.addr(server.ListenerComponent), Domain: "push.example.net",
		Secret: "comp-secret", MinBackoff: 10 * time.Millisecond}, routertest.Logger())
	svc, err := appserver.New(appserver.Config{Domain: "push.example.net", Endpoints: ep}, store, nil, conn, nil, routertest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- conn.Run(ctx, svc) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = svc.Close(context.Background())
	})
	for {
		ch, up := conn.Connected()
		if up {
			break
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("component not connected")
		}
	}
	c := ts.dial("alice", "phone")
	node, secret := register(t, c, "push.example.net", "register-push-fcm",
		`<field var='token'><value>standalone-token</value></field><field var='device-id'><value>d-1</value></field>`)
	if cond := publish(t, ts.Router, "alice@localhost", "push.example.net", node, secret, "x"); cond != "" {
		t.Fatalf("publish: %s", cond)
	}
	reqs, err := fcm.Await(1, 5*time.Second)
	if err != nil || reqs[0].Token != "standalone-token" {
		t.Fatalf("FCM: %+v %v", reqs, err)
	}
	reg, err := store.Registration(t.Context(), node)
	if err != nil || reg.Domain != "localhost" || reg.Account != "alice@localhost" {
		t.Errorf("registration %+v %v", reg, err)
	}
}

// BenchmarkAppServerPublishToWire measures, in process, the time from a
// publish entering the router (as the user's server sends it) to the FCM
// request arriving on the loopback provider's socket; it reports p50 and
// p99.
func BenchmarkAppServerPublishToWire(b *testing.B) {
	fcm, apns, ep := providers(b)
	b.ReportAllocs()
	ts := pushBenchServer(b, ep)
	addApps(b, ts.Stores.PushApps, fcm, apns, ep)
	if err := ts.AppServer.Reload(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	reg, err := ts.AppServer.RegisterDevice(ctx, appserver.DeviceRequest{Platform: appserver.FCM, Token: "bench-token",
		Device: "bench-device", Domain: "localhost"})
	if err != nil {
		b.Fatal(err)
	}
	iq := fmt.Sprintf(`<iq type='set' from='localhost' to='push.localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field><field var='message-count'><value>1</value></field><field var='last-message-body'><value>New message!</value></field></x></notification></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='secret'><value>%s</value></field></x></publish-options></pubsub></iq>`, reg.Node, reg.Secret)
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		st := routertest.Parse(b, iq)
		start := time.Now()
		if _, err := ts.Router.SendIQ(ctx, st); err != nil {
			b.Fatal(err)
		}
		reqs := fcm.Requests()
		lat = append(lat, reqs[len(reqs)-1].At.Sub(start))
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

// pushBenchServer starts a server (listeners off) for benchmarks.
func pushBenchServer(b *testing.B, ep appserver.Endpoints) *server.Server {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.C2S.Listen, cfg.C2S.TLSListen, cfg.Components.Listen, cfg.Admin.Listen, cfg.HTTP.Listen = "", "", "", "", ""
	cfg.S2S.Listen = ""
	cfg.Storage.URL = "sqlite:" + filepath.Join(cfg.DataDir, "dormouse.db")
	cfg.Push.DeviceRate = config.Duration(time.Nanosecond)
	srv, err := server.New(context.Background(), cfg, "bench", slog.New(slog.DiscardHandler), server.WithPushEndpoints(ep))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

// TestAppServerAdminListener: the registration API on the admin listener
// (with push.api_token) and the push metrics.
func TestAppServerAdminListener(t *testing.T) {
	fcm, apns, ep := providers(t)
	ts := start(t, func(c *config.Config) { c.Push.APIToken = "op-secret" }, server.WithPushEndpoints(ep))
	addApps(t, ts.Stores.PushApps, fcm, apns, ep)
	if err := ts.AppServer.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	base := "http://" + ts.addr(server.ListenerAdmin)
	req, _ := http.NewRequest("POST", base+"/push/v1/register", strings.NewReader(`{"type":"fcm","token":"http-token","device":"d1","domain":"localhost"}`))
	req.Header.Set("Authorization", "Bearer op-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reg appserver.RegisterResponse
	err = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || reg.JID != "push.localhost" || reg.Node == "" {
		t.Fatalf("register: %d %+v %v", resp.StatusCode, reg, err)
	}
	if cond := publish(t, ts.Router, "alice@localhost", "push.localhost", reg.Node, reg.Secret, "x"); cond != "" {
		t.Fatalf("publish: %s", cond)
	}
	fcm.Answer("dead", providertest.Answer{Reason: "UNREGISTERED"})
	dead, err := ts.AppServer.RegisterDevice(t.Context(), appserver.DeviceRequest{Platform: appserver.FCM, Token: "dead", Device: "d2", Domain: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if cond := publish(t, ts.Router, "alice@localhost", "push.localhost", dead.Node, dead.Secret, "x"); cond != "item-not-found" {
		t.Fatalf("publish to a dead token: %s", cond)
	}
	if err := ts.AppServer.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`dormouse_push_provider_requests_total{app="droid",outcome="sent",platform="fcm"} 1`,
		`dormouse_push_provider_requests_total{app="droid",outcome="unregistered",platform="fcm"} 1`,
		`dormouse_push_provider_request_duration_seconds_count{platform="fcm"} 2`,
		`dormouse_push_registrations{app="droid"} 1`,
		`dormouse_push_registrations{app="ios"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Without the token: 401.
	resp, err = http.Post(base+"/push/v1/register", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
}

// TestAppServerMeasureMessageToWire measures the whole in-process chain:
// bob's message to alice's hibernated, push-enabled session → XEP-0357
// publish (package push) → the built-in app server → the FCM request on
// the loopback provider's socket. Run with DORMOUSE_PUSH_MEASURE=1 -v.
func TestAppServerMeasureMessageToWire(t *testing.T) {
	if os.Getenv("DORMOUSE_PUSH_MEASURE") == "" {
		t.Skip("set DORMOUSE_PUSH_MEASURE=1 to measure")
	}
	fcm, apns, ep := providers(t)
	ts := startSM(t, func(c *config.Config) {
		c.Push.Coalesce = config.Duration(time.Millisecond)
		c.Push.DeviceRate = config.Duration(time.Millisecond)
	}, nil, nil, server.WithPushEndpoints(ep))
	addApps(t, ts.Stores.PushApps, fcm, apns, ep)
	if err := ts.AppServer.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	bob, _ := hibernatedWithPush(t, ts, "register-push-fcm",
		`<field var='token'><value>m-token</value></field><field var='android-id'><value>m-dev</value></field>`)
	var lat []time.Duration
	for i := range 300 { // below stream_management.max_queue
		n := len(fcm.Requests())
		start := time.Now()
		bob.SendRaw(chat("alice@localhost", fmt.Sprint("m", i), "hello"))
		reqs, err := fcm.Await(n+1, 5*time.Second)
		if err != nil {
			t.Fatal(i, err)
		}
		if reqs[n].Token != "m-token" || reqs[n].Priority != "high" {
			t.Fatalf("FCM request %+v", reqs[n])
		}
		lat = append(lat, reqs[n].At.Sub(start))
		time.Sleep(5 * time.Millisecond) // past push.coalesce and push.device_rate
	}
	slices.Sort(lat)
	t.Logf("message → FCM request on the wire: p50 %v, p99 %v, max %v (n=%d)", lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], len(lat))
}

// TestAppServerFullChainAPNsUnregistered: the whole chain over real
// sockets with APNs: alice registers through v1-register-push, enables
// push, hibernates; bob's message makes the server publish and the app
// server call APNs, which answers 410 Unregistered: the app server forgets
// the device and answers item-not-found, and the user's server disables
// push for it.
func TestAppServerFullChainAPNsUnregistered(t *testing.T) {
	fcm, apns, ep := providers(t)
	ts := startSM(t, nil, nil, nil, server.WithPushEndpoints(ep))
	addApps(t, ts.Stores.PushApps, fcm, apns, ep)
	if err := ts.AppServer.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	bob, node := hibernatedWithPush(t, ts, "v1-register-push",
		`<field var='type'><value>apns</value></field><field var='node'><value>iphone-1</value></field><field var='token'><value>0a0b0c</value></field>`)

	apns.Answer("0a0b0c", providertest.Answer{Status: 410, Reason: "Unregistered"})
	bob.SendRaw(chat("alice@localhost", "m1", "hello"))
	reqs, err := apns.Await(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if q := reqs[0]; q.Token != "0a0b0c" || q.PushType != "alert" || q.Priority != "10" {
		t.Errorf("APNs request %+v", q)
	}
	waitFor(t, "app server registration gone", func() bool {
		_, err := ts.Stores.PushApps.Registration(context.Background(), node)
		return errors.Is(err, appserver.ErrNotFound)
	})
	waitFor(t, "push disabled by the user's server", func() bool {
		regs, err := ts.Stores.Push.Registrations(context.Background(), "alice@localhost")
		return err == nil && len(regs) == 0
	})
	bob.SendRaw(chat("alice@localhost", "m2", "again"))
	time.Sleep(300 * time.Millisecond)
	if n := len(apns.Requests()); n != 1 {
		t.Errorf("%d APNs requests, want 1 (push disabled after the first)", n)
	}
}

// hibernatedWithPush creates alice and bob; alice (with stream management)
// registers with the built-in app server through command with fields,
// enables push with the node and secret she got, and loses her connection.
// It returns bob, online, and alice's node.
func hibernatedWithPush(t *testing.T, ts *testServer, command, fields string) (*xmpptest.Client, string) {
	t.Helper()
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	node, secret := register(t, alice, "push.localhost", command, fields)
	r, err := alice.IQ("push-on", "<iq type='set' id='push-on'><enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='"+node+"'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>"+secret+"</value></field></x></enable></iq>")
	if err != nil || r.AttrValue("type") != "result" {
		t.Fatalf("enable: %v %v", r, err)
	}
	alice.SendStanza("<presence/>")
	bob := ts.dial("bob", "pc")
	waitFor(t, "alice available", func() bool { return available(ts, "alice@localhost/phone") })
	alice.Cut()
	waitFor(t, "hibernation", func() bool { return ts.SessionsForTest().Stats().Hibernated == 1 })
	return bob, node
}
