package postgres_test

import (
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/sql/postgres"
	"dormouse.im/dormouse/sql/sqltest"
)

// TestMAMFullTextQueue checks the full-text queue: Append queues the
// messages with a body, a full-text query indexes its own archive's queue
// first (so it finds a message appended just before), the indexer empties
// the rest of the queue in the background, and deleting messages
// (retention, account deletion) deletes their index entries.
func TestMAMFullTextQueue(t *testing.T) {
	ctx := t.Context()
	db, err := postgres.Open(ctx, sqltest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	const juliet, romeo = "juliet@example.com", "romeo@example.com"
	for _, u := range []string{juliet, romeo} {
		if err := db.Accounts().CreateAccount(ctx, u, auth.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := db.Pool().QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	stamp := time.Now().UTC().Truncate(time.Millisecond)
	msg := func(owner, with string, i int64, body string) mam.Message {
		return mam.Message{ID: mam.FirstIDAt(stamp) + i, Owner: owner, With: with, Stamp: stamp,
			Body: body, Stanza: []byte("<message/>")}
	}
	// The same message in both archives, and one without a body (not
	// queued: it can match no full-text query).
	if err := db.MAM().Append(ctx, []mam.Message{
		msg(juliet, romeo, 1, "wherefore art thou"), msg(romeo, juliet, 1, "wherefore art thou"),
		msg(juliet, romeo, 2, ""),
	}); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM archive_fts_queue`) + count(`SELECT count(*) FROM archive_fts`); n != 2 {
		t.Errorf("queued or indexed: %d messages, want 2", n)
	}
	p, err := db.MAM().Query(ctx, mam.Query{Owner: juliet, Text: "Wherefore", Max: 10, Count: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 1 || p.Messages[0].ID != mam.FirstIDAt(stamp)+1 || p.Count != 1 {
		t.Errorf("query right after Append: %d messages, count %d, want message 1, count 1", len(p.Messages), p.Count)
	}
	if n := count(`SELECT count(*) FROM archive_fts_queue WHERE owner = $1`, juliet); n != 0 {
		t.Errorf("after a full-text query of %s, %d of its messages are still queued", juliet, n)
	}

	// The indexer empties the rest of the queue (romeo's message).
	deadline := time.Now().Add(30 * time.Second)
	for count(`SELECT count(*) FROM archive_fts_queue`) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the indexer did not empty the queue in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(`SELECT count(*) FROM archive_fts`); n != 2 {
		t.Errorf("indexed: %d messages, want 2", n)
	}

	// Retention deletes the index entries with the messages; so does
	// deleting an account.
	if _, err := db.MAM().DeleteBefore(ctx, stamp.Add(time.Second), juliet, 100); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM archive_fts WHERE owner = $1`, juliet); n != 0 {
		t.Errorf("after retention, %d index entries of %s are left", n, juliet)
	}
	if err := db.Accounts().DeleteAccount(ctx, romeo); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM archive_fts`); n != 0 {
		t.Errorf("after deleting %s, %d index entries are left", romeo, n)
	}
}
