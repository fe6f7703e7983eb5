package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/sql"
)

// testConcurrent uses every store from many goroutines at once (run it with
// -race), then checks that no write was lost or duplicated.
func testConcurrent(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	const (
		user    = "juliet@example.com"
		workers = 10
		perW    = 10
	)
	createAccounts(t, s, user)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		versions []int64
	)
	for w := range workers {
		// Roster writes, each with a distinct contact, and reads.
		wg.Go(func() {
			for i := range perW {
				v, err := s.Roster.Put(ctx, user, roster.Item{Contact: fmt.Sprintf("c%02d-%02d@example.com", w, i), Groups: []string{"G"}, Subscription: roster.SubTo})
				if err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				mu.Lock()
				versions = append(versions, v)
				mu.Unlock()
				items, ver, err := s.Roster.Roster(ctx, user)
				if err != nil {
					t.Errorf("Roster: %v", err)
					return
				}
				if int64(len(items)) != ver {
					// Every change so far was an insert, so the version
					// equals the number of items in a consistent read.
					t.Errorf("Roster returned %d items at version %d", len(items), ver)
				}
			}
		})
		// Accounts, offline messages, vCards and block lists of other users.
		wg.Go(func() {
			u := fmt.Sprintf("user%02d@example.org", w)
			if err := s.Accounts.CreateAccount(ctx, u, creds(byte(w))); err != nil {
				t.Errorf("CreateAccount: %v", err)
				return
			}
			for i := range perW {
				if err := s.Offline.Store(ctx, user, offline.Message{Stamp: time.Now(), Stanza: fmt.Appendf(nil, "%d-%d", w, i)}, 0); err != nil {
					t.Errorf("Store: %v", err)
				}
				if err := s.VCard.SetVCard(ctx, u, fmt.Appendf(nil, "<vCard>%d</vCard>", i)); err != nil {
					t.Errorf("SetVCard: %v", err)
				}
				if err := s.Blocking.Block(ctx, u, []string{fmt.Sprintf("b%02d@example.net", i)}); err != nil {
					t.Errorf("Block: %v", err)
				}
				if _, err := s.Accounts.Credentials(ctx, u); err != nil {
					t.Errorf("Credentials: %v", err)
				}
				if _, err := s.Offline.Messages(ctx, user, 5); err != nil {
					t.Errorf("Messages: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Every Put got its own version, 1 to N.
	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("roster versions returned by concurrent Puts, sorted: %v; want 1 to %d", versions, workers*perW)
		}
	}
	if n, err := s.Roster.Count(ctx, user); err != nil || n != workers*perW {
		t.Errorf("roster Count = %d, %v; want %d", n, err, workers*perW)
	}
	ms, err := s.Offline.Messages(ctx, user, 0)
	check(t, "Messages", err)
	if len(ms) != workers*perW {
		t.Errorf("%d offline messages, want %d", len(ms), workers*perW)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].ID <= ms[i-1].ID {
			t.Fatalf("offline message ids not increasing: %d after %d", ms[i].ID, ms[i-1].ID)
		}
	}
	names, err := s.Accounts.Accounts(ctx, "example.org")
	check(t, "Accounts", err)
	if len(names) != workers {
		t.Errorf("%d accounts in example.org, want %d", len(names), workers)
	}
	for _, u := range names {
		bl, err := s.Blocking.BlockList(ctx, u)
		check(t, "BlockList", err)
		if len(bl) != perW {
			t.Errorf("BlockList(%s) has %d items, want %d", u, len(bl), perW)
		}
		card, err := s.VCard.VCard(ctx, u)
		check(t, "VCard", err)
		if want := fmt.Sprintf("<vCard>%d</vCard>", perW-1); string(card) != want {
			t.Errorf("VCard(%s) = %q, want %q", u, card, want)
		}
	}
}
