package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"dormouse.im/dormouse/push/appserver/providertest"
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
