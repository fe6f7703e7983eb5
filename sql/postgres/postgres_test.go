package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/sql/postgres"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/sql/storetest"
)

// The tests need DORMOUSE_TEST_POSTGRES (see package sqltest); each test
// gets its own schema, dropped at the end.

func TestStores(t *testing.T) {
	sqltest.SkipWithoutPostgres(t)
	storetest.Run(t, sqltest.Postgres)
}

func BenchmarkStores(b *testing.B) {
	sqltest.SkipWithoutPostgres(b)
	storetest.Bench(b, sqltest.Postgres)
}

// TestConcurrentMigrate starts several migrators on one new schema at once:
// the advisory lock lets exactly one apply each migration.
func TestConcurrentMigrate(t *testing.T) {
	url := sqltest.PostgresURL(t)
	ctx := t.Context()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied int
	)
	for range 5 {
		wg.Go(func() {
			n, err := sql.Migrate(ctx, url, nil)
			if err != nil {
				t.Errorf("Migrate: %v", err)
			}
			mu.Lock()
			applied += n
			mu.Unlock()
		})
	}
	wg.Wait()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) < 2 {
		t.Fatalf("migration files: %v, %v", files, err)
	}
	if applied != len(files) {
		t.Errorf("concurrent migrators applied %d migrations in all, want %d", applied, len(files))
	}
	s, err := sql.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Accounts.CreateAccount(ctx, "juliet@example.com", auth.Credentials{}); err != nil {
		t.Fatal(err)
	}
	if s.Backend != "postgres" {
		t.Errorf("Backend = %q", s.Backend)
	}
	if !strings.Contains(s.Location, "search_path=dormouse_test_") {
		t.Errorf("Location = %q, want the DSN with its search_path", s.Location)
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://u:secret@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db?password=secret&search_path=x", "postgresql://u@h/db?search_path=x"},
		{"postgres://h/db", "postgres://h/db"},
		{"host=h password=secret", "(PostgreSQL connection string)"},
	} {
		if got := postgres.Redact(tc.dsn); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
	// Errors do not reveal the password either.
	_, err := sql.Open(context.Background(), "postgres://u:secret@127.0.0.1:1/db?connect_timeout=1", nil)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of an unreachable server: %v", err)
	}
}

// TestMAMLarge is the large-archive measurement, skipped unless
// DORMOUSE_MAM_LARGE=1 (see storetest.MAMLarge). After the bulk load it
// runs VACUUM ANALYZE, as autovacuum would on a live server, so that the
// planner has statistics and index-only scans work.
func TestMAMLarge(t *testing.T) {
	sqltest.SkipWithoutPostgres(t)
	if os.Getenv(storetest.LargeEnv) != "1" {
		t.Skip(storetest.LargeEnv + " not set to 1: skipping the large-archive measurement")
	}
	url := sqltest.PostgresURL(t)
	open := func(tb testing.TB) *sql.Stores {
		s, err := sql.Open(tb.Context(), url, nil)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}
	storetest.MAMLarge(t, open, func(tb testing.TB) {
		conn, err := pgx.Connect(tb.Context(), url)
		if err != nil {
			tb.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(tb.Context(), `VACUUM ANALYZE archive`); err != nil {
			tb.Fatal(err)
		}
	})
}
