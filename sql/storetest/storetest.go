// Package storetest is the conformance suite of Dormouse's storage
// backends: it checks, through the feature Store interfaces only, the
// behaviour every backend must have. Backends call [Run] (and [Bench]) from
// their tests with a function returning fresh stores.
package storetest

import (
	"bytes"
	"errors"
	"testing"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql"
)

// Open returns fresh, empty stores for one test and closes them when the
// test ends; sqltest.SQLite and sqltest.Postgres are such functions. It is
// called from parallel subtests.
type Open func(testing.TB) *sql.Stores

// Run runs the conformance suite, one parallel subtest per store, each on
// its own stores from open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, *sql.Stores)
	}{
		{"Accounts", testAccounts},
		{"Roster", testRoster},
		{"RosterPending", testRosterPending},
		{"Offline", testOffline},
		{"OfflineLimitConcurrent", testOfflineLimitConcurrent},
		{"VCard", testVCard},
		{"Blocking", testBlocking},
		{"Push", testPush},
		{"DeleteAccountCascades", testDeleteAccountCascades},
		{"UnknownAccount", testUnknownAccount},
		{"Concurrent", testConcurrent},
		{"PushApps", testPushApps},
		{"PEP", testPEP},
		{"PEPConcurrent", testPEPConcurrent},
		{"MUCRooms", testMUCRooms},
		{"MUCArchive", testMUCArchive},
		{"MUCOwner", testMUCOwner},
		{"FastTokens", testFastTokens},
		{"SMSessions", testSMSessions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
	t.Run("MAM", func(t *testing.T) {
		t.Parallel()
		runMAM(t, open)
	})
}

// creds returns distinct, recognizable credentials for seed.
func creds(seed byte) auth.Credentials {
	fill := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	return auth.Credentials{
		SHA1: auth.Keys{
			Salt:      fill(16, seed),
			Iter:      4096 + int(seed),
			StoredKey: fill(20, seed+1),
			ServerKey: fill(20, seed+2),
		},
		SHA256: auth.Keys{
			Salt:      fill(16, seed+3),
			Iter:      10000 + int(seed),
			StoredKey: fill(32, seed+4),
			ServerKey: fill(32, seed+5),
		},
	}
}

func equalKeys(a, b auth.Keys) bool {
	return bytes.Equal(a.Salt, b.Salt) && a.Iter == b.Iter &&
		bytes.Equal(a.StoredKey, b.StoredKey) && bytes.Equal(a.ServerKey, b.ServerKey)
}

func equalCreds(a, b auth.Credentials) bool {
	return equalKeys(a.SHA1, b.SHA1) && equalKeys(a.SHA256, b.SHA256)
}

// createAccounts creates the accounts, failing the test on error.
func createAccounts(t testing.TB, s *sql.Stores, names ...string) {
	t.Helper()
	for i, n := range names {
		if err := s.Accounts.CreateAccount(t.Context(), n, creds(byte(i))); err != nil {
			t.Fatalf("CreateAccount(%q): %v", n, err)
		}
	}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// check fails the test now if err is not nil.
func check(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
