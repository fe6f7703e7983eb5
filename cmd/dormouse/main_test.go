package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/upload"
)

// cli runs the command with a data dir of its own and returns its exit
// code and output.
func cli(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut, env)
	return code, out.String(), errOut.String()
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	env := []string{"DORMOUSE_DATA_DIR=" + dir}
	steps := []struct {
		args     []string
		code     int
		stdout   string // substring
		stderr   string // substring
		exactOut string
	}{
		{args: []string{"user", "add", "alice@localhost", "pw-alice-1"}, stdout: "created alice@localhost"},
		{args: []string{"user", "add", "bob@localhost", "pw-bob-1"}, stdout: "created bob@localhost"},
		{args: []string{"user", "add", "alice@localhost", "x"}, code: exitFail, stderr: "already exists"},
		{args: []string{"user", "list"}, exactOut: "alice@localhost\nbob@localhost\n"},
		{args: []string{"user", "passwd", "alice@localhost", "pw-alice-2"}, stdout: "password changed"},
		{args: []string{"user", "passwd", "carol@localhost", "x"}, code: exitFail, stderr: "does not exist"},
		{args: []string{"user", "del", "bob@localhost"}, stdout: "deleted bob@localhost"},
		{args: []string{"user", "list", "localhost"}, exactOut: "alice@localhost\n"},
		{args: []string{"user", "add", "dave@elsewhere.example", "x"}, code: exitConfig, stderr: "not served here"},
		{args: []string{"user", "add", "not a jid", "x"}, code: exitConfig, stderr: "not a valid JID"},
		{args: []string{"user", "add", "alice@localhost"}, code: exitConfig, stderr: "wrong number of arguments"},
		{args: []string{"user", "frobnicate"}, code: exitConfig, stderr: "unknown subcommand"},
		{args: []string{"db", "migrate"}, stdout: "applied 0 migration(s)"},
		{args: []string{"mam", "purge", "-before", "2000-01-01"}, stdout: "deleted 0 archived message(s) before 2000-01-01T00:00:00Z (all accounts)"},
		{args: []string{"mam", "purge", "-before", "2000-01-01", "-user", "alice@localhost"}, stdout: "(alice@localhost)"},
		{args: []string{"mam", "purge", "-before", "yesterday"}, code: exitConfig, stderr: "neither YYYY-MM-DD"},
		{args: []string{"mam", "purge"}, code: exitConfig, stderr: "required"},
		{args: []string{"version"}, stdout: "dormouse "},
		{args: []string{"nonsense"}, code: exitConfig, stderr: "unknown command"},
	}
	for _, s := range steps {
		code, out, errOut := cli(t, env, s.args...)
		if code != s.code {
			t.Fatalf("%v: exit %d, want %d (stderr %q)", s.args, code, s.code, errOut)
		}
		if s.stdout != "" && !strings.Contains(out, s.stdout) {
			t.Errorf("%v: stdout %q, want %q", s.args, out, s.stdout)
		}
		if s.exactOut != "" && out != s.exactOut {
			t.Errorf("%v: stdout %q, want %q", s.args, out, s.exactOut)
		}
		if s.stderr != "" && !strings.Contains(errOut, s.stderr) {
			t.Errorf("%v: stderr %q, want %q", s.args, errOut, s.stderr)
		}
	}
}

func TestInvalidConfigExitsTwo(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"bad stanza size", []string{"DORMOUSE_C2S_MAX_STANZA_SIZE=5"}, "c2s.max_stanza_size"},
		{"unknown variable", []string{"DORMOUSE_C2S_LISTN=:1"}, "DORMOUSE_C2S_LISTN"},
		{"bad domain", []string{"DORMOUSE_DOMAIN=a b"}, "domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := cli(t, append(tc.env, "DORMOUSE_DATA_DIR="+t.TempDir()), "serve")
			if code != exitConfig {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not name %q", errOut, tc.want)
			}
		})
	}
	code, _, errOut := cli(t, nil, "serve", "-config", filepath.Join(t.TempDir(), "missing.toml"))
	if code != exitConfig || !strings.Contains(errOut, "missing.toml") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}

// TestUserAddWhileServing creates an account with the CLI on the storage
// of a running server; the account can log in at once.
func TestUserAddWhileServing(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.C2S.Listen = "127.0.0.1:0"
	cfg.C2S.TLSListen = ""
	cfg.Components.Listen = ""
	cfg.S2S.Listen = ""
	cfg.Admin.Listen = ""
	cfg.HTTP.Listen = ""
	srv, err := server.New(context.Background(), cfg, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	if code, _, errOut := cli(t, []string{"DORMOUSE_DATA_DIR=" + dir}, "user", "add", "erin@localhost", "pw-erin-1"); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := xmpptest.Dial(ctx, xmpptest.Options{Addr: srv.Addr(server.ListenerC2S).String(), Domain: "localhost", User: "erin", Password: "pw-erin-1", Resource: "cli"})
	if err != nil {
		t.Fatalf("login after user add: %v", err)
	}
	c.Close()
}

// TestHelpListsEveryCommand: "dormouse --help", "-h" and "dormouse help"
// print the same list, naming every command.
func TestHelpListsEveryCommand(t *testing.T) {
	var first string
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}} {
		code, out, errOut := cli(t, nil, args...)
		if code != exitOK || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for _, c := range commands() {
			if !strings.Contains(out, "dormouse "+c.name) {
				t.Errorf("%v: output does not list %q:\n%s", args, c.name, out)
			}
		}
		if first == "" {
			first = out
		} else if out != first {
			t.Errorf("%v prints another text than %v", args, []string{"--help"})
		}
	}
	code, out, _ := cli(t, nil, "help", "mam", "purge")
	if code != exitOK || !strings.Contains(out, "-before") || !strings.Contains(out, "-config") {
		t.Errorf("help mam purge: exit %d, %q", code, out)
	}
	code, out, _ = cli(t, nil, "help", "user")
	if code != exitOK || !strings.Contains(out, "user add") || !strings.Contains(out, "user list") {
		t.Errorf("help user: exit %d, %q", code, out)
	}
	code, out, _ = cli(t, nil, "user", "add", "-h")
	if code != exitOK || !strings.Contains(out, "dormouse user add JID PASSWORD") {
		t.Errorf("user add -h: exit %d, %q", code, out)
	}
	if code, _, errOut := cli(t, nil, "help", "frobnicate"); code != exitConfig || !strings.Contains(errOut, "unknown command") {
		t.Errorf("help frobnicate: exit %d, %q", code, errOut)
	}
}

// TestFlagsAnywhere: every command takes its flags before or after its
// arguments.
func TestFlagsAnywhere(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "dormouse.toml")
	if err := os.WriteFile(file, []byte("domain = \"example.org\"\ndata_dir = \""+dir+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: []string{"user", "add", "alice@example.org", "pw-alice-1", "-config", file}, stdout: "created alice@example.org"},
		{args: []string{"user", "add", "-config", file, "bob@example.org", "pw-bob-1"}, stdout: "created bob@example.org"},
		{args: []string{"user", "add", "carol@example.org", "-config=" + file, "pw-carol-1"}, stdout: "created carol@example.org"},
		{args: []string{"user", "list", "example.org", "-config", file}, stdout: "alice@example.org\nbob@example.org\ncarol@example.org\n"},
		{args: []string{"user", "add", "-config", file, "--", "-dash@example.org", "pw-dash-1"}, stdout: "created -dash@example.org"},
		{args: []string{"mam", "purge", "-config", file, "-before", "2000-01-01"}, stdout: "deleted 0"},
		{args: []string{"mam", "purge", "-before", "2000-01-01", "-config", file, "-user", "alice@example.org"}, stdout: "(alice@example.org)"},
		{args: []string{"db", "migrate", "-config", file}, stdout: "applied 0 migration(s)"},
		{args: []string{"user", "del", "bob@example.org", "-nope"}, code: exitConfig, stderr: "flag provided but not defined: -nope"},
		{args: []string{"user"}, code: exitConfig, stderr: "want add, passwd, del or list"},
		{args: []string{"version", "extra"}, code: exitConfig, stderr: "wrong number of arguments"},
		{args: []string{"serve", "extra"}, code: exitConfig, stderr: "wrong number of arguments"},
	}
	for _, s := range steps {
		code, out, errOut := cli(t, nil, s.args...)
		if code != s.code {
			t.Fatalf("%v: exit %d, want %d (stderr %q)", s.args, code, s.code, errOut)
		}
		if !strings.Contains(out, s.stdout) {
			t.Errorf("%v: stdout %q, want %q", s.args, out, s.stdout)
		}
		if !strings.Contains(errOut, s.stderr) {
			t.Errorf("%v: stderr %q, want %q", s.args, errOut, s.stderr)
		}
	}
}

// TestInvalidConfigReportsEveryProblem: an unknown key does not hide an
// invalid value of the same file.
func TestInvalidConfigReportsEveryProblem(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dormouse.toml")
	if err := os.WriteFile(file, []byte("[c2s]\nlistne = \":1\"\nmax_stanza_size = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, []string{"DORMOUSE_DATA_DIR=" + t.TempDir()}, "serve", "-config", file)
	if code != exitConfig {
		t.Fatalf("exit %d, want 2 (stderr %q)", code, errOut)
	}
	for _, want := range []string{"c2s.listne", "c2s.max_stanza_size"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not name %q", errOut, want)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		user string
		v    bool
	}{
		{args: nil, pos: nil},
		{args: []string{"a", "-v", "b"}, pos: []string{"a", "b"}, v: true},
		{args: []string{"-user", "u", "a"}, pos: []string{"a"}, user: "u"},
		{args: []string{"a", "-user=u", "--", "-v", "b"}, pos: []string{"a", "-v", "b"}, user: "u"},
		{args: []string{"a", "-user", "--", "b"}, pos: []string{"a", "b"}, user: "--"},
		{args: []string{"a", "-v", "--", "-user"}, pos: []string{"a", "-user"}, v: true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		user := fs.String("user", "", "")
		v := fs.Bool("v", false, "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *user != tc.user || *v != tc.v {
			t.Errorf("%q: %q, user %q, v %v, err %v; want %q, %q, %v", tc.args, pos, *user, *v, err, tc.pos, tc.user, tc.v)
		}
	}
}

// TestUserDelRemovesUploads: dormouse user del removes the account's
// uploaded files (XEP-0363) from data_dir/upload and keeps the others'.
func TestUserDelRemovesUploads(t *testing.T) {
	dir := t.TempDir()
	env := []string{"DORMOUSE_DATA_DIR=" + dir}
	store := upload.DiskStore{Dir: filepath.Join(dir, "upload")}
	for i, owner := range []string{"bob@localhost", "alice@localhost"} {
		m := upload.Meta{ID: strings.Repeat(fmt.Sprint(i), 32), Owner: owner, Name: "f", Type: "text/plain", Size: 1, Created: time.Now()}
		if err := store.Put(context.Background(), m, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errOut := cli(t, env, "user", "add", "bob@localhost", "pw-bob-1"); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := cli(t, env, "user", "del", "bob@localhost"); code != 0 {
		t.Fatal(errOut)
	}
	var owners []string
	_ = store.List(context.Background(), func(m upload.Meta) error { owners = append(owners, m.Owner); return nil })
	if len(owners) != 1 || owners[0] != "alice@localhost" {
		t.Errorf("files left: %v", owners)
	}
}
