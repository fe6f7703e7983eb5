package sqlite

import (
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/mam"
)

// TestMAMQueryPlans checks that every query shape of MAMStore.Query is a
// range scan of an index (SEARCH, never SCAN of archive or of one of its
// indexes) and needs no sort, on a database without statistics (ANALYZE is
// never run), as in production.
func TestMAMQueryPlans(t *testing.T) {
	db := testDB(t, true)
	const owner = "juliet@example.com"
	type statement struct {
		sql  string
		args []any
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	words := []string{"romeo"}
	for _, tc := range []struct {
		name  string
		q     mam.Query
		words []string
	}{
		// Every query with With must use archive_with (checked below).
		{"all", mam.Query{Owner: owner}, nil},
		{"last", mam.Query{Owner: owner, Last: true}, nil},
		{"after", mam.Query{Owner: owner, AfterID: 5}, nil},
		{"before last", mam.Query{Owner: owner, BeforeID: 5, Last: true}, nil},
		{"window", mam.Query{Owner: owner, AfterID: 5, BeforeID: 500}, nil},
		{"with", mam.Query{Owner: owner, With: "romeo@example.net"}, nil},
		{"with last", mam.Query{Owner: owner, With: "romeo@example.net", Last: true}, nil},
		{"with after", mam.Query{Owner: owner, With: "romeo@example.net", AfterID: 5}, nil},
		{"with resource", mam.Query{Owner: owner, With: "romeo@example.net", WithResource: "orchard", BeforeID: 5, Last: true}, nil},
		{"start", mam.Query{Owner: owner, Start: start}, nil},
		{"end last", mam.Query{Owner: owner, End: end, Last: true}, nil},
		{"start end after", mam.Query{Owner: owner, Start: start, End: end, AfterID: 5}, nil},
		{"with start end", mam.Query{Owner: owner, With: "romeo@example.net", Start: start, End: end}, nil},
		{"ids", mam.Query{Owner: owner, IDs: []int64{1, 2, 3}}, nil},
		{"text", mam.Query{Owner: owner, Text: "romeo"}, words},
		{"text last", mam.Query{Owner: owner, Text: "romeo", Last: true, BeforeID: 5}, words},
		{"with text", mam.Query{Owner: owner, With: "romeo@example.net", Text: "romeo", Last: true, BeforeID: 5}, words},
		{"count", mam.Query{Owner: owner, Count: true, AfterID: 5}, nil},
		{"with count", mam.Query{Owner: owner, With: "romeo@example.net", Count: true, Last: true}, nil},
	} {
		sq, err := buildQuery(tc.q, tc.words, false, 50)
		if err != nil {
			t.Fatal(err)
		}
		stmts := []statement{{sq.page, sq.pageArgs}, {sq.count, sq.countArgs}}
		if len(tc.words) > 0 {
			// Rare words: the hits drive, by rowid, and are sorted.
			rq, err := buildQuery(tc.q, tc.words, true, 50)
			if err != nil {
				t.Fatal(err)
			}
			for _, stmt := range []statement{{rq.page, rq.pageArgs}, {rq.count, rq.countArgs}} {
				p := plan(t, db, stmt.sql, stmt.args)
				t.Logf("%s (rare): %s\n\t%s", tc.name, stmt.sql, strings.Join(p, "\n\t"))
				if len(p) < 2 || !strings.HasPrefix(p[0], "SCAN archive_fts VIRTUAL TABLE") || !strings.HasPrefix(p[1], "SEARCH archive USING INTEGER PRIMARY KEY (rowid=?)") {
					t.Errorf("%s (rare): plan of %s:\n\t%s\ndoes not start from the full-text index", tc.name, stmt.sql, strings.Join(p, "\n\t"))
				}
			}
		}
		if tc.name == "all" {
			// Retention.
			stmts = append(stmts, statement{deleteBeforeAll, []any{1, 100}}, statement{deleteBeforeOwner, []any{owner, 1, 1, 100}})
		}
		for _, stmt := range stmts {
			plan := plan(t, db, stmt.sql, stmt.args)
			p := strings.Join(plan, "\n\t")
			t.Logf("%s: %s\n\t%s", tc.name, stmt.sql, p)
			if tc.q.With != "" && !strings.Contains(plan[0], "INDEX archive_with (owner=? AND with_jid=?") {
				t.Errorf("%s: plan of %s:\n\t%s\ndoes not use archive_with", tc.name, stmt.sql, p)
			}
			if strings.Contains(p, "SCAN archive ") || strings.HasSuffix(p, "SCAN archive") || strings.Contains(p, "TEMP B-TREE") {
				t.Errorf("%s: plan of %s:\n\t%s\nscans archive or sorts", tc.name, stmt.sql, p)
			}
		}
	}
}

// TestFTSIndexPlans checks that the statements indexing an owner's archive
// on demand (MAMStore.indexOwner) read a range of the archive, not all of
// it nor all of the owner's archive for the messages archived meanwhile.
func TestFTSIndexPlans(t *testing.T) {
	db := testDB(t, true)
	for _, tc := range []struct {
		sql  string
		args []any
		want string
	}{
		{ftsIndexIDs, []any{"juliet@example.com", 1, 1000}, "SEARCH archive USING INDEX sqlite_autoindex_archive_1 (owner=? AND id>? AND id<?)"},
		{ftsIndexAfter, []any{"juliet@example.com", 1}, "SEARCH archive USING INDEX sqlite_autoindex_archive_1 (owner=? AND id>?)"},
		{ftsIndexAbove, []any{"juliet@example.com", 1}, "SEARCH archive USING INTEGER PRIMARY KEY (rowid>?)"},
	} {
		p := plan(t, db, tc.sql, tc.args)
		t.Logf("%s\n\t%s", tc.sql, strings.Join(p, "\n\t"))
		if len(p) == 0 || p[0] != tc.want {
			t.Errorf("plan of %s:\n\t%s\nwant first %s", tc.sql, strings.Join(p, "\n\t"), tc.want)
		}
	}
}

// plan returns the EXPLAIN QUERY PLAN lines of a statement.
func plan(t *testing.T, db *DB, sql string, args []any) []string {
	t.Helper()
	rows, err := db.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
