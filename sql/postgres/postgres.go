// Package postgres implements Dormouse's feature stores on PostgreSQL, with
// github.com/jackc/pgx/v5/pgxpool.
//
// The tables live in the first schema of the connection's search_path
// (normally "public"). Any query parameter of the DSN that pgx does not
// itself interpret is sent to the server as a run-time parameter, so
// "postgres://host/db?search_path=dormouse" keeps everything in the schema
// dormouse, which must exist.
//
// Use [Open], then [DB.Migrate], then the store accessors. Most code should
// go through dormouse.im/dormouse/sql.Open instead.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockClass is the first key of the advisory lock that serializes
// migrators; the second is a hash of the schema being migrated, so that
// migrations of different schemas (parallel tests) do not wait for each other.
const migrationLockClass = 0x646d6d67 // "dmmg"

// DB is an open PostgreSQL connection pool. It is safe for concurrent use.
type DB struct {
	pool     *pgxpool.Pool
	location string
}

// Open connects to the database named by dsn (a postgres:// or
// postgresql:// URL, or a key=value connection string, as understood by
// pgxpool.ParseConfig) and checks that it is reachable. It does not apply
// migrations; call [DB.Migrate].
func Open(ctx context.Context, dsn string) (*DB, error) {
	loc := Redact(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", loc, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", loc, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", loc, err)
	}
	return &DB{pool: pool, location: loc}, nil
}

// Redact returns dsn without its password (from the user information or a
// password query parameter), for logs and messages. A DSN that is not a URL
// is replaced by a placeholder, as it cannot be redacted reliably.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "(PostgreSQL connection string)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Location returns the DSN without its password.
func (db *DB) Location() string { return db.location }

// Pool returns the connection pool, for feature stores added outside this
// package and for tests.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close closes the pool, waiting for acquired connections to be released.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Migrate applies the pending embedded migrations in order, each in its own
// transaction, and returns how many it applied. Concurrent migrators of the
// same schema (several servers starting at once) are serialized with
// pg_advisory_xact_lock. log may be nil.
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) (int, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	ms, err := migrate.Load(sub)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	var cur int
	err = db.migrationTx(ctx, func(tx pgx.Tx) error {
		var schema *string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return err
		}
		if schema == nil {
			return errors.New("no schema to create the tables in: the schemas of search_path do not exist")
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		return tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&cur)
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	if latest := len(ms); cur > latest {
		log.Warn("database schema is newer than this program", "backend", "postgres", "location", db.location, "schema_version", cur, "known_version", latest)
	}
	applied := 0
	for _, m := range ms {
		if m.Version <= cur {
			continue
		}
		done := false
		err := db.migrationTx(ctx, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil // another process applied it meanwhile
			}
			// No arguments: the simple protocol, which allows several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.Version); err != nil {
				return fmt.Errorf("record: %w", err)
			}
			done = true
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
		if done {
			applied++
			log.Info("applied database migration", "backend", "postgres", "location", db.location, "migration", m.Name)
		}
	}
	return applied, nil
}

// migrationTx runs fn in a transaction holding the migration lock of the
// current schema.
func (db *DB) migrationTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))`, int32(migrationLockClass)); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		return fn(tx)
	})
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

// PEP returns the personal eventing store.
func (db *DB) PEP() *PEPStore { return &PEPStore{db: db} }

// Blocking returns the block list store.
func (db *DB) Blocking() *BlockingStore { return &BlockingStore{db: db} }

// MAM returns the message archive store.
func (db *DB) MAM() *MAMStore { return &MAMStore{db: db} }

// noAccount translates a foreign key violation, which on the per-user
// tables means that user has no account, into an error wrapping
// auth.ErrNotFound; other errors are wrapped with op.
func noAccount(op, user string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
		return fmt.Errorf("postgres: %s: user %q: %w", op, user, auth.ErrNotFound)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
