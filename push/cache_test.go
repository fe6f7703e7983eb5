package push

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// BenchmarkCacheNoRegistrations reports the heap the service keeps per
// account without push registrations once a session of it asked for its
// resumption time (ResumePolicy, at every <enable resume='true'/>):
// b.N distinct accounts.
func BenchmarkCacheNoRegistrations(b *testing.B) {
	s := New(Config{}, &memStore{}, newFakeRouter(), routertest.Logger())
	defer s.Close(context.Background())
	fulls := make([]jid.JID, b.N)
	for i := range fulls {
		fulls[i] = jid.MustParse(fmt.Sprintf("user%d@example.com/phone", i))
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	for _, full := range fulls {
		s.ResumePolicy(context.Background(), full, 0, time.Minute)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(b.N), "heap-B/account")
	if len(s.accounts) != b.N {
		b.Fatalf("%d accounts cached", len(s.accounts))
	}
	runtime.KeepAlive(s)
	runtime.KeepAlive(fulls)
}

// entry returns the cache entry of bare and whether it is the shared
// entry of accounts without registrations.
func (h *harness) entry(bare string) (a *account, shared bool) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	a = h.s.accounts[bare]
	if len(h.s.none.devices) != 0 {
		h.t.Fatalf("the shared empty entry has devices")
	}
	return a, a != nil && a == h.s.none
}

// TestCacheNoRegistrations: an account without registrations is cached
// as the shared empty entry (no store read per lookup, no memory of its
// own beyond the map entry) and hibernations of its sessions are not
// remembered; enabling push gives it an entry of its own that wakes the
// device; disabling (by the client, or by the app server's rejection)
// returns it to the shared entry; enabling again works.
func TestCacheNoRegistrations(t *testing.T) {
	h := newHarness(t, Config{})
	const other = "romeo@example.com"
	for _, bare := range []string{user, other} {
		if d := h.s.ResumePolicy(t.Context(), mustJID(t, bare+"/phone"), 0, time.Minute); d != time.Minute {
			t.Fatalf("%s: resumption time %v", bare, d)
		}
		if _, shared := h.entry(bare); !shared {
			t.Fatalf("%s: not the shared empty entry", bare)
		}
	}
	// Cached: more sessions and stanzas of these accounts read nothing.
	for range 3 {
		h.s.ResumePolicy(t.Context(), mustJID(t, other+"/laptop"), 0, time.Minute)
		h.s.MessageStored(t.Context(), mustJID(t, other), h.msg("offline"))
	}
	waitIdle(t, h.s)
	h.store.mu.Lock()
	reads := h.store.reads
	h.store.mu.Unlock()
	if reads != 2 {
		t.Errorf("%d store reads for 2 accounts without registrations, want 2", reads)
	}
	h.hibernate(other + "/phone")
	h.s.mu.Lock()
	asleep := len(h.s.asleep)
	h.s.mu.Unlock()
	if asleep != 0 {
		t.Errorf("%d hibernations remembered for accounts without push", asleep)
	}

	type step struct {
		name   string
		do     func()
		shared bool
		wake   bool // a message queued for the hibernated phone publishes
	}
	rejectNext := false
	h.r.answer = func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		if rejectNext {
			e := stanza.NewError(stanza.ItemNotFound, "")
			return iq.ErrorReply(e), e
		}
		return iq.Result(nil), nil
	}
	publishes := 0
	for _, st := range []step{
		{"enable", func() { h.enable(phone, "tok-1", "") }, false, true},
		{"second device", func() { h.enable(laptop, "tok-2", "") }, false, true},
		{"disable one", func() { h.mustIQ(phone, "<disable xmlns='urn:xmpp:push:0' jid='"+app+"' node='tok-2'/>") }, false, true},
		{"disable all", func() { h.mustIQ(phone, "<disable xmlns='urn:xmpp:push:0' jid='"+app+"'/>") }, true, false},
		{"enable again", func() { h.enable(phone, "tok-3", "") }, false, true},
		{"rejected by the app server", func() {
			rejectNext = true
			h.advance(time.Hour)
			h.queued(phone, h.msg("rejected"))
			publishes++
			rejectNext = false
		}, true, false},
		{"enable after rejection", func() { h.enable(phone, "tok-4", "") }, false, true},
	} {
		st.do()
		a, shared := h.entry(user)
		if a == nil || shared != st.shared {
			t.Fatalf("%s: entry %p, shared %v, want shared %v", st.name, a, shared, st.shared)
		}
		h.advance(time.Hour)
		h.hibernate(phone)
		h.queued(phone, h.msg(st.name))
		if st.wake {
			publishes++
		}
		h.wantPublishes(publishes)
		h.s.Resumed(t.Context(), mustJID(t, phone))
	}
}

func (h *harness) mustIQ(from, payload string) {
	h.t.Helper()
	if err := h.iq(from, payload); err != nil {
		h.t.Fatal(err)
	}
}
