package sqlite_test

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/sql/storetest"
)

func TestStores(t *testing.T) {
	storetest.Run(t, sqltest.SQLite)
}

func BenchmarkStores(b *testing.B) {
	storetest.Bench(b, sqltest.SQLite)
}

func open(t *testing.T, url string) *sql.Stores {
	t.Helper()
	s, err := sql.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSecondProcess opens the database twice, as the server and the
// "dormouse user add" command would: a write through either is visible at
// once through the other, and concurrent writes through both succeed (WAL
// and busy_timeout, no SQLITE_BUSY).
func TestSecondProcess(t *testing.T) {
	ctx := t.Context()
	url := sqltest.SQLiteURL(t)
	server := open(t, url)
	if err := server.Accounts.CreateAccount(ctx, "romeo@example.net", auth.Credentials{}); err != nil {
		t.Fatal(err)
	}
	cli := open(t, url)
	if err := cli.Accounts.CreateAccount(ctx, "juliet@example.com", auth.Credentials{SHA256: auth.Keys{Salt: []byte("salt"), Iter: 4096}}); err != nil {
		t.Fatalf("second opener: CreateAccount: %v", err)
	}
	c, err := server.Accounts.Credentials(ctx, "juliet@example.com")
	if err != nil {
		t.Fatalf("first opener does not see the account created by the second: %v", err)
	}
	if c.SHA256.Iter != 4096 || string(c.SHA256.Salt) != "salt" {
		t.Errorf("first opener sees credentials %+v", c)
	}
	if _, err := cli.Accounts.Credentials(ctx, "romeo@example.net"); err != nil {
		t.Errorf("second opener does not see the first one's account: %v", err)
	}

	// Concurrent writers in both "processes".
	var wg sync.WaitGroup
	for i, s := range []*sql.Stores{server, cli, server, cli} {
		wg.Go(func() {
			for j := range 25 {
				if err := s.Accounts.CreateAccount(ctx, fmt.Sprintf("u%d-%d@example.org", i, j), auth.Credentials{}); err != nil {
					t.Errorf("CreateAccount: %v", err)
				}
			}
		})
	}
	wg.Wait()
	for _, s := range []*sql.Stores{server, cli} {
		names, err := s.Accounts.Accounts(ctx, "example.org")
		if err != nil || len(names) != 100 {
			t.Errorf("%d accounts, %v; want 100", len(names), err)
		}
	}

	// Deleting through one removes the account for the other.
	if err := cli.Accounts.DeleteAccount(ctx, "juliet@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Accounts.Credentials(ctx, "juliet@example.com"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("after deletion by the second opener: %v, want ErrNotFound", err)
	}
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	url := sqltest.SQLiteURL(t)
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) < 2 {
		t.Fatalf("migration files: %v, %v", files, err)
	}
	n, err := sql.Migrate(ctx, url, nil)
	if err != nil || n != len(files) {
		t.Fatalf("Migrate of a new database = %d, %v; want %d", n, err, len(files))
	}
	n, err = sql.Migrate(ctx, url, nil)
	if err != nil || n != 0 {
		t.Fatalf("Migrate again = %d, %v; want 0", n, err)
	}
	s := open(t, url)
	if s.Backend != "sqlite" {
		t.Errorf("Backend = %q", s.Backend)
	}
}

// TestURLForms checks the accepted spellings of an SQLite URL, and that the
// parent directory is created with mode 0700.
func TestURLForms(t *testing.T) {
	dir := t.TempDir()
	for i, form := range []string{"sqlite:%s", "sqlite://%s", "file:%s", "file://%s"} {
		path := filepath.Join(dir, fmt.Sprintf("new%d", i), "sub", "d.db")
		s := open(t, fmt.Sprintf(form, path))
		if s.Location != path || s.Backend != "sqlite" {
			t.Errorf("%s: Backend, Location = %q, %q; want sqlite, %q", form, s.Backend, s.Location, path)
		}
		fi, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: directory mode %v, want 0700", form, fi.Mode().Perm())
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", form, err)
		}
	}
	// A relative path is resolved.
	t.Chdir(dir)
	s := open(t, "sqlite:rel/x.db")
	if want := filepath.Join(dir, "rel", "x.db"); s.Location != want {
		t.Errorf("Location = %q, want %q", s.Location, want)
	}
	for _, bad := range []string{"sqlite:", "sqlite:x.db?mode=ro", "sqlite::memory:", "mysql://x", "dormouse.db", ""} {
		if s, err := sql.Open(context.Background(), bad, nil); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// TestMAMFullTextIntegrity checks that the external-content FTS5 index
// stays in step with the archive through appends, retention, a rolled back
// batch and account deletion (the triggers also run for cascaded deletes).
func TestMAMFullTextIntegrity(t *testing.T) {
	ctx := t.Context()
	url := sqltest.SQLiteURL(t)
	s := open(t, url)
	for _, u := range []string{"juliet@example.com", "romeo@example.net"} {
		if err := s.Accounts.CreateAccount(ctx, u, auth.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var ms []mam.Message
	for i := range 200 {
		owner := "juliet@example.com"
		if i%3 == 0 {
			owner = "romeo@example.net"
		}
		body := fmt.Sprintf("message %d about roses", i)
		if i%7 == 0 {
			body = "" // not indexed
		}
		stamp := base.Add(time.Duration(i) * time.Second)
		ms = append(ms, mam.Message{ID: stamp.UnixMilli() << 20, Owner: owner, With: "nurse@example.com", Stamp: stamp, Body: body, Stanza: []byte("<message/>")})
	}
	if err := s.MAM.Append(ctx, ms); err != nil {
		t.Fatal(err)
	}
	// A batch failing on its last message leaves nothing in the index.
	bad := []mam.Message{{ID: 1, Owner: "juliet@example.com", Body: "thorns", Stanza: []byte("<message/>")}, ms[1]}
	if err := s.MAM.Append(ctx, bad); !errors.Is(err, mam.ErrDuplicate) {
		t.Fatalf("Append of a duplicate: %v", err)
	}
	if p, err := s.MAM.Query(ctx, mam.Query{Owner: "juliet@example.com", Text: "thorns", Max: 10}); err != nil || len(p.Messages) != 0 {
		t.Errorf("text of a rolled back batch found: %v, %v", p.Messages, err)
	}
	if _, err := s.MAM.DeleteBefore(ctx, base.Add(50*time.Second), "", 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MAM.DeleteBefore(ctx, base.Add(100*time.Second), "romeo@example.net", 1000); err != nil {
		t.Fatal(err)
	}
	if err := s.Accounts.DeleteAccount(ctx, "juliet@example.com"); err != nil {
		t.Fatal(err)
	}
	p, err := s.MAM.Query(ctx, mam.Query{Owner: "romeo@example.net", Text: "roses", Max: 1000, Count: true})
	if err != nil {
		t.Fatal(err)
	}
	// Romeo's messages from 100 to 199 with a body: i%3 == 0 and i%7 != 0.
	want := 0
	for i := 100; i < 200; i++ {
		if i%3 == 0 && i%7 != 0 {
			want++
		}
	}
	if p.Count != want || len(p.Messages) != want {
		t.Errorf("full-text query finds %d (count %d), want %d", len(p.Messages), p.Count, want)
	}

	raw, err := dbsql.Open("sqlite", strings.TrimPrefix(url, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `INSERT INTO archive_fts (archive_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
		t.Errorf("FTS5 integrity check: %v", err)
	}
}

// TestMAMLarge is the large-archive measurement, skipped unless
// DORMOUSE_MAM_LARGE=1 (see storetest.MAMLarge).
func TestMAMLarge(t *testing.T) {
	storetest.MAMLarge(t, sqltest.SQLite, nil)
}
