package sqlite

import (
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/mam/mamtest"
)

// TestFullTextOnDemand checks that the full-text index holds only the
// archives of owners who have searched: nothing is indexed as messages are
// archived, an owner's first full-text query indexes their whole archive
// (more than one chunk), their later messages are indexed as they are
// archived and other owners' are not, deletions take indexed messages out
// of the index, and the database passes its integrity checks throughout.
func TestFullTextOnDemand(t *testing.T) {
	ctx := t.Context()
	db := testDB(t, true)
	s := db.MAM()
	const romeo, juliet = "romeo@example.net", "juliet@example.com"
	for _, u := range []string{romeo, juliet} {
		if err := db.Accounts().CreateAccount(ctx, u, auth.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	next := 0
	// archive archives n more messages between Romeo and Juliet.
	archive := func(n int) {
		t.Helper()
		if err := s.Append(ctx, mamtest.Conversation(romeo, juliet, base, next, n)); err != nil {
			t.Fatal(err)
		}
		next += n
	}
	indexed := func(owner string) int {
		t.Helper()
		var n int
		if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM archive JOIN archive_fts_docsize d ON d.id = seq WHERE owner = ?`, owner).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	search := func(owner string, want int) {
		t.Helper()
		p, err := s.Query(ctx, mam.Query{Owner: owner, Text: "roses", Max: 10_000, Count: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Messages) != want || p.Count != want {
			t.Errorf("%s finds %d roses (count %d), want %d", owner, len(p.Messages), p.Count, want)
		}
	}
	integrity := func(when string) {
		t.Helper()
		var res string
		if err := db.w.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
			t.Errorf("%s: PRAGMA integrity_check = %q, %v", when, res, err)
		}
		if _, err := db.w.ExecContext(ctx, `INSERT INTO archive_fts (archive_fts, rank) VALUES ('integrity-check', 0)`); err != nil {
			t.Errorf("%s: FTS5 integrity check: %v", when, err)
		}
	}

	n := ftsIndexChunk + ftsIndexChunk/2
	archive(n)
	if r, j := indexed(romeo), indexed(juliet); r != 0 || j != 0 {
		t.Errorf("indexed before any search: Romeo %d, Juliet %d messages; want none", r, j)
	}
	integrity("before any search")

	search(juliet, n/3)
	if r, j := indexed(romeo), indexed(juliet); r != 0 || j != n {
		t.Errorf("after Juliet's search: Romeo %d, Juliet %d messages indexed; want 0 and %d", r, j, n)
	}
	archive(30)
	n += 30
	if r, j := indexed(romeo), indexed(juliet); r != 0 || j != n {
		t.Errorf("after more messages: Romeo %d, Juliet %d messages indexed; want 0 and %d", r, j, n)
	}
	search(juliet, n/3)
	integrity("Juliet's archive indexed")

	// Retention: Juliet's oldest 300 leave her archive and the index.
	if _, err := s.DeleteBefore(ctx, base.Add(300*time.Second), juliet, 1000); err != nil {
		t.Fatal(err)
	}
	if j := indexed(juliet); j != n-300 {
		t.Errorf("after retention: Juliet %d messages indexed, want %d", j, n-300)
	}
	search(juliet, (n-300)/3)
	integrity("after retention")

	// Romeo searches too: now every message is indexed, which FTS5 can
	// check against the archive.
	search(romeo, n/3)
	if _, err := db.w.ExecContext(ctx, `INSERT INTO archive_fts (archive_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
		t.Errorf("FTS5 integrity check against the archive: %v", err)
	}

	// Juliet's account goes: her archive leaves the index, and so does her
	// searcher's mark, so that a new account of that name starts unindexed.
	if err := db.Accounts().DeleteAccount(ctx, juliet); err != nil {
		t.Fatal(err)
	}
	var marks, docs int
	if err := db.w.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM archive_fts_owners), (SELECT count(*) FROM archive_fts_docsize)`).Scan(&marks, &docs); err != nil {
		t.Fatal(err)
	}
	if marks != 1 || docs != n {
		t.Errorf("after Juliet's account is deleted: %d searchers, %d messages indexed; want 1 and %d (Romeo's)", marks, docs, n)
	}
	integrity("after an account deletion")

	// Someone without an account searches an empty archive.
	search("tybalt@example.org", 0)
	if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM archive_fts_owners`).Scan(&marks); err != nil || marks != 1 {
		t.Errorf("searchers = %d, %v after a search without an account; want 1", marks, err)
	}
}
