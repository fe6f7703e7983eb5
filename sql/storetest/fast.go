package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql"
)

// testFastTokens checks the XEP-0484 token store: put and list (newest
// first, per user agent), the count's replay protection, deletion, and
// that a password change and account deletion remove the tokens.
func testFastTokens(t *testing.T, s *sql.Stores) {
	ctx := context.Background()
	ts := s.Tokens
	const alice, bob = "alice@example.org", "bob@example.org"
	for i, a := range []string{alice, bob} {
		if err := s.Accounts.CreateAccount(ctx, a, creds(byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	base := time.UnixMilli(1_700_000_000_000)
	tok := func(account, ua string, n byte, created time.Time) auth.FastToken {
		return auth.FastToken{
			Account: account, UserAgent: ua, Mechanism: auth.HTSHA256None,
			Nonce: bytes.Repeat([]byte{n}, 16), Hash: bytes.Repeat([]byte{n, byte(len(account))}, 16),
			Created: created, Expiry: created.Add(14 * 24 * time.Hour),
		}
	}
	const ua1, ua2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	t1 := tok(alice, ua1, 1, base)
	t2 := tok(alice, ua1, 2, base.Add(time.Hour))
	t3 := tok(alice, ua2, 3, base)
	t4 := tok(bob, ua1, 4, base)
	for _, x := range []auth.FastToken{t1, t2, t3, t4} {
		if err := ts.PutToken(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.PutToken(ctx, tok("nobody@example.org", ua1, 9, base)); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("PutToken for an unknown account: %v, want ErrNotFound", err)
	}
	got, err := ts.Tokens(ctx, alice, ua1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0].Hash, t2.Hash) || !bytes.Equal(got[1].Hash, t1.Hash) {
		t.Fatalf("Tokens(alice, ua1) = %+v, want t2, t1", got)
	}
	g := got[1]
	if g.Mechanism != auth.HTSHA256None || !bytes.Equal(g.Nonce, t1.Nonce) || !g.Created.Equal(t1.Created) || !g.Expiry.Equal(t1.Expiry) || g.Count != 0 || g.UserAgent != ua1 || g.Account != alice {
		t.Errorf("token read back as %+v, want %+v", g, t1)
	}

	// Counts: first use with any count, then only increasing.
	for _, c := range []struct {
		count uint32
		ok    bool
	}{{0, true}, {0, false}, {5, true}, {5, false}, {4, false}, {6, true}} {
		ok, err := ts.UseToken(ctx, alice, t1.Hash, c.count, true)
		if err != nil || ok != c.ok {
			t.Errorf("UseToken(count %d) = %v, %v; want %v", c.count, ok, err, c.ok)
		}
	}
	if ok, _ := ts.UseToken(ctx, bob, t1.Hash, 100, true); ok {
		t.Error("UseToken accepted another account's token")
	}
	// Without a count: any existing token of the account, count kept.
	if ok, err := ts.UseToken(ctx, alice, t1.Hash, 0, false); !ok || err != nil {
		t.Errorf("UseToken without a count = %v, %v", ok, err)
	}
	if ok, _ := ts.UseToken(ctx, bob, t1.Hash, 0, false); ok {
		t.Error("UseToken without a count accepted another account's token")
	}
	if ok, _ := ts.UseToken(ctx, alice, []byte("nope"), 0, false); ok {
		t.Error("UseToken without a count accepted an unknown token")
	}
	got, _ = ts.Tokens(ctx, alice, ua1)
	if len(got) != 2 || got[1].Count != 6 {
		t.Errorf("count after use = %+v, want 6", got)
	}

	if err := ts.DeleteToken(ctx, alice, t2.Hash); err != nil {
		t.Fatal(err)
	}
	if got, _ = ts.Tokens(ctx, alice, ua1); len(got) != 1 {
		t.Errorf("after DeleteToken: %d tokens, want 1", len(got))
	}
	if err := ts.DeleteTokens(ctx, alice, ua2); err != nil {
		t.Fatal(err)
	}
	if got, _ = ts.Tokens(ctx, alice, ua2); len(got) != 0 {
		t.Errorf("after DeleteTokens(ua2): %d tokens", len(got))
	}

	// A password change removes the account's tokens, not others'.
	if err := s.Accounts.SetCredentials(ctx, alice, creds(7)); err != nil {
		t.Fatal(err)
	}
	if got, _ = ts.Tokens(ctx, alice, ua1); len(got) != 0 {
		t.Errorf("after a password change: %d tokens remain", len(got))
	}
	if got, _ = ts.Tokens(ctx, bob, ua1); len(got) != 1 {
		t.Errorf("bob lost his token when alice changed her password")
	}
	if err := s.Accounts.DeleteAccount(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if got, _ = ts.Tokens(ctx, bob, ua1); len(got) != 0 {
		t.Errorf("after account deletion: %d tokens remain", len(got))
	}
	if err := s.Accounts.CreateAccount(ctx, bob, creds(1)); err != nil {
		t.Fatal(err)
	}
	if got, _ = ts.Tokens(ctx, bob, ua1); len(got) != 0 {
		t.Errorf("a recreated account inherited %d tokens", len(got))
	}
}
