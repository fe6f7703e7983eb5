package push

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// memStore is an in-memory Store.
type memStore struct {
	mu    sync.Mutex
	regs  []Registration
	reads int // Registrations calls
}

func (m *memStore) Enable(_ context.Context, reg Registration, max int) ([]Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if reg.Account == "ghost@example.org" {
		return nil, auth.ErrNotFound
	}
	m.regs = slices.DeleteFunc(m.regs, func(r Registration) bool {
		return r.Account == reg.Account && r.JID == reg.JID && r.Node == reg.Node
	})
	var mine []Registration
	for _, r := range m.regs {
		if r.Account == reg.Account {
			mine = append(mine, r)
		}
	}
	var removed []Registration
	for len(mine) >= max {
		removed = append(removed, mine[0])
		old := mine[0]
		m.regs = slices.DeleteFunc(m.regs, func(r Registration) bool {
			return r.Account == old.Account && r.JID == old.JID && r.Node == old.Node
		})
		mine = mine[1:]
	}
	m.regs = append(m.regs, reg)
	return removed, nil
}

func (m *memStore) Disable(_ context.Context, account, jid, node string) ([]Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var gone []Registration
	m.regs = slices.DeleteFunc(m.regs, func(r Registration) bool {
		if r.Account == account && r.JID == jid && (node == "" || r.Node == node) {
			gone = append(gone, r)
			return true
		}
		return false
	})
	return gone, nil
}

func (m *memStore) Registrations(_ context.Context, account string) ([]Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	var out []Registration
	for _, r := range m.regs {
		if r.Account == account {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) Record(_ context.Context, account, jid, node string, o Outcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.regs {
		r := &m.regs[i]
		if r.Account == account && r.JID == jid && r.Node == node {
			if o.Err == "" {
				r.LastSuccess, r.Errors = o.At, 0
			} else {
				r.LastError, r.LastErrorText = o.At, o.Err
				r.Errors++
			}
			return nil
		}
	}
	return ErrNotFound
}

// fakeRouter records publishes and answers them with answer.
type fakeRouter struct {
	mu     sync.Mutex
	sent   []*stanza.Stanza
	bound  map[string]bool
	answer func(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error)
}

func newFakeRouter() *fakeRouter {
	return &fakeRouter{bound: map[string]bool{}}
}

func (f *fakeRouter) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	f.mu.Lock()
	f.sent = append(f.sent, iq)
	answer := f.answer
	f.mu.Unlock()
	if answer != nil {
		return answer(ctx, iq)
	}
	return iq.Result(nil), nil
}

func (f *fakeRouter) Resource(full jid.JID) (router.Resource, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bound[full.String()] {
		return router.Resource{JID: full}, true
	}
	return router.Resource{}, false
}

func (f *fakeRouter) bind(full string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bound[full] = on
}

func (f *fakeRouter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

func (f *fakeRouter) last() *stanza.Stanza {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return nil
	}
	return f.sent[len(f.sent)-1]
}

// waitIdle waits for the goroutines of s (loads and publishes): events
// for loaded accounts start their publishes before they return, and the
// test drives all events, so afterwards every publish they caused has
// been answered and acted on.
func waitIdle(t testing.TB, s *Service) {
	t.Helper()
	s.wg.Wait()
}

// metricsRecorder counts outcomes.
type metricsRecorder struct {
	mu       sync.Mutex
	outcomes map[string]int
	sent     int
}

func (m *metricsRecorder) PushSent(time.Duration) {
	m.mu.Lock()
	m.sent++
	m.mu.Unlock()
}

func (m *metricsRecorder) PushOutcome(o string) {
	m.mu.Lock()
	if m.outcomes == nil {
		m.outcomes = map[string]int{}
	}
	m.outcomes[o]++
	m.mu.Unlock()
}

func (m *metricsRecorder) get(o string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.outcomes[o]
}
