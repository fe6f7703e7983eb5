package postgres_test

import (
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/mam/mamtest"
	"dormouse.im/dormouse/sql/postgres"
	"dormouse.im/dormouse/sql/sqltest"
)

// TestFullTextOnDemand checks that body_tsv is set only for the archives of
// owners who have searched: none before any search, all of Juliet's after
// hers (and for her later messages), none of Romeo's.
func TestFullTextOnDemand(t *testing.T) {
	ctx := t.Context()
	db := openMigrated(t)
	const romeo, juliet = "romeo@example.net", "juliet@example.com"
	for _, u := range []string{romeo, juliet} {
		if err := db.Accounts().CreateAccount(ctx, u, auth.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	next := 0
	archive := func(n int) {
		t.Helper()
		if err := db.MAM().Append(ctx, mamtest.Conversation(romeo, juliet, base, next, n)); err != nil {
			t.Fatal(err)
		}
		next += n
	}
	indexed := func(want map[string]int) {
		t.Helper()
		for owner, w := range want {
			var n int
			if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM archive WHERE owner = $1 AND body_tsv IS NOT NULL`, owner).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != w {
				t.Errorf("%s: %d messages indexed, want %d", owner, n, w)
			}
		}
	}
	archive(1200)
	indexed(map[string]int{romeo: 0, juliet: 0})
	p, err := db.MAM().Query(ctx, mam.Query{Owner: juliet, Text: "roses", Max: 5000})
	if err != nil || len(p.Messages) != 400 {
		t.Fatalf("Juliet's search: %d messages, %v; want 400", len(p.Messages), err)
	}
	indexed(map[string]int{romeo: 0, juliet: 1200})
	archive(1)
	archive(10)
	indexed(map[string]int{romeo: 0, juliet: 1211})
}

// openMigrated opens a migrated database on a new PostgreSQL schema.
func openMigrated(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), sqltest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	return db
}
