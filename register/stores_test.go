package register_test

import (
	"os"
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql/sqltest"
)

// shared holds the SQL account stores of one test, opened once and reset
// for each case (opening a database per case is slow, a PostgreSQL schema
// especially).
type shared struct {
	sql map[string]auth.Store // by backend name; absent: not available
}

func newShared(t *testing.T) *shared {
	t.Helper()
	sh := &shared{sql: map[string]auth.Store{"sqlite": sqltest.SQLite(t).Accounts}}
	if os.Getenv(sqltest.PostgresEnv) != "" {
		sh.sql["postgres"] = sqltest.Postgres(t).Accounts
	}
	return sh
}

// forEach runs f in a subtest per backend: an in-memory fake, SQLite, and
// PostgreSQL (skipped unless sqltest.PostgresEnv is set), each holding just
// the named accounts, with the password "old password". With fail set, f
// runs only on the fake, made to fail with it.
func (sh *shared) forEach(t *testing.T, fail error, names []string, f func(t *testing.T, a auth.Store)) {
	for _, backend := range []string{"memory", "sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "memory" {
				m := newAccounts(t, names...)
				m.FailWrites(fail)
				f(t, m)
				return
			}
			if fail != nil {
				t.Skip("failures are injected in the in-memory store only")
			}
			a := sh.sql[backend]
			if a == nil {
				t.Skip(sqltest.SkipMessage)
			}
			reset(t, a, names)
			f(t, a)
		})
	}
}

// reset leaves exactly the named accounts in a.
func reset(t *testing.T, a auth.Store, names []string) {
	t.Helper()
	old, err := a.Accounts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range old {
		if err := a.DeleteAccount(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		if err := a.CreateAccount(ctx, n, mustCredentials(t, "old password")); err != nil {
			t.Fatal(err)
		}
	}
}
