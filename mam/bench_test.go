package mam_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/mam/mamtest"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/stanza"
)

// discard is a resource that takes everything.
type discard struct{ n atomic.Int64 }

func (d *discard) Deliver(*stanza.Stanza) bool { d.n.Add(1); return true }

func benchEnv(b *testing.B, backend string, store mam.Store, cfg mam.Config) *env {
	b.Helper()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var e *env
	if store != nil {
		mem, _ := store.(*mamtest.MemStore)
		e = newEnvStore(b, backend, store, mem, cfg)
	} else {
		e = newEnv(b, backend, cfg)
	}
	for _, full := range []string{"bob@localhost/phone", aliceDesk} {
		j := mustJID(b, full)
		e.r.Bind(j, &discard{})
		e.r.SetPresence(e.ctx, j, parse(b, `<presence/>`))
	}
	return e
}

const benchMessage = `<message type='chat' to='bob@localhost' id='bench'><body>Hello, how are you doing today?</body>` +
	`<origin-id xmlns='urn:xmpp:sid:0' id='5c2a9e3e-1b8e-4a57-9bd4-2f3a1f0e6d7c'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>`

// BenchmarkArchiveHook is the write path of one chat message: the hook
// (prefs from cache, stanza-id, both rows) and delivery, one sender.
func BenchmarkArchiveHook(b *testing.B) {
	for _, backend := range []string{memBackend, sqliteBackend, postgresBackend} {
		b.Run(backend, func(b *testing.B) {
			skipBackend(b, backend)
			e := benchEnv(b, backend, nil, mam.Config{})
			st := parse(b, benchMessage)
			st.SetFrom(mustJID(b, aliceDesk))
			b.ReportAllocs()
			for b.Loop() {
				e.r.Route(e.ctx, st)
			}
		})
	}
}

// BenchmarkArchiveParallel is archive throughput with many concurrent
// senders, with and without group commit. "mem-1ms" is the in-memory
// store with a 1 ms single-writer commit, standing for a disk that syncs.
func BenchmarkArchiveParallel(b *testing.B) {
	for _, backend := range []string{"mem-1ms", sqliteBackend, postgresBackend} {
		for _, maxBatch := range []int{0, -1} {
			name := fmt.Sprintf("%s/batch=%v", backend, maxBatch >= 0)
			b.Run(name, func(b *testing.B) {
				skipBackend(b, backend)
				var store mam.Store
				be := backend
				if backend == "mem-1ms" {
					mem := mamtest.New()
					mem.AppendDelay = time.Millisecond
					store, be = mem, memBackend
				}
				e := benchEnv(b, be, store, mam.Config{MaxBatch: maxBatch})
				b.SetParallelism(16)
				b.ReportAllocs()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					st := parse(b, benchMessage)
					st.SetFrom(mustJID(b, aliceDesk))
					for pb.Next() {
						e.r.Route(e.ctx, st)
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkQueryPage is one 50-result page (the last page, and a page
// after an id) of a 1000-message archive, through the IQ handler.
func BenchmarkQueryPage(b *testing.B) {
	for _, backend := range []string{memBackend, sqliteBackend, postgresBackend} {
		b.Run(backend, func(b *testing.B) {
			skipBackend(b, backend)
			e := benchEnv(b, backend, nil, mam.Config{})
			st := parse(b, benchMessage)
			st.SetFrom(mustJID(b, aliceDesk))
			for range 1000 {
				e.r.Route(e.ctx, st)
			}
			msgs := e.archive("alice@localhost")
			mid := mam.FormatID(msgs[500].ID)
			for _, q := range []struct{ name, set string }{
				{"last", rsm("<max>50</max><before/>")},
				{"after", rsm("<max>50</max><after>" + mid + "</after>")},
			} {
				b.Run(q.name, func(b *testing.B) {
					iq := parse(b, `<iq type='set' id='q' to='alice@localhost'><query xmlns='urn:xmpp:mam:2' queryid='x'>`+q.set+`</query></iq>`)
					iq.SetFrom(mustJID(b, aliceDesk))
					b.ReportAllocs()
					for b.Loop() {
						e.r.Route(e.ctx, iq)
					}
				})
			}
		})
	}
}

func skipBackend(b *testing.B, backend string) {
	if backend == postgresBackend {
		sqltest.SkipWithoutPostgres(b)
	}
}
