package sqlite

import (
	dbsql "database/sql"
	"fmt"
	"strings"
	"testing"
)

// TestPragmas checks the connection settings Open promises (see the
// package comment), on the writer and on a reader.
func TestPragmas(t *testing.T) {
	ctx := t.Context()
	db := testDB(t, false)
	for i, tc := range []struct {
		conn   string
		db     *dbsql.DB
		pragma string
		want   int64
	}{
		0:  {"writer", db.w, "synchronous", 1}, // NORMAL
		1:  {"writer", db.w, "foreign_keys", 1},
		2:  {"writer", db.w, "temp_store", 2}, // MEMORY
		3:  {"writer", db.w, "cache_size", -32768},
		4:  {"writer", db.w, "wal_autocheckpoint", 0}, // the checkpointer does it
		5:  {"writer", db.w, "busy_timeout", 5000},
		6:  {"reader", db.r, "temp_store", 2},
		7:  {"reader", db.r, "synchronous", 1},
		8:  {"reader", db.r, "query_only", 1},
		9:  {"checkpointer", db.ckpt.c, "synchronous", 1},
		10: {"checkpointer", db.ckpt.c, "query_only", 0},
	} {
		var got int64
		if err := tc.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("%d: %s: PRAGMA %s: %v", i, tc.conn, tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("%d: %s: PRAGMA %s = %d, want %d", i, tc.conn, tc.pragma, got, tc.want)
		}
	}
}

// testDB opens a new database in a temporary directory, closed when the
// test ends, and migrates it if asked to.
func testDB(t *testing.T, migrate bool) *DB {
	t.Helper()
	db, err := Open(t.Context(), t.TempDir()+"/test.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if migrate {
		if _, err := db.Migrate(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestSynchronousOption checks the path option choosing the synchronous
// setting, and that other options are refused.
func TestSynchronousOption(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	for i, tc := range []struct {
		suffix string
		want   int64 // -1: Open fails
	}{
		0: {"", 1},
		1: {"?synchronous=full", 2},
		2: {"?synchronous=NORMAL", 1},
		3: {"?synchronous=off", -1},
		4: {"?cache=shared", -1},
		5: {"?", -1},
	} {
		db, err := Open(ctx, fmt.Sprintf("%s/%d.db%s", dir, i, tc.suffix))
		if tc.want < 0 {
			if err == nil {
				db.Close()
				t.Errorf("%d: Open(%q) succeeds, want an error", i, tc.suffix)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d: Open(%q): %v", i, tc.suffix, err)
		}
		var got int64
		if err := db.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil || got != tc.want {
			t.Errorf("%d: Open(%q): synchronous = %d, %v; want %d", i, tc.suffix, got, err, tc.want)
		}
		db.Close()
	}
}

// FuzzSyncOption checks that syncOption never panics, and either refuses
// a path or returns one of the two settings and a name without '?'.
func FuzzSyncOption(f *testing.F) {
	for _, s := range []string{"a.db", "a.db?synchronous=normal", "a.db?synchronous=FULL", "a.db?x", "?", "a?b?c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		name, sync, err := syncOption(path)
		if err != nil {
			return
		}
		if sync != "FULL" && sync != "NORMAL" || strings.ContainsRune(name, '?') {
			t.Errorf("syncOption(%q) = %q, %q", path, name, sync)
		}
	})
}
