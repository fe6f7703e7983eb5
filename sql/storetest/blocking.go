package storetest

import (
	"slices"
	"testing"

	"dormouse.im/dormouse/sql"
)

func testBlocking(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	b := s.Blocking
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)

	checkList := func(user string, want []string) {
		t.Helper()
		got, err := b.BlockList(ctx, user)
		check(t, "BlockList", err)
		if !slices.Equal(got, want) {
			t.Errorf("BlockList(%s) = %q, want %q", user, got, want)
		}
	}
	checkList(user, nil)

	// Bare, full and domain JIDs; sorted bytewise on the way out.
	check(t, "Block", b.Block(ctx, user, []string{"tybalt@example.com", "example.net", "paris@example.com/Résidence", "ünïcödé@例え.テスト"}))
	checkList(user, []string{"example.net", "paris@example.com/Résidence", "tybalt@example.com", "ünïcödé@例え.テスト"})

	// Adding present JIDs (and duplicates within one call) is not an error.
	check(t, "Block (idempotent)", b.Block(ctx, user, []string{"tybalt@example.com", "abram@example.com", "abram@example.com"}))
	check(t, "Block of nothing", b.Block(ctx, user, nil))
	all := []string{"abram@example.com", "example.net", "paris@example.com/Résidence", "tybalt@example.com", "ünïcödé@例え.テスト"}
	checkList(user, all)

	check(t, "Block for another user", b.Block(ctx, other, []string{"tybalt@example.com"}))

	// Remove some (absent ones are ignored).
	check(t, "Unblock", b.Unblock(ctx, user, []string{"example.net", "tybalt@example.com", "never@blocked.example"}))
	checkList(user, []string{"abram@example.com", "paris@example.com/Résidence", "ünïcödé@例え.テスト"})
	checkList(other, []string{"tybalt@example.com"})

	// Remove all.
	check(t, "Unblock all", b.Unblock(ctx, user, nil))
	checkList(user, nil)
	checkList(other, []string{"tybalt@example.com"})
	check(t, "Unblock all (empty slice)", b.Unblock(ctx, other, []string{}))
	checkList(other, nil)
	check(t, "Unblock all of an empty list", b.Unblock(ctx, other, nil))
}
