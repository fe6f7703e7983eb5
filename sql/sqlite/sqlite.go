// Package sqlite implements Dormouse's feature stores on one SQLite database
// file, with the pure-Go driver modernc.org/sqlite.
//
// Every connection runs in WAL mode with synchronous=NORMAL (or FULL, if
// the path asks for it with "?synchronous=full"; see [Open] for what each
// survives), busy_timeout=5000, foreign_keys=ON and temp_store=MEMORY; the writer
// also has a 32 MiB page cache, so that the hot index pages of the archive
// are not read again and again. The WAL is checkpointed in the background
// (checkpoint.go), not inside a write's commit.
// Writes go through a single
// connection (and BEGIN IMMEDIATE transactions), so writers in this process
// queue in database/sql instead of failing with SQLITE_BUSY; reads use a
// separate pool and are never blocked by the writer. Another process (the
// "dormouse user add" command, say) may open the same file and write while
// the server runs: it waits up to busy_timeout for the write lock.
//
// Open also starts two goroutines, stopped by Close: one merges the
// segments of the archive's full-text index in short write transactions
// of its own, the other checkpoints the WAL, so that an archive write does
// neither in its commit.
//
// Use [Open], then [DB.Migrate], then the store accessors. Most code should
// go through dormouse.im/dormouse/sql.Open instead.
package sqlite

import (
	"context"
	dbsql "database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DB is an open SQLite database. It is safe for concurrent use.
type DB struct {
	w    *dbsql.DB // exactly one connection; all writes
	r    *dbsql.DB // read-only pool
	path string

	ws, rs stmtCache // prepared statements of the hot paths, on w and r

	merger ftsMerger    // merges archive_fts in the background, on w
	ckpt   checkpointer // checkpoints the WAL in the background (passive on a connection of its own, RESTART on w)
}

// stmtCache keeps the prepared statements of a fixed set of hot queries
// (archive inserts, credential lookups), so that they are parsed once per
// connection instead of at every call. It is safe for concurrent use.
type stmtCache struct {
	mu sync.Mutex             // guards m
	m  map[string]*dbsql.Stmt // by SQL text; grows only with the set of queries
}

// prepared returns the cached statement of query on db, preparing it on
// first use.
func (c *stmtCache) prepared(ctx context.Context, db *dbsql.DB, query string) (*dbsql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = make(map[string]*dbsql.Stmt)
	}
	c.m[query] = st
	return st, nil
}

// close closes the cached statements.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// busyTimeout is every connection's busy_timeout: how long it waits for a
// lock another process (or the checkpointer) holds.
const busyTimeout = 5 * time.Second

// Open opens (creating if needed) the database file at path, creating its
// parent directory with mode 0700 if missing. It does not apply migrations;
// call [DB.Migrate].
//
// path is a file name, not a URI, optionally followed by one option,
// "?synchronous=normal" (the default) or "?synchronous=full"; the name
// may not contain '?' otherwise, and ":memory:" is rejected (the writer
// and the readers need to share one database).
//
// The two settings (in WAL mode) differ in what a power loss or operating
// system crash keeps; a killed process keeps every committed transaction
// with either, since a commit has written the WAL to the operating system:
//   - FULL: every commit syncs the WAL to the disk before it returns, so a
//     committed transaction survives a power loss (if the disk honours
//     its flushes). A message acknowledged to its sender (XEP-0198) after
//     its archive commit is then on the disk.
//   - NORMAL: the WAL is synced only when it is checkpointed: in the
//     background about 0.1 s after archive writes (a checkpoint every 0.1 s
//     while they come), within 5 s of other writes, and at close. A power
//     loss may roll back the transactions committed since the last
//     checkpoint began (under load, the last 0.1 to 0.2 s of messages;
//     more if the disk is too slow for the checkpoints to keep up), never
//     corrupting the file.
//     In the store benchmarks (2 cores, ext4 on a virtual disk), NORMAL
//     archives 1.3 to 2 times as many messages per second in group
//     commits, and 4 times as many one by one.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty database path")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		return nil, errors.New("sqlite: open: in-memory databases are not supported; use a file (e.g. in a temporary directory)")
	}
	path, sync, err := syncOption(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open: create directory: %w", err)
	}

	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "foreign_keys(ON)")
	// Temporary storage (statement journals of the archive's multi-index
	// inserts, sorts) stays in memory instead of temporary files.
	q.Add("_pragma", "temp_store(MEMORY)")
	rq := q.Encode()
	// The writer's page cache holds the hot index pages of the archive
	// (the default 2 MiB spills and rereads them under load): 32 MiB.
	q.Add("_pragma", "cache_size(-32768)")
	// The checkpointer does it (checkpoint.go), not the commits.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Set("_txlock", "immediate")
	wq := q.Encode()

	// The writer is opened and used first, so that the conversion of a new
	// file to WAL mode happens on it and not concurrently on several readers.
	w, err := dbsql.Open("sqlite", abs+"?"+wq)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	singleConn(w)
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: journal mode is %q, not WAL", abs, mode)
	}

	r, err := dbsql.Open("sqlite", abs+"?"+rq+"&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	c, err := dbsql.Open("sqlite", abs+"?"+rq)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	singleConn(c)
	db := &DB{w: w, r: r, path: abs}
	db.startFTSMerger(ctx)
	db.startCheckpointer(ctx, c)
	return db, nil
}

// singleConn makes db a pool of one connection, kept open for good.
func singleConn(db *dbsql.DB) {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
}

// syncOption splits path into the file name and the synchronous setting
// it asks for: "?synchronous=normal" (the default) or "?synchronous=full".
func syncOption(path string) (name, sync string, err error) {
	name, opt, ok := strings.Cut(path, "?")
	if !ok {
		return name, "NORMAL", nil
	}
	switch strings.ToLower(opt) {
	case "synchronous=full":
		return name, "FULL", nil
	case "synchronous=normal":
		return name, "NORMAL", nil
	}
	return "", "", fmt.Errorf("sqlite: open %q: after '?' the only option is synchronous=full or synchronous=normal", path)
}

// Path returns the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// Close closes the database. Pending operations are not interrupted,
// except a background merge step of the full-text index (see ftsMerger),
// which is rolled back.
func (db *DB) Close() error {
	db.merger.stop()
	return errors.Join(db.ckpt.stop(), db.rs.close(), db.ws.close(), db.r.Close(), db.w.Close())
}

// Migrate applies the pending embedded migrations in order, each in its own
// transaction, and returns how many it applied. Concurrent migrators (other
// processes) are serialized by SQLite's write lock: each migration is
// re-checked inside its BEGIN IMMEDIATE transaction. log may be nil.
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) (int, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, fmt.Errorf("sqlite: migrate: %w", err)
	}
	ms, err := migrate.Load(sub)
	if err != nil {
		return 0, fmt.Errorf("sqlite: %w", err)
	}
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	applied_at INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT`); err != nil {
		return 0, fmt.Errorf("sqlite: migrate: create schema_migrations: %w", err)
	}
	var cur int
	if err := db.w.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return 0, fmt.Errorf("sqlite: migrate: read schema version: %w", err)
	}
	if latest := len(ms); cur > latest {
		log.Warn("database schema is newer than this program", "backend", "sqlite", "path", db.path, "schema_version", cur, "known_version", latest)
	}
	applied := 0
	for _, m := range ms {
		if m.Version <= cur {
			continue
		}
		done, err := db.apply(ctx, m)
		if err != nil {
			return applied, err
		}
		if done {
			applied++
			log.Info("applied database migration", "backend", "sqlite", "path", db.path, "migration", m.Name)
		}
	}
	return applied, nil
}

// apply runs one migration unless it is already recorded, which another
// process may have done since Migrate looked.
func (db *DB) apply(ctx context.Context, m migrate.Migration) (bool, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, m.Version); err != nil {
		return false, fmt.Errorf("sqlite: migration %s: record: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlite: migration %s: commit: %w", m.Name, err)
	}
	return true, nil
}

// Accounts returns the account store.
func (db *DB) Accounts() *AccountStore { return &AccountStore{db: db} }

// Roster returns the roster store.
func (db *DB) Roster() *RosterStore { return &RosterStore{db: db} }

// Offline returns the offline message store.
func (db *DB) Offline() *OfflineStore { return &OfflineStore{db: db} }

// PushApps returns the push app server store.
func (db *DB) PushApps() *PushAppStore { return &PushAppStore{db: db} }

// VCard returns the vCard store.
func (db *DB) VCard() *VCardStore { return &VCardStore{db: db} }

// Blocking returns the block list store.
func (db *DB) Blocking() *BlockingStore { return &BlockingStore{db: db} }

// MAM returns the message archive store.
func (db *DB) MAM() *MAMStore { return newMAMStore(db) }

// PEP returns the personal eventing store.
func (db *DB) PEP() *PEPStore { return &PEPStore{db: db} }

// inTx runs fn in a write (BEGIN IMMEDIATE) transaction, committing if it
// returns nil.
func (db *DB) inTx(ctx context.Context, fn func(*dbsql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// noAccount translates a foreign key violation, which on the per-user
// tables means that user has no account, into an error wrapping
// auth.ErrNotFound; other errors are wrapped with op.
func noAccount(op, user string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
		return fmt.Errorf("sqlite: %s: user %q: %w", op, user, auth.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
