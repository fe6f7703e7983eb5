package main

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/push/appserver/providertest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

func TestPushAppCommands(t *testing.T) {
	dir := t.TempDir()
	fcm := providertest.NewFCM()
	defer fcm.Close()
	apns := providertest.NewAPNs()
	defer apns.Close()
	keyFile := filepath.Join(dir, "push.key")
	saFile := filepath.Join(dir, "sa.json")
	p8File := filepath.Join(dir, "AuthKey.p8")
	p8, kid := apns.NewKey()
	for name, b := range map[string][]byte{keyFile: []byte("an operator secret of at least 32 bytes"),
		saFile: fcm.ServiceAccountJSON("cli-project"), p8File: p8} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"DORMOUSE_DATA_DIR=" + dir, "DORMOUSE_PUSH_FCM_ENDPOINT=" + fcm.URL(), "DORMOUSE_PUSH_CREDENTIALS_KEY=" + keyFile}
	steps := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		// Flags after NAME, as written in the issue.
		{args: []string{"push", "app", "add", "fcm-main", "-platform", "fcm", "-credentials", saFile}, stdout: "stored app fcm-main (fcm)"},
		{args: []string{"push", "app", "add", "-platform", "apns", "-key", p8File, "-key-id", kid, "-team-id", "TEAM000001", "-topic", "im.example.app", "-sandbox", "ios"}, stdout: "stored app ios (apns)"},
		{args: []string{"push", "app", "add", "bad", "-platform", "apns", "-topic", "x"}, code: exitConfig, stderr: "either a .p8 key or a .p12"},
		{args: []string{"push", "app", "add", "bad", "-platform", "gcm"}, code: exitConfig, stderr: "want fcm or apns"},
		{args: []string{"push", "app", "add", "bad", "-platform", "fcm", "-credentials", filepath.Join(dir, "missing.json")}, code: exitConfig, stderr: "missing.json"},
		{args: []string{"push", "app", "list"}, stdout: "fcm-main  fcm"},
		{args: []string{"push", "test", "-app", "fcm-main", "-token", "cli-token"}, stdout: "fcm: sent (HTTP 200)"},
		{args: []string{"push", "test", "-app", "nope", "-token", "t"}, code: exitFail, stderr: "not found"},
		{args: []string{"push", "test", "-app", "fcm-main"}, code: exitConfig, stderr: "required"},
		{args: []string{"push", "devices", "-app", "fcm-main"}, stdout: "LAST SUCCESS"},
		{args: []string{"push", "app", "remove", "ios"}, stdout: "removed app ios"},
		{args: []string{"push", "app", "remove", "ios"}, code: exitFail, stderr: "no app"},
	}
	for _, s := range steps {
		code, out, errOut := cli(t, env, s.args...)
		if code != s.code {
			t.Fatalf("%v: exit %d, want %d (stdout %q stderr %q)", s.args, code, s.code, out, errOut)
		}
		if !strings.Contains(out, s.stdout) || !strings.Contains(errOut, s.stderr) {
			t.Errorf("%v: stdout %q stderr %q, want %q / %q", s.args, out, errOut, s.stdout, s.stderr)
		}
	}
	if reqs := fcm.Requests(); len(reqs) != 1 || reqs[0].Token != "cli-token" || reqs[0].Project != "cli-project" {
		t.Errorf("FCM requests %+v", reqs)
	}
	// The stored credentials are encrypted: no trace of the private key.
	db, err := sql.Open("sqlite", filepath.Join(dir, "dormouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var blob []byte
	if err := db.QueryRowContext(context.Background(), `SELECT credentials FROM push_apps WHERE name = 'fcm-main'`).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(blob), "PRIVATE KEY") || strings.Contains(string(blob), "cli-project") {
		t.Error("credentials stored in clear")
	}
	// Without the key, list says so instead of failing.
	code, out, _ := cli(t, []string{"DORMOUSE_DATA_DIR=" + dir}, "push", "app", "list")
	if code != exitOK || !strings.Contains(out, "cannot be opened") {
		t.Errorf("list without the key: %d %q", code, out)
	}
}

// TestAppServerCommand runs "dormouse appserver" as a component of a
// running Dormouse: a client registers through it, the server publishes,
// the FCM stand-in receives the notification; SIGINT stops it.
func TestAppServerCommand(t *testing.T) {
	fcm := providertest.NewFCM()
	defer fcm.Close()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.C2S.Listen, cfg.C2S.TLSListen, cfg.Admin.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "", "", ""
	cfg.Components.Listen = "127.0.0.1:0"
	cfg.S2S.Listen = ""
	cfg.Components.Secrets = map[string]string{"push.example.net": "link-secret"}
	srv, err := server.New(context.Background(), cfg, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	creds, _ := auth.NewCredentials("pw", 0)
	if err := srv.Stores.Accounts.CreateAccount(t.Context(), "zoe@localhost", creds); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	sa := filepath.Join(dir, "sa.json")
	if err := os.WriteFile(sa, fcm.ServiceAccountJSON("standalone"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"DORMOUSE_DATA_DIR=" + dir, "DORMOUSE_PUSH_FCM_ENDPOINT=" + fcm.URL(),
		"DORMOUSE_COMPONENTS_LISTEN=" + srv.Addr(server.ListenerComponent).String(),
		"DORMOUSE_COMPONENTS_SECRETS=push.example.net=link-secret", "DORMOUSE_PUSH_APPSERVER_DOMAIN=push.example.net",
		"DORMOUSE_ADMIN_LISTEN=127.0.0.1:0"}
	if code, _, errOut := cli(t, env, "push", "app", "add", "android", "-platform", "fcm", "-credentials", sa); code != 0 {
		t.Fatalf("push app add: %s", errOut)
	}
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"appserver"}, &out, &errOut, env) }()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.ContainsFunc(srv.Router.Services(), func(e router.ServiceEntry) bool { return e.Domain == "push.example.net" }) {
		if time.Now().After(deadline) {
			t.Fatal("the app server did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := xmpptest.Dial(ctx, xmpptest.Options{Addr: srv.Addr(server.ListenerC2S).String(), Domain: "localhost", User: "zoe", Password: "pw", Resource: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.IQ("r", `<iq type='set' id='r' to='push.example.net'><command xmlns='http://jabber.org/protocol/commands' node='register-push-fcm' action='execute'><x xmlns='jabber:x:data' type='submit'><field var='token'><value>zoe-token</value></field><field var='android-id'><value>zoe-phone</value></field></x></command></iq>`)
	if err != nil || res.AttrValue("type") != "result" {
		t.Fatalf("register: %v %v", res, err)
	}
	var node, secret string
	for _, f := range res.FirstChild().FirstChild().ChildrenNamed("jabber:x:data", "field") {
		switch f.AttrValue("var") {
		case "node":
			node = f.ChildText("jabber:x:data", "value")
		case "secret":
			secret = f.ChildText("jabber:x:data", "value")
		}
	}
	el, err := xml.Parse([]byte(`<iq type='set' from='localhost' to='push.example.net'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='`+node+`'><item><notification xmlns='urn:xmpp:push:0'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='secret'><value>`+secret+`</value></field></x></publish-options></pubsub></iq>`), stanza.NSClient)
	if err != nil {
		t.Fatal(err)
	}
	iq, _ := stanza.New(el)
	if _, err := srv.Router.SendIQ(ctx, iq); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if reqs, err := fcm.Await(1, 5*time.Second); err != nil || reqs[0].Token != "zoe-token" || reqs[0].Priority != "normal" {
		t.Fatalf("FCM: %+v %v", reqs, err)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("appserver exited %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("appserver did not stop on SIGINT")
	}
	if !strings.Contains(out.String(), "push app server push.example.net") {
		t.Errorf("startup output %q", out.String())
	}
}
