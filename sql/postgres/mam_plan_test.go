package postgres_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/sql/postgres"
)

// TestMAMQueryPlans checks the plans of every query shape of
// MAMStore.Query on a 20,000-message archive with statistics: no plan may
// scan archive sequentially (disabled, so that the test finds any shape
// without an index plan) or sort it, except full-text queries (for rare
// words the planner rightly starts from the GIN index) and IDs queries
// (which look each id up and sort those few rows).
func TestMAMQueryPlans(t *testing.T) {
	ctx := t.Context()
	const owner = "juliet@example.com"
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	db := openMigrated(t)
	// An archive of 20,000 messages with 20 contacts, and statistics: on
	// an empty table every plan costs the same.
	if err := db.Accounts().CreateAccount(ctx, owner, auth.Credentials{}); err != nil {
		t.Fatal(err)
	}
	var ms []mam.Message
	for i := range 20_000 {
		stamp := start.Add(time.Duration(i) * time.Millisecond)
		ms = append(ms, mam.Message{
			ID: stamp.UnixMilli() << 20, Owner: owner, With: fmt.Sprintf("c%02d@example.net", i%20), Stamp: stamp,
			Body: fmt.Sprintf("message %d", i), Stanza: []byte("<message/>"),
		})
	}
	if err := db.MAM().Append(ctx, ms); err != nil {
		t.Fatal(err)
	}
	// Juliet searches once: her archive is indexed (see indexOwner).
	if _, err := db.MAM().Query(ctx, mam.Query{Owner: owner, Text: "message 5", Max: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `VACUUM ANALYZE archive`); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET enable_seqscan`)

	// The probe of rare full-text queries uses the GIN index (with index
	// scans disabled too, as when MAMStore runs it).
	if _, err := conn.Exec(ctx, `SET enable_indexscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "EXPLAIN "+postgres.RareTextQuery, owner, "message 5", 1001)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(lines, "\n\t"); !strings.Contains(p, "Bitmap Index Scan on archive_fulltext") {
		t.Errorf("plan of the full-text probe:\n\t%s\ndoes not use archive_fulltext", p)
	}
	if _, err := conn.Exec(ctx, `RESET enable_indexscan`); err != nil {
		t.Fatal(err)
	}

	end := start.Add(time.Second)
	words := []string{"message"}
	for _, tc := range []struct {
		name  string
		q     mam.Query
		words []string
	}{
		{"all", mam.Query{Owner: owner}, nil},
		{"last", mam.Query{Owner: owner, Last: true}, nil},
		{"after", mam.Query{Owner: owner, AfterID: 5}, nil},
		{"before last", mam.Query{Owner: owner, BeforeID: 5, Last: true}, nil},
		{"window", mam.Query{Owner: owner, AfterID: 5, BeforeID: 500}, nil},
		{"with", mam.Query{Owner: owner, With: "c01@example.net"}, nil},
		{"with last", mam.Query{Owner: owner, With: "c01@example.net", Last: true}, nil},
		{"with after", mam.Query{Owner: owner, With: "c01@example.net", AfterID: 5}, nil},
		{"with resource", mam.Query{Owner: owner, With: "c01@example.net", WithResource: "orchard", BeforeID: 5, Last: true}, nil},
		{"start", mam.Query{Owner: owner, Start: start}, nil},
		{"end last", mam.Query{Owner: owner, End: end, Last: true}, nil},
		{"start end after", mam.Query{Owner: owner, Start: start, End: end, AfterID: 5}, nil},
		{"with start end", mam.Query{Owner: owner, With: "c01@example.net", Start: start, End: end}, nil},
		{"ids", mam.Query{Owner: owner, IDs: []int64{1, 2, 3}}, nil},
		{"ids last", mam.Query{Owner: owner, IDs: []int64{1, 2, 3}, Last: true}, nil},
		{"text", mam.Query{Owner: owner, Text: "romeo"}, words},
		{"text last", mam.Query{Owner: owner, Text: "romeo", Last: true, BeforeID: 5}, words},
		{"count", mam.Query{Owner: owner, Count: true, AfterID: 5}, nil},
		{"with count", mam.Query{Owner: owner, With: "c01@example.net", Count: true, Last: true}, nil},
	} {
		page, pageArgs, count, countArgs := postgres.BuildQuery(tc.q, tc.words, 50)
		for _, stmt := range []struct {
			sql  string
			args []any
		}{{page, pageArgs}, {count, countArgs}} {
			rows, err := conn.Query(ctx, "EXPLAIN "+stmt.sql, stmt.args...)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			p := strings.Join(lines, "\n\t")
			t.Logf("%s: %s\n\t%s", tc.name, stmt.sql, p)
			if strings.Contains(p, "Seq Scan") || len(tc.words) == 0 && len(tc.q.IDs) == 0 && strings.Contains(p, "Sort") {
				t.Errorf("%s: plan of %s:\n\t%s\nscans archive or sorts", tc.name, stmt.sql, p)
			}
			if tc.q.With != "" && !strings.Contains(p, "archive_with") {
				t.Errorf("%s: plan of %s:\n\t%s\ndoes not use archive_with", tc.name, stmt.sql, p)
			}
		}
	}
}
