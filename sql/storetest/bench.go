package storetest

import (
	"fmt"
	"testing"
	"time"

	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/roster"
)

// Bench runs the storage benchmarks, each on its own stores from open.
func Bench(b *testing.B, open Open) {
	stanza := []byte("<message from='romeo@example.net/orchard' to='juliet@example.com' type='chat' id='a1b2c3d4'>" +
		"<body>But soft, what light through yonder window breaks?</body>" +
		"<active xmlns='http://jabber.org/protocol/chatstates'/></message>")

	// Store one offline message (no limit; see OfflineStoreMessagesDelete).
	b.Run("OfflineStore", func(b *testing.B) {
		s := open(b)
		createAccounts(b, s, "juliet@example.com")
		ctx := b.Context()
		m := offline.Message{Stamp: time.Now(), Stanza: stanza}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Offline.Store(ctx, "juliet@example.com", m, 0); err != nil {
				b.Fatal(err)
			}
		}
	})

	// Fetch 10 stored messages.
	b.Run("OfflineMessages10", func(b *testing.B) {
		s := open(b)
		createAccounts(b, s, "juliet@example.com")
		ctx := b.Context()
		for range 10 {
			if err := s.Offline.Store(ctx, "juliet@example.com", offline.Message{Stamp: time.Now(), Stanza: stanza}, 0); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			ms, err := s.Offline.Messages(ctx, "juliet@example.com", 0)
			if err != nil || len(ms) != 10 {
				b.Fatal(len(ms), err)
			}
		}
	})

	// The offline cycle of one message: Store, Messages, Delete.
	b.Run("OfflineStoreMessagesDelete", func(b *testing.B) {
		s := open(b)
		createAccounts(b, s, "juliet@example.com")
		ctx := b.Context()
		m := offline.Message{Stamp: time.Now(), Stanza: stanza}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Offline.Store(ctx, "juliet@example.com", m, 100); err != nil {
				b.Fatal(err)
			}
			ms, err := s.Offline.Messages(ctx, "juliet@example.com", 0)
			if err != nil || len(ms) != 1 {
				b.Fatal(len(ms), err)
			}
			if err := s.Offline.Delete(ctx, "juliet@example.com", []int64{ms[0].ID}); err != nil {
				b.Fatal(err)
			}
		}
	})

	const rosterSize = 200
	fillRoster := func(b *testing.B, put func(roster.Item)) {
		for i := range rosterSize {
			put(roster.Item{
				Contact:      fmt.Sprintf("contact%03d@example.net", i),
				Name:         fmt.Sprintf("Contact %d", i),
				Groups:       []string{"Friends", "Montagues"},
				Subscription: roster.SubBoth,
			})
		}
	}

	// Put (update) an item of a 200-item roster.
	b.Run("RosterPut", func(b *testing.B) {
		s := open(b)
		createAccounts(b, s, "romeo@example.net")
		ctx := b.Context()
		var items []roster.Item
		fillRoster(b, func(it roster.Item) { items = append(items, it) })
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Roster.Put(ctx, "romeo@example.net", items[i%rosterSize]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})

	// Load a 200-item roster.
	b.Run("RosterLoad200", func(b *testing.B) {
		s := open(b)
		createAccounts(b, s, "romeo@example.net")
		ctx := b.Context()
		fillRoster(b, func(it roster.Item) {
			if _, err := s.Roster.Put(ctx, "romeo@example.net", it); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportAllocs()
		for b.Loop() {
			items, _, err := s.Roster.Roster(ctx, "romeo@example.net")
			if err != nil || len(items) != rosterSize {
				b.Fatal(len(items), err)
			}
		}
	})
}
