package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"github.com/nats-io/nats.go"
	"mellium.im/xmpp/jid"
)

// Handover is the state of a XEP-0198 session that moves from the node
// holding it to the node where its client sent <resume/>.
type Handover struct {
	ID      string        // the SM-ID
	JID     jid.JID       // the bound full JID
	InH     uint32        // the server's count of the client's stanzas
	Acked   uint32        // the client's h, applied to Queue
	Timeout time.Duration // the resumption time granted
	Version uint64        // of the session's last persisted record
	// Left is the resumption time left of a hibernated session handed to
	// a peer by a draining node (HandTo); 0 otherwise.
	Left  time.Duration
	Queue []Queued // unacknowledged, then queued, stanzas in order

	// The resource's state in the router and the features.
	Available  bool
	Priority   int8
	Presence   string    // last available presence, packed (router.Resource.Presence)
	Interested bool      // requested the roster
	Directed   []jid.JID // recipients of directed available presence
	Carbons    bool      // XEP-0280 enabled
	BlockList  bool      // retrieved the XEP-0191 block list (gets its pushes)

	from string // the node that gave it (Resume), for Taken
}

// Queued is a queued stanza and the time the session got it (Unix ms).
type Queued struct {
	St *stanza.Stanza
	At int64
}

// Refused is the answer of a node that holds no such session (H is its h
// when it ended recently, if Known), or to an h acknowledging more
// stanzas than were sent (TooHigh; Sent is the server's count).
type Refused struct {
	H       uint32
	Known   bool
	TooHigh bool
	Sent    uint32
}

func (e *Refused) Error() string {
	if e.TooHigh {
		return fmt.Sprintf("cluster: h %d acknowledges more than the %d stanzas sent", e.H, e.Sent)
	}
	return "cluster: no such resumable session"
}

// Sessions is what a node's sessions do for handovers; package server
// implements it over package session.
type Sessions interface {
	// HandOver gives up the resumable session previd of the account
	// (applying the client's h) and returns its state; from then on every
	// stanza delivered to it goes to fwd. release is called once: with
	// taken true when the new node confirmed it took the session (it then
	// unbinds the session here without ending it), false when it did not
	// within a lease and a request timeout (the answer was lost or came
	// too late: the session then ends here and its queue is rescued, as
	// for a session that timed out). It fails with *Refused.
	HandOver(ctx context.Context, previd, account string, h uint32, fwd func(full jid.JID, st *stanza.Stanza) bool) (ho *Handover, release func(taken bool), err error)
}

// Errors of Resume.
var (
	// ErrNotRemote: the SM-ID does not name another node.
	ErrNotRemote = errors.New("cluster: the session is not another node's")
	// ErrUnreachable: the node holding the session is gone or does not
	// answer.
	ErrUnreachable = errors.New("cluster: the node holding the session cannot be reached")
)

// Node returns this node's name.
func (c *Cluster) Node() string { return c.cfg.Node }

// SMIDSuffix is what ends the SM-IDs this node makes: a dot and its name,
// so that any node knows whom to ask for a session (SMIDNode).
func (c *Cluster) SMIDSuffix() string { return "." + c.cfg.Node }

// SMIDNode returns the node named by an SM-ID made with SMIDSuffix, or "".
func SMIDNode(id string) string {
	i := strings.LastIndexByte(id, '.')
	if i < 0 || !validToken(id[i+1:]) {
		return ""
	}
	return id[i+1:]
}

// handoverRequest asks a node for a session: "<resume.node>".
type handoverRequest struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	H       uint32 `json:"h"`
	From    string `json:"from"` // the node that resumes it
}

// handoverAnswer is the answer: State, or Refused.
type handoverAnswer struct {
	State   *handoverWire `json:"state,omitempty"`
	Refused *Refused      `json:"refused,omitempty"`
}

type handoverWire struct {
	ID         string       `json:"id"`
	JID        string       `json:"jid"`
	InH        uint32       `json:"in_h"`
	Acked      uint32       `json:"acked"`
	TimeoutMS  int64        `json:"timeout_ms"`
	Version    uint64       `json:"version,omitempty"`
	LeftMS     int64        `json:"left_ms,omitempty"`
	Queue      []queuedWire `json:"queue,omitempty"`
	Available  bool         `json:"available,omitempty"`
	Priority   int          `json:"priority,omitempty"`
	Presence   string       `json:"presence,omitempty"`
	Interested bool         `json:"interested,omitempty"`
	Directed   []string     `json:"directed,omitempty"`
	Carbons    bool         `json:"carbons,omitempty"`
	BlockList  bool         `json:"blocklist,omitempty"`
}

type queuedWire struct {
	XML string `json:"xml"`
	At  int64  `json:"at"`
}

// encodeHandover encodes the answer carrying ho.
func encodeHandover(ho *Handover) ([]byte, error) {
	b, err := json.Marshal(handoverAnswer{State: wireOf(ho)})
	if err != nil {
		return nil, fmt.Errorf("cluster: encoding a handover: %w", err)
	}
	return b, nil
}

// wireOf is ho as it travels.
func wireOf(ho *Handover) *handoverWire {
	w := &handoverWire{
		ID: ho.ID, JID: ho.JID.String(), InH: ho.InH, Acked: ho.Acked, TimeoutMS: ho.Timeout.Milliseconds(), Version: ho.Version,
		LeftMS:    ho.Left.Milliseconds(),
		Available: ho.Available, Priority: int(ho.Priority), Interested: ho.Interested, Carbons: ho.Carbons,
		BlockList: ho.BlockList,
	}
	w.Presence = ho.Presence
	for _, j := range ho.Directed {
		w.Directed = append(w.Directed, j.String())
	}
	w.Queue = make([]queuedWire, len(ho.Queue))
	for i, q := range ho.Queue {
		w.Queue[i] = queuedWire{XML: string(q.St.AppendXML(nil, stanza.NSClient)), At: q.At}
	}
	return w
}

// decodeAnswer decodes a node's answer to a handover request: the
// session's state, or a *Refused error.
func decodeAnswer(b []byte) (*Handover, error) {
	var a handoverAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("cluster: malformed handover: %w", err)
	}
	switch {
	case a.Refused != nil:
		return nil, a.Refused
	case a.State == nil:
		return nil, errors.New("cluster: malformed handover: no state")
	}
	return fromWire(a.State)
}

// fromWire checks and decodes a handover as it travelled.
func fromWire(w *handoverWire) (*Handover, error) {
	full, err := jid.Parse(w.JID)
	if err != nil || full.Resourcepart() == "" || full.Localpart() == "" {
		return nil, fmt.Errorf("cluster: malformed handover: JID %q", w.JID)
	}
	if w.ID == "" || w.TimeoutMS < 0 || w.LeftMS < 0 {
		return nil, errors.New("cluster: malformed handover: SM-ID or timeout")
	}
	ho := &Handover{
		ID: w.ID, JID: full, InH: w.InH, Acked: w.Acked, Timeout: time.Duration(w.TimeoutMS) * time.Millisecond, Version: w.Version,
		Left:      time.Duration(w.LeftMS) * time.Millisecond,
		Available: w.Available, Priority: priority(w.Priority), Interested: w.Interested, Carbons: w.Carbons, BlockList: w.BlockList,
		Queue: make([]Queued, 0, len(w.Queue)),
	}
	if w.Presence != "" {
		p, err := parseStanza(w.Presence)
		if err != nil {
			return nil, err
		}
		ho.Presence = stanza.Pack(p)
	}
	for _, s := range w.Directed {
		j, err := jid.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("cluster: malformed handover: directed presence to %q: %w", s, err)
		}
		ho.Directed = append(ho.Directed, j)
	}
	for _, q := range w.Queue {
		st, err := parseStanza(q.XML)
		if err != nil {
			return nil, err
		}
		ho.Queue = append(ho.Queue, Queued{St: st, At: q.At})
	}
	return ho, nil
}

func parseStanza(s string) (*stanza.Stanza, error) {
	el, err := xml.Parse([]byte(s), stanza.NSClient)
	if err != nil {
		return nil, fmt.Errorf("cluster: malformed handover stanza: %w", err)
	}
	st, err := stanza.New(el)
	if err != nil {
		return nil, fmt.Errorf("cluster: malformed handover stanza: %w", err)
	}
	return st, nil
}

// ServeHandovers answers the other nodes' requests for this node's
// resumable sessions (<prefix>.resume.<node>) and their confirmations
// (<prefix>.taken.<node>); call it once, after Start.
func (c *Cluster) ServeHandovers(s Sessions) error {
	c.handMu.Lock()
	c.taken = map[string]chan struct{}{}
	c.handMu.Unlock()
	_, err := c.nc.Subscribe(c.subject("resume", c.cfg.Node), func(m *nats.Msg) { c.handleHandover(s, m) })
	if err == nil {
		_, err = c.nc.Subscribe(c.subject("taken", c.cfg.Node), c.handleTaken)
	}
	if err == nil {
		err = c.nc.Flush()
	}
	if err != nil {
		return fmt.Errorf("cluster: subscribe to handover requests: %w", err)
	}
	return nil // the subscriptions are drained with the connection by Close
}

// Taken tells the node that gave ho (Resume) that this node bound the
// session: that node then lets it go for good. It is a request, sent
// again (in the background) until that node answers, for up to a lease:
// without it, that node ends the session after a lease and a request
// timeout, although it lives on here.
func (c *Cluster) Taken(ho *Handover) {
	if ho.from == "" || c.ctx.Err() != nil {
		return
	}
	node, id := ho.from, []byte(ho.ID)
	c.spawn(func() {
		start := c.cfg.Now()
		wait := 50 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
			_, err := c.nc.RequestWithContext(ctx, c.subject("taken", node), id)
			cancel()
			if err == nil {
				return
			}
			if c.ctx.Err() != nil || c.cfg.Now().Sub(start)+wait > c.cfg.Lease {
				c.log.Warn("confirming a handover failed", "peer", node, "err", err)
				return
			}
			select {
			case <-c.ctx.Done():
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Second)
		}
	})
}

func (c *Cluster) handleTaken(m *nats.Msg) {
	c.handMu.Lock()
	ch := c.taken[string(m.Data)]
	delete(c.taken, string(m.Data))
	c.handMu.Unlock()
	if ch == nil {
		return // unknown, or too late: the session ended here (the sender gives up after a lease)
	}
	close(ch)
	if m.Reply != "" {
		if err := m.Respond([]byte{'1'}); err != nil {
			c.log.Warn("answering a handover confirmation failed", "err", err)
		}
	}
}

func (c *Cluster) handleHandover(s Sessions, m *nats.Msg) {
	var req handoverRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || !validToken(req.From) || req.From == c.cfg.Node {
		c.log.Warn("ignoring a malformed handover request", "err", err)
		return
	}
	fwd := func(full jid.JID, st *stanza.Stanza) bool { return c.forward(req.From, full.String(), st) }
	ho, release, err := s.HandOver(c.ctx, req.ID, req.Account, req.H, fwd)
	var ans []byte
	var refused *Refused
	switch {
	case errors.As(err, &refused):
		ans, err = json.Marshal(handoverAnswer{Refused: refused})
	case err == nil:
		ans, err = encodeHandover(ho)
	}
	if release != nil {
		// Waiting for the confirmation before answering: the new node
		// confirms as soon as it has the answer, and handleTaken runs on
		// another goroutine; a confirmation arriving before its waiter
		// would be lost and the session ended here after all.
		taken := make(chan struct{})
		c.handMu.Lock()
		c.taken[ho.ID] = taken
		c.handMu.Unlock()
		c.spawn(func() {
			c.releaseWhenBound(req.From, ho, taken, release)
		})
	}
	if err == nil {
		err = m.Respond(ans)
	}
	if err != nil {
		c.log.Warn("answering a handover request failed", "peer", req.From, "err", err)
	}
}

// forward hands a stanza delivered to a session that moved to node on to
// it. The new node may not have bound the session yet: it retries until
// Config.RequestTimeout.
func (c *Cluster) forward(node, full string, st *stanza.Stanza) bool {
	t := &remote{c: c, node: node, full: full, fwd: true}
	deadline := c.cfg.Now().Add(c.cfg.RequestTimeout)
	wait := 2 * time.Millisecond
	for {
		if t.Deliver(st) {
			return true
		}
		if c.cfg.Now().After(deadline) {
			return false
		}
		select {
		case <-c.ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// releaseWhenBound waits for node's confirmation that it took the session
// ho, then until this node sees the session bound there (the stanzas
// routed here then go there directly), and calls release(true); without
// a confirmation within a lease and a request timeout, release(false).
func (c *Cluster) releaseWhenBound(node string, ho *Handover, taken <-chan struct{}, release func(bool)) {
	deadline := time.NewTimer(c.cfg.Lease + c.cfg.RequestTimeout)
	defer deadline.Stop()
	select {
	case <-taken:
	case <-deadline.C:
		c.handMu.Lock()
		delete(c.taken, ho.ID)
		c.handMu.Unlock()
		c.log.Warn("a handed-over session was not taken by its new node: ending it here", "peer", node, "jid", ho.JID.String())
		release(false)
		return
	case <-c.ctx.Done():
		release(false)
		return
	}
	defer release(true)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if x, ok := c.RemoteResource(ho.JID); ok {
			if r, ok := x.Target.(*remote); ok && r.node == node {
				return
			}
		}
		select {
		case <-c.ctx.Done():
			return
		case <-deadline.C:
			return // taken, but its registry update is late: the routes converge anyway
		case <-tick.C:
		}
	}
}

// Resume asks node for the session previd (SMIDNode names the node that
// made it; a session resumed elsewhere since is held by another): node
// gives it up (applying the client's h) and answers with its state. It
// fails with ErrNotRemote (node is empty or this node), ErrUnreachable or
// *Refused.
func (c *Cluster) Resume(ctx context.Context, node, previd, account string, h uint32) (*Handover, error) {
	if node == "" || node == c.cfg.Node {
		return nil, ErrNotRemote
	}
	c.mu.RLock()
	_, alive := c.views[node]
	c.mu.RUnlock()
	if !alive {
		return nil, fmt.Errorf("%w: %s is not in the cluster", ErrUnreachable, node)
	}
	b, err := json.Marshal(handoverRequest{ID: previd, Account: account, H: h, From: c.cfg.Node})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	m, err := c.nc.RequestWithContext(ctx, c.subject("resume", node), b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, node, err)
	}
	ho, err := decodeAnswer(m.Data)
	if ho != nil {
		ho.from = node
	}
	return ho, err
}
