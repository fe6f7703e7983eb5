package storetest

import (
	"slices"
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql"
)

func testAccounts(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	a := s.Accounts

	wantErr(t, "Credentials of a missing account", func() error { _, err := a.Credentials(ctx, "alice@example.org"); return err }(), auth.ErrNotFound)
	names, err := a.Accounts(ctx, "")
	check(t, "Accounts on an empty store", err)
	if len(names) != 0 {
		t.Errorf("Accounts on an empty store = %q, want none", names)
	}

	c := creds(7)
	check(t, "CreateAccount", a.CreateAccount(ctx, "alice@example.org", c))
	wantErr(t, "CreateAccount twice", a.CreateAccount(ctx, "alice@example.org", creds(9)), auth.ErrExists)
	got, err := a.Credentials(ctx, "alice@example.org")
	check(t, "Credentials", err)
	if !equalCreds(got, c) {
		t.Errorf("Credentials = %+v, want %+v (and not those of the rejected duplicate)", got, c)
	}
	wantErr(t, "Credentials of another account", func() error { _, err := a.Credentials(ctx, "alice@example.net"); return err }(), auth.ErrNotFound)

	// Update.
	c2 := creds(42)
	c2.SHA256.Iter = 600000
	check(t, "SetCredentials", a.SetCredentials(ctx, "alice@example.org", c2))
	got, err = a.Credentials(ctx, "alice@example.org")
	check(t, "Credentials after SetCredentials", err)
	if !equalCreds(got, c2) {
		t.Errorf("Credentials after SetCredentials = %+v, want %+v", got, c2)
	}
	wantErr(t, "SetCredentials of a missing account", a.SetCredentials(ctx, "nobody@example.org", c2), auth.ErrNotFound)

	// Listing by domain, sorted bytewise; the domain must match exactly.
	all := []string{
		"alice@example.org", "bob@example.org", "Zed@example.org", "élodie@example.org", "_x@example.org",
		"carol@example.net", "dave@sub.example.org", "eve@notexample.org", "frank@例え.テスト",
	}
	createAccounts(t, s, all[1:]...)
	for _, tc := range []struct {
		domain string
		want   []string
	}{
		{"example.org", []string{"Zed@example.org", "_x@example.org", "alice@example.org", "bob@example.org", "élodie@example.org"}},
		{"example.net", []string{"carol@example.net"}},
		{"sub.example.org", []string{"dave@sub.example.org"}},
		{"例え.テスト", []string{"frank@例え.テスト"}},
		{"example.com", nil},
		{"", slices.Sorted(slices.Values(all))},
	} {
		names, err := a.Accounts(ctx, tc.domain)
		check(t, "Accounts", err)
		if !slices.Equal(names, tc.want) {
			t.Errorf("Accounts(%q) = %q, want %q", tc.domain, names, tc.want)
		}
	}

	// Delete.
	check(t, "DeleteAccount", a.DeleteAccount(ctx, "bob@example.org"))
	wantErr(t, "Credentials after DeleteAccount", func() error { _, err := a.Credentials(ctx, "bob@example.org"); return err }(), auth.ErrNotFound)
	wantErr(t, "DeleteAccount twice", a.DeleteAccount(ctx, "bob@example.org"), auth.ErrNotFound)
	wantErr(t, "SetCredentials after DeleteAccount", a.SetCredentials(ctx, "bob@example.org", c), auth.ErrNotFound)
	names, err = a.Accounts(ctx, "example.org")
	check(t, "Accounts after DeleteAccount", err)
	if slices.Contains(names, "bob@example.org") || len(names) != 4 {
		t.Errorf("Accounts after DeleteAccount = %q", names)
	}
	if _, err := a.Credentials(ctx, "alice@example.org"); err != nil {
		t.Errorf("DeleteAccount(bob) affected alice: %v", err)
	}
	// The name can be reused.
	check(t, "CreateAccount after DeleteAccount", a.CreateAccount(ctx, "bob@example.org", c))
	got, err = a.Credentials(ctx, "bob@example.org")
	check(t, "Credentials of the re-created account", err)
	if !equalCreds(got, c) {
		t.Errorf("Credentials of the re-created account = %+v, want %+v", got, c)
	}
}
