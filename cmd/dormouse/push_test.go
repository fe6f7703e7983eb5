package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/push"
	"dormouse.im/dormouse/sql"
)

func TestPushDevices(t *testing.T) {
	dir := t.TempDir()
	env := []string{"DORMOUSE_DATA_DIR=" + dir}
	if code, _, errOut := cli(t, env, "user", "add", "alice@localhost", "pw-alice-1"); code != exitOK {
		t.Fatal(errOut)
	}
	code, out, _ := cli(t, env, "push", "devices", "alice@localhost")
	if code != exitOK || out != "alice@localhost has no push registrations\n" {
		t.Fatalf("exit %d, %q", code, out)
	}
	ctx := context.Background()
	stores, err := sql.Open(ctx, "sqlite:"+filepath.Join(dir, "dormouse.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, r := range []push.Registration{
		{Account: "alice@localhost", Resource: "phone", JID: "p2.siacs.eu", Node: "eKxTS5n3bOe0-a-long-device-token", Since: since, EncryptKey: make([]byte, 16)},
		{Account: "alice@localhost", Resource: "tablet", JID: "push.localhost", Node: "n2", Since: since.Add(time.Hour)},
	} {
		if _, err := stores.Push.Enable(ctx, r, 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := stores.Push.Record(ctx, "alice@localhost", "p2.siacs.eu", "eKxTS5n3bOe0-a-long-device-token", push.Outcome{At: since.Add(2 * time.Hour), Err: "remote-server-not-found"}); err != nil {
		t.Fatal(err)
	}
	if err := stores.Push.Record(ctx, "alice@localhost", "push.localhost", "n2", push.Outcome{At: since.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	stores.Close()
	code, out, errOut := cli(t, env, "push", "devices", "alice@localhost")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", out)
	}
	for i, want := range [][]string{
		{"APP SERVER", "NODE", "LAST SUCCESS", "LAST ERROR", "ERRORS"},
		{"p2.siacs.eu", "eKxTS5n3bOe0…", "phone", "2026-12-01T08:00:00Z", "never", "2026-12-01T10:00:00Z (remote-server-not-found)", " 1 ", "true"},
		{"push.localhost", "n2", "tablet", "2026-12-01T09:00:00Z", "2026-12-01T11:00:00Z", " 0 ", "false"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	if strings.Contains(out, "a-long-device-token") {
		t.Error("the whole node (a push token) is printed")
	}
	if code, _, errOut := cli(t, env, "push", "devices", "bob@localhost"); code != exitFail || !strings.Contains(errOut, "does not exist") {
		t.Errorf("unknown account: exit %d, %q", code, errOut)
	}
	if code, _, errOut := cli(t, env, "push", "devices", "alice@elsewhere.example"); code != exitConfig || !strings.Contains(errOut, "not served here") {
		t.Errorf("foreign account: exit %d, %q", code, errOut)
	}
}
