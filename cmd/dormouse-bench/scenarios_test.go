package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/xml"
)

const testSecret = "bench-test-secret"

// startDormouse starts a real Dormouse server in-process on random
// loopback ports (STARTTLS, direct TLS, components with push.localhost)
// with accounts bench0..bench<accounts-1> (password = name).
func startDormouse(t *testing.T, accounts int) *server.Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.C2S.Listen = "127.0.0.1:0"
	cfg.C2S.TLSListen = "127.0.0.1:0"
	cfg.C2S.MaxConnectionsPerIP = 0
	cfg.C2S.StanzaRate = 1000000
	cfg.C2S.StanzaBurst = 1000000
	cfg.Components.Listen = "127.0.0.1:0"
	cfg.S2S.Listen = "127.0.0.1:0"
	cfg.Components.Secrets = map[string]string{"push.localhost": testSecret}
	cfg.Admin.Listen = ""
	cfg.HTTP.Listen = ""
	cfg.Storage.URL = "sqlite:" + filepath.Join(cfg.DataDir, "dormouse.db")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	for i := range accounts {
		name := fmt.Sprintf("bench%d", i)
		c, err := auth.NewCredentials(name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Stores.Accounts.CreateAccount(context.Background(), name+"@localhost", c); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// benchOptions are the tool's defaults for a test against srv.
func benchOptions(t *testing.T, srv *server.Server, scenario string) options {
	t.Helper()
	o := options{
		scenario: scenario, addr: srv.Addr(server.ListenerC2S).String(), domain: "localhost",
		userPattern: "bench%d", password: "bench%d", mechanism: "SCRAM-SHA-1",
		n: 4, concurrency: 4, pairs: 1, window: 10, duration: time.Second, settle: 100 * time.Millisecond,
		presence: true, tlsGroups: "X25519", queue: 3, hibernateWait: 200 * time.Millisecond, resumeCheck: 2,
		prefill: 120, queries: 3, page: 50,
		push: pushOptions{componentAddr: srv.Addr(server.ListenerComponent).String(), domain: "push.localhost",
			secret: testSecret, mode: "hibernate", bursts: 2, burst: 2, gap: 100 * time.Millisecond},
	}
	return o
}

func runScenario(t *testing.T, o options) (map[string]any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return run(ctx, o)
}

func TestScenariosAgainstDormouse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	srv := startDormouse(t, 8)
	tests := []struct {
		name   string
		mod    func(*options)
		checks func(t *testing.T, res map[string]any)
	}{
		{name: "resume", mod: func(o *options) { o.scenario = "resume" }, checks: func(t *testing.T, res map[string]any) {
			if res["resumed"] != 4 {
				t.Errorf("resumed = %v, want 4", res["resumed"])
			}
			// TCP, stream, STARTTLS, TLS 1.3, stream, SCRAM (2), stream, resume.
			if rt, _ := res["round_trips"].(int); rt < 8 || rt > 10 {
				t.Errorf("round_trips = %v, want about 9", res["round_trips"])
			}
		}},
		{name: "resume direct TLS", mod: func(o *options) {
			o.scenario = "resume"
			o.directTLS = true
			o.addr = srv.Addr(server.ListenerC2STLS).String()
		}, checks: func(t *testing.T, res map[string]any) {
			if rt, _ := res["round_trips"].(int); rt < 6 || rt > 8 {
				t.Errorf("round_trips over direct TLS = %v, want about 7", res["round_trips"])
			}
		}},
		{name: "resume SASL2 FAST", mod: func(o *options) {
			o.scenario = "resume"
			o.sasl2 = true
		}, checks: func(t *testing.T, res map[string]any) {
			if res["resumed"] != 4 {
				t.Errorf("resumed = %v, want 4", res["resumed"])
			}
			// TCP, stream, STARTTLS, TLS 1.3, stream, authenticate.
			if rt, _ := res["round_trips"].(int); rt != 6 {
				t.Errorf("round_trips = %v, want 6", res["round_trips"])
			}
		}},
		{name: "resume SASL2 FAST direct TLS", mod: func(o *options) {
			o.scenario = "resume"
			o.sasl2 = true
			o.directTLS = true
			o.addr = srv.Addr(server.ListenerC2STLS).String()
		}, checks: func(t *testing.T, res map[string]any) {
			// TCP, TLS 1.3, stream, authenticate: TLS + 2 round trips.
			if rt, _ := res["round_trips"].(int); rt != 4 {
				t.Errorf("round_trips over direct TLS = %v, want 4", res["round_trips"])
			}
		}},
		{name: "resume SASL2 FAST direct TLS with TLS session tickets", mod: func(o *options) {
			o.scenario = "resume"
			o.sasl2 = true
			o.tlsResume = true
			o.directTLS = true
			o.addr = srv.Addr(server.ListenerC2STLS).String()
		}, checks: func(t *testing.T, res map[string]any) {
			if rt, _ := res["round_trips"].(int); rt != 4 {
				t.Errorf("round_trips = %v, want 4", res["round_trips"])
			}
			if info, _ := res["tls"].(string); !strings.HasSuffix(info, " resumed") {
				t.Errorf("tls = %q, want an abbreviated handshake", info)
			}
		}},
		{name: "login SASL2", mod: func(o *options) {
			o.scenario = "login"
			o.sasl2 = true
			o.rttProbe = true
		}, checks: func(t *testing.T, res map[string]any) {
			// TCP, stream, STARTTLS, TLS 1.3, stream, SCRAM (2).
			if res["logins"] != 4 || res["round_trips"] != 7 {
				t.Errorf("logins %v, round_trips %v; want 4, 7", res["logins"], res["round_trips"])
			}
		}},
		{name: "login FAST", mod: func(o *options) {
			o.scenario = "login"
			o.fast = true
			o.rttProbe = true
		}, checks: func(t *testing.T, res map[string]any) {
			// TCP, stream, STARTTLS, TLS 1.3, stream, authenticate.
			if res["logins"] != 4 || res["round_trips"] != 6 || res["fast"] != true {
				t.Errorf("logins %v, round_trips %v; want 4, 6", res["logins"], res["round_trips"])
			}
		}},
		{name: "hibernate", mod: func(o *options) {
			o.scenario = "hibernate"
			o.idleWarmup = 1
			o.pid = os.Getpid() // the server runs in this process
		}, checks: func(t *testing.T, res map[string]any) {
			if res["resume_ok"] != 2 {
				t.Errorf("resume_ok = %v, want 2", res["resume_ok"])
			}
			for _, k := range []string{"rss_per_live_session_kib", "rss_per_hibernated_session_kib", "rss_released_per_session_kib"} {
				if _, ok := res[k].(float64); !ok {
					t.Errorf("no %s in %v", k, res)
				}
			}
		}},
		{name: "mam", mod: func(o *options) { o.scenario = "mam" }, checks: func(t *testing.T, res map[string]any) {
			for _, s := range mamShapes {
				if _, ok := res[s.name+"_p50_ms"]; !ok {
					t.Errorf("no %s latency in %v", s.name, res)
				}
			}
		}},
		{name: "throughput paced", mod: func(o *options) {
			o.scenario = "throughput"
			o.rate = 40 // 2 senders, one message each 50 ms
			o.warmup = 200 * time.Millisecond
		}, checks: func(t *testing.T, res map[string]any) {
			// Pacing caps what is sent (a loaded machine can only send
			// fewer): 40 in the 1 s window, one more per sender at most.
			if sent, _ := res["sent"].(int64); sent < 1 || sent > 42 {
				t.Errorf("sent = %v in 1 s at -rate 40, want 1..42", res["sent"])
			}
			if res["lost"] != int64(0) || res["bounced"] != int64(0) {
				t.Errorf("lost = %v, bounced = %v, want 0", res["lost"], res["bounced"])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := benchOptions(t, srv, "")
			tc.mod(&o)
			res, err := runScenario(t, o)
			if err != nil {
				t.Fatalf("%s: %v (result %v)", tc.name, err, res)
			}
			t.Logf("%s: %v", tc.name, res)
			tc.checks(t, res)
		})
	}
}

// TestPushOnDormouse: the push scenario against Dormouse measures: one
// publish per burst (the leading edge), from the account, with the
// secret echoed.
func TestPushOnDormouse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	srv := startDormouse(t, 2)
	res, err := runScenario(t, benchOptions(t, srv, "push"))
	if err != nil {
		t.Fatalf("push against Dormouse: %v (result %v)", err, res)
	}
	if _, ok := res["latency_p50_ms"]; !ok || res["bursts_without_publish"] != 0 || res["publishes_before_bursts"] != 0 {
		t.Errorf("result %v", res)
	}
	ex, _ := res["publish_example"].(map[string]any)
	if ex["from"] != "bench0@localhost" || ex["node_ok"] != true || ex["secret_echoed"] != true {
		t.Errorf("publish %v", ex)
	}
}

// TestComponentHandshake connects the app server's component side to
// Dormouse's real XEP-0114 listener.
func TestComponentHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	srv := startDormouse(t, 0)
	addr := srv.Addr(server.ListenerComponent).String()
	ctx := context.Background()
	c, err := dialComponent(ctx, addr, "push.localhost", testSecret)
	if err != nil {
		t.Fatalf("handshake with the right secret: %v", err)
	}
	c.close()
	if c, err := dialComponent(ctx, addr, "push.localhost", "wrong"); err == nil {
		c.close()
		t.Fatal("handshake with a wrong secret succeeded")
	}
}

func TestHandshakeDigest(t *testing.T) {
	// hex SHA-1 of "3BF96D32sesame" (sha1sum).
	if got := handshakeDigest("3BF96D32", "sesame"); got != "7a98dc4c9e92493d7fd66a25364c862637789c45" {
		t.Errorf("handshakeDigest = %s", got)
	}
}

func parseIQ(t *testing.T, s string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(s), nsComponent)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return el
}

func TestParsePublish(t *testing.T) {
	const prosody = `<iq type='set' from='localhost' to='push.localhost' id='abc'>
<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n1'><item><notification xmlns='urn:xmpp:push:0'>
<x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field>
<field var='message-count'><value>1</value></field><field var='last-message-body'><value>New Message!</value></field></x>
</notification></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>
<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
<field var='secret'><value>s3</value></field></x></publish-options></pubsub></iq>`
	// Captured from the peers by the push scenario (publish_example_xml),
	// in a partial bench/peers.sh run: Prosody 0.12.3 with mod_cloud_notify
	// (Debian prosody-modules) and ejabberd 23.01 with mod_push, defaults.
	const prosodyWire = `<iq id='9e959eb9c53eee483e10b91e253b4f5b951c0b559dc8f7cfb3db66b0ea011431' to='push.localhost' type='set' from='localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='bench-4gu8vc4'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field><field var='message-count' type='text-single'><value>1</value></field><field var='pending-subscription-count' type='text-single'/><field var='last-message-sender' type='jid-single'/><field var='last-message-body' type='text-single'><value>New Message!</value></field></x></notification></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>s-bench-4gu8vc4</value></field></x></publish-options></pubsub></iq>`
	const ejabberdWire = `<iq to='push.localhost' from='localhost' type='set' id='rr-1795494409514-6418063044121172864-cpajPO6EU6BA/dpCsoXKq123rjg=-55238004'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='bench-28xenuq'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field><field var='last-message-body' type='text-single' label='The body text of the last received message'><value>New message</value></field></x></notification></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>s-bench-28xenuq</value></field></x></publish-options></pubsub></iq>`
	tests := []struct {
		in      string
		ok      bool
		err     string
		node    string
		fields  map[string]string
		options map[string]string
	}{
		0: {in: prosody, ok: true, node: "n1",
			fields:  map[string]string{"message-count": "1", "last-message-body": "New Message!"},
			options: map[string]string{"secret": "s3"}},
		1: {in: `<iq type='set' from='localhost' to='push.localhost' id='e1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>
<publish node='n2'><item><notification xmlns='urn:xmpp:push:0'/></item></publish></pubsub></iq>`, ok: true, node: "n2",
			fields: map[string]string{}},
		2: {in: `<iq type='get' id='d1' to='push.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`},
		3: {in: `<message to='push.localhost'><body>hi</body></message>`},
		4: {in: `<iq type='result' id='r1'/>`},
		5: {in: `<iq type='set' id='x'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish><item/></publish></pubsub></iq>`,
			ok: true, err: "without a node"},
		6: {in: `<iq type='set' id='x'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item/></publish></pubsub></iq>`,
			ok: true, err: "without <notification"},
		7: {in: `<iq type='set' id='x'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item>
<notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>other</value></field></x></notification>
</item></publish></pubsub></iq>`, ok: true, err: "form type"},
		8: {in: prosodyWire, ok: true, node: "bench-4gu8vc4",
			fields: map[string]string{"message-count": "1", "pending-subscription-count": "", "last-message-sender": "",
				"last-message-body": "New Message!"},
			options: map[string]string{"secret": "s-bench-4gu8vc4"}},
		9: {in: ejabberdWire, ok: true, node: "bench-28xenuq",
			fields:  map[string]string{"last-message-body": "New message"},
			options: map[string]string{"secret": "s-bench-28xenuq"}},
	}
	for i, tc := range tests {
		p, ok, err := parsePublish(parseIQ(t, tc.in))
		if ok != tc.ok {
			t.Errorf("%d: ok = %v, want %v", i, ok, tc.ok)
			continue
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%d: err = %v, want %q", i, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%d: %v", i, err)
			continue
		}
		if !ok {
			continue
		}
		if p.node != tc.node || fmt.Sprint(p.fields) != fmt.Sprint(tc.fields) || tc.options != nil && fmt.Sprint(p.options) != fmt.Sprint(tc.options) {
			t.Errorf("%d: got node %q fields %v options %v", i, p.node, p.fields, p.options)
		}
	}
}

func TestSplitBursts(t *testing.T) {
	t0 := time.Unix(100, 0)
	at := func(ms int) publish { return publish{at: t0.Add(time.Duration(ms) * time.Millisecond)} }
	sent := []time.Time{t0, t0.Add(2 * time.Second), t0.Add(4 * time.Second)}
	tests := []struct {
		pubs  []publish
		want  []int           // publishes per burst
		first []time.Duration // first-publish latency per burst (-1: none)
	}{
		0: {pubs: []publish{at(3), at(1000), at(2005)}, want: []int{2, 1, 0},
			first: []time.Duration{3 * time.Millisecond, 5 * time.Millisecond, -1}},
		1: {pubs: nil, want: []int{0, 0, 0}, first: []time.Duration{-1, -1, -1}},
		2: {pubs: []publish{at(-5), at(4001)}, want: []int{0, 0, 1}, first: []time.Duration{-1, -1, time.Millisecond}},
	}
	for i, tc := range tests {
		got := split(tc.pubs, sent)
		for b := range got {
			if got[b].publishes != tc.want[b] || got[b].first != tc.first[b] {
				t.Errorf("%d: burst %d = %d publishes, first %v; want %d, %v", i, b, got[b].publishes, got[b].first, tc.want[b], tc.first[b])
			}
		}
	}
}

func TestMAMCheck(t *testing.T) {
	bodies := func(from, to int) []string {
		var b []string
		for i := from; i <= to; i++ {
			b = append(b, fmt.Sprintf("p %d", i))
		}
		return b
	}
	froms := func(n int, f string) []string { return strings.Split(strings.Repeat(f+" ", n)[:len(f+" ")*n-1], " ") }
	last, first, with := mamShapes[0], mamShapes[1], mamShapes[2]
	tests := []struct {
		shape mamShape
		page  mamPage
		k     int
		err   string
	}{
		0: {shape: last, page: mamPage{bodies: bodies(150, 199), count: -1}, k: 200},
		1: {shape: last, page: mamPage{bodies: bodies(150, 198), count: -1}, k: 200, err: "49 results"},
		2: {shape: last, page: mamPage{bodies: bodies(0, 49), count: 200}, k: 200, err: "first result"},
		3: {shape: first, page: mamPage{bodies: bodies(0, 49), count: 200}, k: 200},
		4: {shape: first, page: mamPage{bodies: bodies(0, 49), count: 250}, k: 200}, // the count is noted, not checked
		5: {shape: first, page: mamPage{bodies: bodies(0, 9), count: 10}, k: 10},
		6: {shape: with, page: mamPage{bodies: bodies(150, 199), froms: froms(50, "a@h/r"), count: 200}, k: 200},
		7: {shape: with, page: mamPage{bodies: bodies(150, 199), froms: append(froms(49, "a@h/r"), "b@h"), count: 200}, k: 200, err: "a result from"},
	}
	if got := first.countNote(mamPage{count: 1999}, 2000); got != "RSM count 1999, want 2000" {
		t.Errorf("countNote = %q", got)
	}
	for _, p := range []mamPage{{count: 2000}, {count: -1}} {
		if got := first.countNote(p, 2000); got != "" {
			t.Errorf("countNote(%d) = %q, want none", p.count, got)
		}
	}
	if got := last.countNote(mamPage{count: 5}, 2000); got != "" {
		t.Errorf("countNote of a last-page query = %q, want none", got)
	}
	for i, tc := range tests {
		err := tc.shape.check(tc.page, 50, tc.k, "p ", "a@h")
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%d: err = %v, want %q", i, err, tc.err)
		}
	}
}

func TestMAMQuery(t *testing.T) {
	start := time.Date(2026, 11, 24, 4, 0, 0, 0, time.UTC)
	tests := []struct {
		shape mamShape
		want  []string
		not   []string
	}{
		0: {shape: mamShapes[0], want: []string{"<max>50</max><before/>", "queryid='q'"}, not: []string{"jabber:x:data"}},
		1: {shape: mamShapes[1], want: []string{"<value>2026-11-24T04:00:00Z</value>", "<max>50</max></set>"}, not: []string{"before", "'with'"}},
		2: {shape: mamShapes[2], want: []string{"<field var='with'><value>a@h</value>", "<before/>", "var='start'"}},
	}
	for i, tc := range tests {
		q := mamQuery(tc.shape, "q", "a@h", start, 50)
		if _, err := xml.Parse([]byte(q), "jabber:client"); err != nil {
			t.Errorf("%d: not well-formed: %v", i, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(q, w) {
				t.Errorf("%d: %s lacks %q", i, q, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(q, w) {
				t.Errorf("%d: %s has %q", i, q, w)
			}
		}
	}
}

// FuzzParsePublish: whatever the server sends on the component stream,
// parsePublish must not panic, and a publish it accepts has a node.
func FuzzParsePublish(f *testing.F) {
	f.Add(`<iq type='set' id='a'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item>` +
		`<notification xmlns='urn:xmpp:push:0'/></item></publish></pubsub></iq>`)
	f.Add(`<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish/></pubsub></iq>`)
	f.Add(`<message/>`)
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xml.Parse([]byte(s), nsComponent)
		if err != nil {
			return
		}
		p, ok, err := parsePublish(el)
		if ok && err == nil && p.node == "" {
			t.Errorf("accepted a publish without a node: %q", s)
		}
	})
}
