package blocking_test

import (
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/blocking"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/sql/sqltest"
)

// backends are the stores the behaviour tests run on: an in-memory fake,
// SQLite, and PostgreSQL (skipped unless sqltest.PostgresEnv is set). Each
// has the accounts alice and bob@example.org.
var backends = []struct {
	name string
	new  func(t *testing.T) blocking.Store
}{
	{"memory", func(*testing.T) blocking.Store { return newMemStore() }},
	{"sqlite", func(t *testing.T) blocking.Store { return withAccounts(t, sqltest.SQLite(t)).Blocking }},
	{"postgres", func(t *testing.T) blocking.Store { return withAccounts(t, sqltest.Postgres(t)).Blocking }},
}

func withAccounts(t *testing.T, st *sql.Stores) *sql.Stores {
	t.Helper()
	creds, err := auth.NewCredentials("secret", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@example.org", "bob@example.org"} {
		if err := st.Accounts.CreateAccount(ctx, a, creds); err != nil {
			t.Fatal(err)
		}
	}
	return st
}
