package register_test

import (
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql/sqltest"
)

// backends are the account stores the behaviour tests run on: an in-memory
// fake, SQLite, and PostgreSQL (skipped unless sqltest.PostgresEnv is
// set). new creates the named accounts with the password "old password".
var backends = []struct {
	name string
	new  func(t *testing.T, names ...string) auth.Store
}{
	{"memory", func(t *testing.T, names ...string) auth.Store { return newAccounts(t, names...) }},
	{"sqlite", func(t *testing.T, names ...string) auth.Store {
		return withAccounts(t, sqltest.SQLite(t).Accounts, names)
	}},
	{"postgres", func(t *testing.T, names ...string) auth.Store {
		return withAccounts(t, sqltest.Postgres(t).Accounts, names)
	}},
}

func withAccounts(t *testing.T, a auth.Store, names []string) auth.Store {
	t.Helper()
	for _, n := range names {
		if err := a.CreateAccount(ctx, n, mustCredentials(t, "old password")); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// forEach runs f on each backend; with fail set, only on the in-memory
// fake, made to fail with it.
func forEach(t *testing.T, fail error, names []string, f func(t *testing.T, a auth.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			a := b.new(t, names...)
			if fail != nil {
				m, ok := a.(*memAccounts)
				if !ok {
					t.Skip("failures are injected in the in-memory store only")
				}
				m.fail = fail
			}
			f(t, a)
		})
	}
}
