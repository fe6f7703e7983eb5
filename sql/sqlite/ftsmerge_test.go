package sqlite

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/mam"
)

// TestFTSMerge appends a large batch, then many small ones (one full-text
// segment each), with retention deleting some and a large batch failing,
// then merges the full-text index to the end, and checks that automerge is
// off (the large batches turn it on for themselves), that the merges had
// work to do,
// that full-text queries find exactly the right messages before and after,
// and that the index passes FTS5's integrity check against the archive.
// It runs with the background merger stopped (the merges are then the
// test's) and running (appends and merge steps interleave).
func TestFTSMerge(t *testing.T) {
	for _, background := range []bool{false, true} {
		t.Run(fmt.Sprintf("background=%v", background), func(t *testing.T) {
			testFTSMerge(t, background)
		})
	}
}

func testFTSMerge(t *testing.T, background bool) {
	ctx := t.Context()
	db := testDB(t, true)
	if !background {
		db.merger.stop()
	}
	var automerge int
	if err := db.w.QueryRowContext(ctx, `SELECT v FROM archive_fts_config WHERE k = 'automerge'`).Scan(&automerge); err != nil || automerge != 0 {
		t.Fatalf("archive_fts automerge = %d, %v; want 0", automerge, err)
	}
	const owner = "juliet@example.com"
	if err := db.Accounts().CreateAccount(ctx, owner, auth.Credentials{}); err != nil {
		t.Fatal(err)
	}
	s := db.MAM()
	// Juliet has searched: her messages are indexed as they are archived.
	if err := s.indexOwner(ctx, owner); err != nil {
		t.Fatal(err)
	}

	// Message i says "word<i%13> unique<i>".
	const n = 2500
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	msg := func(i int) mam.Message {
		stamp := base.Add(time.Duration(i) * time.Second)
		return mam.Message{ID: stamp.UnixMilli() << 20, Owner: owner, With: "romeo@example.net", Stamp: stamp,
			Body: fmt.Sprintf("word%d unique%d", i%13, i), Stanza: []byte("<message/>")}
	}
	// The first ones in one large (chunked) Append, which merges as it
	// goes and leaves automerge off.
	const bulk = 2*appendChunk + 100
	var ms []mam.Message
	for i := range bulk {
		ms = append(ms, msg(i))
	}
	if err := s.Append(ctx, ms); err != nil {
		t.Fatal(err)
	}
	for i := bulk; i < n; {
		var batch []mam.Message
		for range 1 + i%4 {
			if i < n {
				batch = append(batch, msg(i))
				i++
			}
		}
		if err := s.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	// Retention takes the first 100 messages, in small calls.
	const deleted = 100
	for range deleted / 10 {
		if _, err := s.DeleteBefore(ctx, base.Add(deleted*time.Second), owner, 10); err != nil {
			t.Fatal(err)
		}
	}

	check := func(when string) {
		t.Helper()
		if err := db.w.QueryRowContext(ctx, `SELECT v FROM archive_fts_config WHERE k = 'automerge'`).Scan(&automerge); err != nil || automerge != 0 {
			t.Errorf("%s: archive_fts automerge = %d, %v; want 0", when, automerge, err)
		}
		for i, tc := range []struct {
			text string
			want int
		}{
			0: {"word0", 185},  // i%13 == 0 for i in [100, 2500): 104..2496
			1: {"word12", 185}, // 103..2495
			2: {"unique99", 0},
			3: {"unique100", 1},
			4: {"unique2499", 1},
			5: {"word3 unique3", 0},
			6: {"word3 unique705", 1},
			7: {"word3 unique706", 0},
		} {
			p, err := s.Query(ctx, mam.Query{Owner: owner, Text: tc.text, Max: n, Count: true})
			if err != nil {
				t.Fatalf("%s: %d: Query(%q): %v", when, i, tc.text, err)
			}
			if p.Count != tc.want || len(p.Messages) != tc.want {
				t.Errorf("%s: %d: Query(%q) = %d messages (count %d), want %d", when, i, tc.text, len(p.Messages), p.Count, tc.want)
			}
		}
		if _, err := db.w.ExecContext(ctx, `INSERT INTO archive_fts (archive_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
			t.Errorf("%s: FTS5 integrity check: %v", when, err)
		}
	}
	// A large batch failing on its last message (a duplicate) is rolled
	// back, automerge setting included.
	ms = ms[:0]
	for i := n; i < n+appendChunk+1; i++ {
		ms = append(ms, msg(i))
	}
	ms = append(ms, msg(n-1))
	if err := s.Append(ctx, ms); !errors.Is(err, mam.ErrDuplicate) {
		t.Fatalf("Append of a large batch ending with a duplicate: %v", err)
	}
	check("before merging")

	steps := 0
	for ; ; steps++ {
		if steps > 10_000 {
			t.Fatal("the merges do not end")
		}
		changes, err := db.mergeFTSStep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if changes < 2 {
			break
		}
	}
	if !background && steps == 0 {
		t.Error("no merge work after many small appends: is automerge on?")
	}
	check("after merging")
}
