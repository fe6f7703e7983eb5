package apns_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"dormouse.im/dormouse/push/appserver/apns"
	"dormouse.im/dormouse/push/appserver/provider"
	"dormouse.im/dormouse/push/appserver/providertest"
)

func newClient(t *testing.T, voip string) (*apns.Client, *providertest.APNs, string) {
	t.Helper()
	f := providertest.NewAPNs()
	t.Cleanup(f.Close)
	p8, kid := f.NewKey()
	c, err := apns.New(apns.Config{KeyP8: p8, KeyID: kid, TeamID: "TEAM123456", Topic: "im.example.app",
		VoIPTopic: voip, Endpoint: f.URL(), RootCAs: f.RootCAs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, f, kid
}

func TestSend(t *testing.T) {
	c, f, kid := newClient(t, "")
	ctx := context.Background()
	before := time.Now()
	for _, n := range []*provider.Notification{
		{Token: "aa01", Important: true, TTL: time.Hour, CollapseKey: "c1", Data: map[string]string{"message-count": "1"}},
		{Token: "aa02"},
		{Token: "aa03", Call: true, Important: true},
		{Token: "aa04", Important: true, Encrypted: &provider.Encrypted{Payload: "cGF5", IV: "aXY=", Type: "voip"}},
	} {
		if r := c.Send(ctx, n); r.Outcome != provider.Sent || r.Status != 200 {
			t.Fatalf("%s: %+v", n.Token, r)
		}
	}
	reqs := f.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, q := range reqs {
		if q.Proto != "HTTP/2.0" || q.KeyID != kid || q.TeamID != "TEAM123456" || q.Topic != "im.example.app" {
			t.Errorf("%s: transport/auth %+v", q.Token, q)
		}
	}
	alert := reqs[0]
	aps, _ := alert.Payload["aps"].(map[string]any)
	if alert.PushType != "alert" || alert.Priority != "10" || alert.CollapseID != "c1" || aps["mutable-content"] != 1.0 ||
		aps["alert"] == nil || alert.Payload["message-count"] != "1" {
		t.Errorf("important: %+v", alert)
	}
	exp, _ := strconv.ParseInt(alert.Expiration, 10, 64)
	if d := time.Unix(exp, 0).Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("apns-expiration %s is %s away", alert.Expiration, d)
	}
	bg := reqs[1]
	aps, _ = bg.Payload["aps"].(map[string]any)
	if bg.PushType != "background" || bg.Priority != "5" || aps["content-available"] != 1.0 || aps["alert"] != nil || bg.Expiration != "" || len(bg.Payload) != 1 {
		t.Errorf("background: %+v", bg)
	}
	call := reqs[2]
	aps, _ = call.Payload["aps"].(map[string]any)
	if call.PushType != "alert" || aps["category"] != apns.CallCategory {
		t.Errorf("call without VoIP topic: %+v", call)
	}
	enc := reqs[3]
	if enc.Payload["encrypted"] != "cGF5" || enc.Payload["iv"] != "aXY=" || enc.Payload["type"] != "voip" {
		t.Errorf("encrypted: %+v", enc.Payload)
	}
}

func TestVoIP(t *testing.T) {
	c, f, _ := newClient(t, "im.example.app.voip")
	if r := c.Send(context.Background(), &provider.Notification{Token: "bb", Call: true, Important: true}); r.Outcome != provider.Sent {
		t.Fatal(r)
	}
	q := f.Requests()[0]
	if q.PushType != "voip" || q.Topic != "im.example.app.voip" || q.Priority != "10" {
		t.Errorf("voip push %+v", q)
	}
}

func TestErrors(t *testing.T) {
	c, f, _ := newClient(t, "")
	for i, tc := range []struct {
		ans     providertest.Answer
		outcome provider.Outcome
		temp    bool
	}{
		0: {providertest.Answer{Status: 410, Reason: "Unregistered"}, provider.Unregistered, false},
		1: {providertest.Answer{Status: 400, Reason: "BadDeviceToken"}, provider.Unregistered, false},
		2: {providertest.Answer{Status: 429, Reason: "TooManyRequests"}, provider.RateLimited, true},
		3: {providertest.Answer{Status: 500, Reason: "InternalServerError"}, provider.ProviderError, true},
		4: {providertest.Answer{Status: 400, Reason: "BadTopic"}, provider.ProviderError, false},
	} {
		f.Answer("dead", tc.ans)
		r := c.Send(context.Background(), &provider.Notification{Token: "dead"})
		if r.Outcome != tc.outcome || r.Temporary() != tc.temp || r.Reason != tc.ans.Reason {
			t.Errorf("%d: %+v, want %s", i, r, tc.outcome)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for i, cfg := range []apns.Config{
		{Topic: "x"},
		{KeyP8: []byte("junk"), KeyID: "k", TeamID: "t", Topic: "x"},
		{KeyP8: []byte("junk"), Topic: "x"},
		{CertP12: []byte("junk"), Topic: "x"},
		{KeyP8: []byte("junk"), KeyID: "k", TeamID: "t"},
	} {
		if _, err := apns.New(cfg); err == nil {
			t.Errorf("%d: accepted", i)
		}
	}
}

// TestCertificateAuth sends with a .p12 certificate (made by openssl, in
// the legacy encryption Apple's downloads use) instead of a .p8 key.
func TestCertificateAuth(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is not installed, and CI must run the .p12 test: install Debian's openssl")
		}
		t.Skip("openssl not installed (Debian's openssl package runs this test)")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	key, crt, p12 := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "push.p12")
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
		"-subj", "/CN=Apple Push Services: im.example.app", "-days", "1")
	run("pkcs12", "-export", "-in", crt, "-inkey", key, "-out", p12, "-passout", "pass:pw",
		"-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1")
	b, err := os.ReadFile(p12)
	if err != nil {
		t.Fatal(err)
	}
	f := providertest.NewAPNs()
	defer f.Close()
	c, err := apns.New(apns.Config{CertP12: b, CertPassword: "pw", Topic: "im.example.app", Sandbox: true, Endpoint: f.URL(), RootCAs: f.RootCAs()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r := c.Send(context.Background(), &provider.Notification{Token: "cc", Important: true}); r.Outcome != provider.Sent {
		t.Fatalf("%+v", r)
	}
	if q := f.Requests()[0]; q.ClientCert != "Apple Push Services: im.example.app" || q.KeyID != "" {
		t.Errorf("request %+v", q)
	}
	if _, err := apns.New(apns.Config{CertP12: b, CertPassword: "wrong", Topic: "x"}); err == nil {
		t.Error("wrong .p12 password accepted")
	}
}
