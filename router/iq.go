package router

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// DefaultIQTimeout bounds SendIQ when its context has no deadline.
const DefaultIQTimeout = 30 * time.Second

// DefaultMaxPendingIQs is the number of SendIQ requests that may wait for
// an answer at once, server-wide, unless SetMaxPendingIQs says otherwise.
const DefaultMaxPendingIQs = 10000

// ErrTooManyRequests is returned by SendIQ when too many requests wait for
// answers already.
var ErrTooManyRequests = errors.New("router: too many IQ requests pending")

// pendingKey identifies a pending request by the address the answer comes to
// and the id it carries.
type pendingKey struct {
	id, requester string
}

type pendingIQ struct {
	peer jid.JID // the request's 'to': answers must come from it
	ch   chan *stanza.Stanza
}

// pendingIQs are the server's outstanding IQ requests.
type pendingIQs struct {
	n   atomic.Int32 // len(m), read without the lock on the delivery path
	max int32
	mu  sync.Mutex
	m   map[pendingKey]*pendingIQ
}

// SetMaxPendingIQs bounds the requests SendIQ keeps waiting at once; call
// it before serving.
func (r *Router) SetMaxPendingIQs(n int) { r.pending.max = int32(n) }

// PendingIQs returns how many SendIQ requests wait for an answer.
func (r *Router) PendingIQs() int { return int(r.pending.n.Load()) }

// SendIQ sends the IQ request iq (type get or set, From and To set; an
// empty id is filled in with a random one) through Route and waits for its
// answer, matched by id, by the requester's address, and by the answering
// address (RFC 6120 §8.2.3: it must come from the request's To; a request
// without To is answered by the requester's own server or account). It
// returns the result IQ and a nil error; for an error IQ, the error stanza
// and its *stanza.Error (the router's own bounces, such as
// remote-server-not-found for a domain it cannot reach, arrive the same
// way); when ctx ends first, an error wrapping ctx.Err(). Without a
// deadline on ctx it waits DefaultIQTimeout.
func (r *Router) SendIQ(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	if iq.Kind != stanza.KindIQ || (iq.Type != stanza.TypeGet && iq.Type != stanza.TypeSet) {
		return nil, fmt.Errorf("router: SendIQ needs an iq get or set, not %s", iq.Describe())
	}
	if iq.From.Domainpart() == "" {
		return nil, errors.New("router: SendIQ needs a from address")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultIQTimeout)
		defer cancel()
	}
	if iq.ID == "" {
		iq.SetID(randomID())
	}
	key := pendingKey{iq.ID, iq.From.String()}
	p := &pendingIQ{peer: iq.To, ch: make(chan *stanza.Stanza, 1)}
	if err := r.pending.add(key, p); err != nil {
		return nil, err
	}
	defer r.pending.remove(key, p)
	r.Route(ctx, iq)
	select {
	case reply := <-p.ch:
		if reply.Type == stanza.TypeError {
			e := stanza.ParseError(reply.El)
			if e == nil {
				e = stanza.NewError(stanza.UndefinedCondition, "error reply without an error element")
			}
			return reply, e
		}
		return reply, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("router: no answer from %s to iq %s: %w", iq.To, iq.ID, ctx.Err())
	}
}

func (p *pendingIQs) add(k pendingKey, x *pendingIQ) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	max := p.max
	if max == 0 {
		max = DefaultMaxPendingIQs
	}
	if p.m == nil {
		p.m = map[pendingKey]*pendingIQ{}
	}
	if int32(len(p.m)) >= max {
		return ErrTooManyRequests
	}
	if _, dup := p.m[k]; dup {
		return fmt.Errorf("router: an iq with id %q from %s is already pending", k.id, k.requester)
	}
	p.m[k] = x
	p.n.Store(int32(len(p.m)))
	return nil
}

func (p *pendingIQs) remove(k pendingKey, x *pendingIQ) {
	p.mu.Lock()
	if p.m[k] == x {
		delete(p.m, k)
		p.n.Store(int32(len(p.m)))
	}
	p.mu.Unlock()
}

// answer hands st to the SendIQ waiting for it and reports whether there
// was one. Only results and errors from the requested address count.
func (p *pendingIQs) answer(st *stanza.Stanza) bool {
	if p.n.Load() == 0 || st.Kind != stanza.KindIQ || (st.Type != stanza.TypeResult && st.Type != stanza.TypeError) {
		return false
	}
	k := pendingKey{st.ID, st.To.String()}
	p.mu.Lock()
	x := p.m[k]
	if x == nil || !answersFrom(x.peer, st.From, st.To) {
		p.mu.Unlock()
		return false
	}
	delete(p.m, k)
	p.n.Store(int32(len(p.m)))
	p.mu.Unlock()
	x.ch <- st // buffered, one answer per request
	return true
}

// answersFrom reports whether from may answer a request sent to peer by
// requester (RFC 6120 §8.2.3, §10.3.3): the same address, or, for a
// request without 'to', the requester's own bare JID or domain (or none).
func answersFrom(peer, from, requester jid.JID) bool {
	if peer.Domainpart() != "" {
		return from.Equal(peer)
	}
	return from.Domainpart() == "" || from.Equal(requester.Bare()) || from.Equal(requester.Domain())
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
