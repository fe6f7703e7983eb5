package sqlite

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// blob is one row of the checkpointer tests' table t.
var blob = []byte(strings.Repeat("x", 16<<10))

// checkpointDB opens a database with a table t (x BLOB) whose checkpointer
// restarts the WAL past restartPages pages.
func checkpointDB(t *testing.T, restartPages int) *DB {
	t.Helper()
	db := testDB(t, false)
	if _, err := db.w.ExecContext(t.Context(), "CREATE TABLE t (x BLOB)"); err != nil {
		t.Fatal(err)
	}
	k := &db.ckpt
	k.cancel()
	k.wg.Wait()
	k.restartPages = restartPages
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	k.cancel = cancel
	k.wg.Go(func() { k.run(ctx) })
	return db
}

// TestCheckpointer: the writer never checkpoints; the checkpointer copies
// the WAL after writes, and under writes that never pause the WAL still
// starts over (its file stays near the restart size instead of growing
// with everything written).
func TestCheckpointer(t *testing.T) {
	ctx := t.Context()
	db := checkpointDB(t, 64) // a small restart size: 64 pages (256 KiB)
	write := func() {
		t.Helper()
		if _, err := db.w.ExecContext(ctx, "INSERT INTO t VALUES (?)", blob); err != nil {
			t.Fatal(err)
		}
		db.ckpt.written()
	}
	runs := db.ckpt.runs.Load()
	write()
	deadline := time.Now().Add(5 * time.Second)
	for db.ckpt.runs.Load() == runs {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint within 5 s of a write")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Writes without a pause, 16 KiB at a time, for 2 s: long enough for
	// the checkpointer to run many times whatever the machine's speed.
	end := time.Now().Add(2 * time.Second)
	n := 0
	for ; time.Now().Before(end); n++ {
		write()
	}
	fi, err := os.Stat(db.path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	written := int64(n) * int64(len(blob))
	t.Logf("%d KiB written, WAL file %d KiB, %d checkpoints", written>>10, fi.Size()>>10, db.ckpt.runs.Load())
	if fi.Size() > written/2 {
		t.Errorf("WAL file %d KiB after %d KiB written: it did not start over", fi.Size()>>10, written>>10)
	}
}

// TestCheckpointerLongReader: while a reader keeps an old snapshot open,
// the RESTART checkpoint cannot finish; it gives up within its busy
// timeout instead of holding the write lock, so writes go on.
func TestCheckpointerLongReader(t *testing.T) {
	ctx := t.Context()
	db := checkpointDB(t, 16)
	if _, err := db.w.ExecContext(ctx, "INSERT INTO t VALUES (?)", blob); err != nil {
		t.Fatal(err)
	}
	// A reader holding its snapshot for 2 s.
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(2*time.Second, func() { tx.Rollback() })
	end := time.Now().Add(2 * time.Second)
	var worst time.Duration
	for time.Now().Before(end) {
		t0 := time.Now()
		if _, err := db.w.ExecContext(ctx, "INSERT INTO t VALUES (?)", blob); err != nil {
			t.Fatalf("write while a reader holds a snapshot: %v", err)
		}
		db.ckpt.written()
		worst = max(worst, time.Since(t0))
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("slowest write %v, %d checkpoints", worst, db.ckpt.runs.Load())
	if worst > time.Second {
		t.Errorf("a write waited %v behind the checkpointer", worst)
	}
}
