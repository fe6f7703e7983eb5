package vcard_test

import (
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/vcard"
)

// backends are the stores the behaviour tests run on: an in-memory fake,
// SQLite, and PostgreSQL (skipped unless sqltest.PostgresEnv is set). Each
// has the accounts alice, bob and carol@example.org.
var backends = []struct {
	name string
	new  func(t *testing.T) vcard.Store
}{
	{"memory", func(*testing.T) vcard.Store { return &memStore{cards: map[string][]byte{}} }},
	{"sqlite", func(t *testing.T) vcard.Store { return withAccounts(t, sqltest.SQLite(t)).VCard }},
	{"postgres", func(t *testing.T) vcard.Store { return withAccounts(t, sqltest.Postgres(t)).VCard }},
}

func withAccounts(t *testing.T, st *sql.Stores) *sql.Stores {
	t.Helper()
	creds, err := auth.NewCredentials("secret", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@example.org", "bob@example.org", "carol@example.org"} {
		if err := st.Accounts.CreateAccount(ctx, a, creds); err != nil {
			t.Fatal(err)
		}
	}
	return st
}
