// Package sqltest gives tests isolated, throw-away storage: a fresh SQLite
// file or a fresh PostgreSQL schema per call, removed when the test ends.
//
// PostgreSQL tests need the environment variable DORMOUSE_TEST_POSTGRES set
// to a DSN, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable
// (the role must be allowed to create schemas); without it they are skipped.
package sqltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/sql"
)

// PostgresEnv is the environment variable holding the PostgreSQL test DSN.
const PostgresEnv = "DORMOUSE_TEST_POSTGRES"

// SkipMessage is the reason PostgreSQL tests are skipped without PostgresEnv.
const SkipMessage = PostgresEnv + " not set: skipping PostgreSQL storage tests (set it to a DSN, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)"

// SQLite returns stores on a new SQLite database in t.TempDir(), closed when
// the test ends.
func SQLite(t testing.TB) *sql.Stores {
	t.Helper()
	return open(t, SQLiteURL(t))
}

// SQLiteURL returns the storage URL of a new SQLite database file (not yet
// created) in t.TempDir().
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "dormouse.db")
}

// SkipWithoutPostgres skips the test, with [SkipMessage], unless
// DORMOUSE_TEST_POSTGRES is set. Call it first in a test that runs
// subtests on PostgreSQL, so that it is skipped once rather than in every
// subtest.
func SkipWithoutPostgres(t testing.TB) {
	t.Helper()
	if os.Getenv(PostgresEnv) == "" {
		t.Skip(SkipMessage)
	}
}

// Postgres returns stores on a new, empty PostgreSQL schema, closed and
// dropped when the test ends. It skips the test unless DORMOUSE_TEST_POSTGRES
// is set.
func Postgres(t testing.TB) *sql.Stores {
	t.Helper()
	return open(t, PostgresURL(t))
}

// PostgresURL creates a new, empty schema named dormouse_test_<random> in
// the database named by DORMOUSE_TEST_POSTGRES, and returns a storage URL
// selecting it (with search_path). The schema is dropped when the test ends,
// after cleanups registered later (such as closing stores) have run. It
// skips the test unless DORMOUSE_TEST_POSTGRES is set.
func PostgresURL(t testing.TB) string {
	t.Helper()
	SkipWithoutPostgres(t)
	dsn := os.Getenv(PostgresEnv)
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("sqltest: %s must be a postgres:// URL", PostgresEnv)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "dormouse_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("sqltest: connect to %s: %v", PostgresEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("sqltest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("sqltest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("sqltest: drop schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// open opens url and closes the stores when the test ends.
func open(t testing.TB, url string) *sql.Stores {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sql.Open(ctx, url, nil)
	if err != nil {
		t.Fatalf("sqltest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("sqltest: close: %v", err)
		}
	})
	return s
}
