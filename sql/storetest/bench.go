package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/sql"
)

// Bench runs the storage benchmarks, each on its own stores from open.
func Bench(b *testing.B, open Open) {
	stanza := []byte("<message from='romeo@example.net/orchard' to='juliet@example.com' type='chat' id='a1b2c3d4'>" +
		"<body>But soft, what light through yonder window breaks?</body>" +
		"<active xmlns='http://jabber.org/protocol/chatstates'/></message>")

	// Look up an account's credentials (every login does).
	b.Run("AccountCredentials", func(b *testing.B) {
		s := open(b)
		createAccounts(b, s, "juliet@example.com")
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			if c, err := s.Accounts.Credentials(ctx, "juliet@example.com"); err != nil || c.SHA256.Iter == 0 {
				b.Fatal(c, err)
			}
		}
	})

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

	benchMAM(b, open)
}

// mamBenchSize is the size of the archive the query benchmarks read.
const mamBenchSize = 10_000

// mamBenchPage is the page size of the query benchmarks.
const mamBenchPage = 50

// benchMessage returns a realistic archived message: number i of owner's
// archive, one a millisecond, with one of 20 contacts in turn. Each body
// holds the number i; one in 100 mentions the balcony.
func benchMessage(owner string, i int) mam.Message {
	stamp := mamBase.Add(time.Duration(i) * time.Millisecond)
	with := fmt.Sprintf("contact%02d@example.net", i%20)
	body := fmt.Sprintf("But soft, what light through yonder window breaks? It is the east, and Juliet is the sun (%d).", i)
	if i%100 == 0 {
		body += " Meet me at the balcony."
	}
	return mam.Message{
		ID:           stamp.UnixMilli() << 20,
		Owner:        owner,
		With:         with,
		WithResource: "orchard",
		Stamp:        stamp,
		Outgoing:     i%2 == 0,
		OriginID:     fmt.Sprintf("5f0e8b1c-%08d", i),
		Body:         body,
		Stanza: fmt.Appendf(nil, "<message xmlns='jabber:client' from='%s/orchard' to='%s' type='chat' id='a1b2c3d4-%d'>"+
			"<body>%s</body><origin-id xmlns='urn:xmpp:sid:0' id='5f0e8b1c-%08d'/>"+
			"<stanza-id xmlns='urn:xmpp:sid:0' by='%s' id='%s'/></message>",
			with, owner, i, body, i, owner, mam.FormatID(stamp.UnixMilli()<<20)),
	}
}

// fillArchive appends messages 0 to n-1 of owner's archive, in batches of
// batch messages.
func fillArchive(tb testing.TB, s *sql.Stores, owner string, n, batch int) {
	tb.Helper()
	ms := make([]mam.Message, 0, batch)
	for i := 0; i < n; i += batch {
		ms = ms[:0]
		for j := i; j < min(i+batch, n); j++ {
			ms = append(ms, benchMessage(owner, j))
		}
		if err := s.MAM.Append(tb.Context(), ms); err != nil {
			tb.Fatalf("Append: %v", err)
		}
	}
}

// benchMAM runs the message archive benchmarks.
func benchMAM(b *testing.B, open Open) {
	const user = "juliet@example.com"

	// Append batches of 1 and 100 messages (one transaction each).
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("MAMAppend/batch=%d", size), func(b *testing.B) {
			s := open(b)
			createAccounts(b, s, user)
			ctx := b.Context()
			ms := make([]mam.Message, size)
			next := 0
			b.ReportAllocs()
			for b.Loop() {
				for j := range ms {
					ms[j] = benchMessage(user, next)
					next++
				}
				if err := s.MAM.Append(ctx, ms); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "msgs/s")
		})
	}

	// What the server writes under load: messages between 50 pairs of
	// local users, each archived twice (sender's and recipient's archive,
	// same id), in group commits of 10, 100 and 400 messages.
	for _, size := range []int{10, 100, 400} {
		benchMAMAppendPairs(b, open, size)
	}

	// The newest page of a 10k-message archive (what a client asks first).
	b.Run("MAMQueryLastPage", func(b *testing.B) {
		s := open(b)
		createAccounts(b, s, user)
		fillArchive(b, s, user, mamBenchSize, 1000)
		ctx := b.Context()
		q := mam.Query{Owner: user, Max: mamBenchPage, Last: true}
		b.ReportAllocs()
		for b.Loop() {
			p, err := s.MAM.Query(ctx, q)
			if err != nil || len(p.Messages) != mamBenchPage || p.Complete {
				b.Fatal(len(p.Messages), p.Complete, err)
			}
		}
	})

	// A page after a random id of a 10k-message archive (catching up).
	b.Run("MAMQueryAfterID", func(b *testing.B) {
		s := open(b)
		createAccounts(b, s, user)
		fillArchive(b, s, user, mamBenchSize, 1000)
		ctx := b.Context()
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			after := benchMessage(user, rng.IntN(mamBenchSize-mamBenchPage)).ID
			p, err := s.MAM.Query(ctx, mam.Query{Owner: user, AfterID: after, Max: mamBenchPage})
			if err != nil || len(p.Messages) != mamBenchPage {
				b.Fatal(len(p.Messages), err)
			}
		}
	})
}

// benchMAMAppendPairs benchmarks Append of batches of size messages
// between 50 pairs of local users, each message archived in both archives.
func benchMAMAppendPairs(b *testing.B, open Open, size int) {
	b.Run(fmt.Sprintf("MAMAppendPairs/batch=%d", size), func(b *testing.B) {
		const pairs = 50
		s := open(b)
		users := make([]string, 2*pairs)
		for i := range users {
			users[i] = fmt.Sprintf("user%03d@example.com", i)
		}
		createAccounts(b, s, users...)
		ctx := b.Context()
		ms := make([]mam.Message, 0, 2*size)
		next := 0
		b.ReportAllocs()
		for b.Loop() {
			ms = ms[:0]
			for range size {
				from, to := users[next%pairs*2], users[next%pairs*2+1]
				m := benchMessage(from, next)
				m.With, m.Outgoing = to, true
				r := m
				r.Owner, r.With, r.Outgoing = to, from, false
				ms = append(ms, m, r)
				next++
			}
			if err := s.MAM.Append(ctx, ms); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "msgs/s")
	})
}
