package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"dormouse.im/dormouse/router"
	"github.com/nats-io/nats.go"
	"mellium.im/xmpp/jid"
)

// Defaults of Config.
const (
	DefaultPrefix         = "dormouse"
	DefaultHeartbeat      = time.Second
	DefaultLease          = 5 * time.Second
	DefaultRequestTimeout = 2 * time.Second
)

// Config configures a node.
type Config struct {
	// Node names this node, unique in the cluster (no dots, wildcards or
	// spaces: it is a NATS subject token).
	Node string
	// Number is this node's number (1-255), which must differ between
	// nodes (archive ids carry it); heartbeats carry it, and a node that
	// hears its number from another node logs an error. 0: not checked.
	Number int
	// URL lists the NATS servers, comma-separated (nats://host:4222).
	URL string
	// Prefix starts every subject the cluster uses. Default "dormouse".
	Prefix string
	// Heartbeat is the interval of this node's heartbeats. Default 1 s.
	Heartbeat time.Duration
	// Lease is how long a node that sends no heartbeat stays in the
	// others' view. Default 5 s; at least three heartbeats.
	Lease time.Duration
	// RequestTimeout bounds a stanza handed to another node and a snapshot
	// request. Default 2 s.
	RequestTimeout time.Duration
	// Options are extra NATS options (credentials, NKey, TLS).
	Options []nats.Option
	// Gone is called on one surviving node for each resource that was
	// available on a node whose lease ran out (or that restarted): the
	// server sends its unavailable presence to its contacts. May be nil.
	Gone func(ctx context.Context, full jid.JID)
	// State returns what the registry carries of the bound local resource
	// res besides the router's view (carbons, CSI, hibernation); the
	// server calls Router.Changed when it changes. May be nil.
	State func(full jid.JID, res router.Resource) LocalState
	// Conflict is called when another node bound the full JID of the
	// local session t later (RFC 6120 §7.7.2.2: the newer session wins):
	// the server closes t with a conflict stream error. May be nil.
	Conflict func(ctx context.Context, full jid.JID, t router.Target)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// LocalState is the state of a local resource that the registry carries
// for the other nodes besides the router's view.
type LocalState struct {
	Carbons    bool // enabled message carbons (XEP-0280)
	Inactive   bool // the client said it is inactive (XEP-0352)
	Hibernated bool // connection lost, waiting for a resume (XEP-0198)
}

// Router is what the cluster needs from the local router.
type Router interface {
	// Resource returns a resource bound on this node.
	Resource(full jid.JID) (router.Resource, bool)
}

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("cluster: invalid configuration")

// Cluster is one node's membership in a cluster. It implements
// router.Cluster.
type Cluster struct {
	cfg   Config
	r     Router
	log   *slog.Logger
	epoch int64
	nc    *nats.Conn // set by Start
	subs  []*nats.Subscription

	// localMu serializes the changes of this node's registry and their
	// publication, so that peers see them in sequence order. It is never
	// taken while the router's or mu is held.
	localMu sync.Mutex
	local   map[string]entry // by full JID string; guarded by localMu
	seq     uint64           // guarded by localMu

	mu    sync.RWMutex
	views map[string]*view // the other nodes, by name; guarded by mu
	// left is the epoch of each node that announced it was leaving, and
	// when: its late messages of that epoch or older are ignored for a
	// lease (not longer: a node restarted with its clock set back must
	// not be ignored for ever). Guarded by mu.
	left map[string]departure
	// collided is the epoch of each peer heard with this node's number,
	// so that the collision is logged once per peer and epoch. Guarded
	// by mu.
	collided map[string]int64

	svc services // forwarding to services, own lease (service.go)

	handMu sync.Mutex
	taken  map[string]chan struct{} // handovers waiting for their confirmation, by SM-ID; guarded by handMu

	// Cross-node delivery (deliver.go).
	peersMu   sync.RWMutex
	peers     map[string]*peer // senders, by peerKey; guarded by peersMu
	seqHigh   uint64           // the last sequence number of the stopped senders; guarded by peersMu
	statsMu   sync.Mutex
	peerStats map[string]*peerStats // by node; guarded by statsMu
	dedupMu   sync.Mutex
	dedup     map[string]*dedup // by peerKey of the sending node; guarded by dedupMu
	pendings  sync.Pool         // of *pending

	ctx    context.Context
	cancel context.CancelFunc
	closed chan struct{} // closed when the NATS connection is

	// wg counts the node's goroutines; goMu and stopping make sure none
	// starts once Close waits for them (see spawn).
	wg       sync.WaitGroup
	goMu     sync.Mutex
	stopping bool // guarded by goMu
}

// spawn runs f on a goroutine Close waits for, unless Close has begun
// waiting (NATS callbacks and timers may still fire then): it reports
// whether f was started.
func (c *Cluster) spawn(f func()) bool {
	c.goMu.Lock()
	defer c.goMu.Unlock()
	if c.stopping {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

var _ router.Cluster = (*Cluster)(nil)

// New returns a node of a cluster; Start connects it.
func New(cfg Config, r Router, log *slog.Logger) (*Cluster, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case !validToken(cfg.Node):
		return nil, fmt.Errorf("%w: node name %q must be a non-empty NATS subject token", ErrConfig, cfg.Node)
	case !validSubject(cfg.Prefix):
		return nil, fmt.Errorf("%w: subject prefix %q", ErrConfig, cfg.Prefix)
	case cfg.Lease < 3*cfg.Heartbeat:
		// Serving: this node's own lease runs until Lease minus one
		// heartbeat after its last heartbeat heard back was sent, so the
		// next one must come back within Lease minus two heartbeats.
		return nil, fmt.Errorf("%w: the lease (%v) must be at least three heartbeats (%v)", ErrConfig, cfg.Lease, cfg.Heartbeat)
	case cfg.URL == "":
		return nil, fmt.Errorf("%w: no NATS URL", ErrConfig)
	}
	return &Cluster{
		cfg:   cfg,
		r:     r,
		log:   log.With("component", "cluster", "node", cfg.Node),
		epoch: cfg.Now().UnixNano(),
		local: map[string]entry{},
		views: map[string]*view{},

		peers:     map[string]*peer{},
		peerStats: map[string]*peerStats{},
		dedup:     map[string]*dedup{},
		pendings: sync.Pool{New: func() any {
			return &pending{buf: make([]byte, 0, 512), done: make(chan bool, 1)}
		}},
		left:     map[string]departure{},
		collided: map[string]int64{},
	}, nil
}

func validToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}

func validSubject(s string) bool {
	for t := range strings.SplitSeq(s, ".") {
		if !validToken(t) {
			return false
		}
	}
	return true
}

func (c *Cluster) subject(parts ...string) string {
	return c.cfg.Prefix + "." + strings.Join(parts, ".")
}

// Start connects to NATS, subscribes, announces this node and starts its
// heartbeat. It fails if NATS cannot be reached.
func (c *Cluster) Start(ctx context.Context) error {
	opts := append([]nats.Option{
		nats.Name("dormouse " + c.cfg.Node),
		nats.Timeout(c.cfg.RequestTimeout),
		// Publishing while disconnected fails at once instead of
		// buffering: the stanza then goes to offline storage or is
		// bounced, never into a buffer lost with the process.
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// A frozen server shows within about a lease, not minutes.
		nats.PingInterval(max(c.cfg.Lease/2, time.Second)),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed on purpose
				c.log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
		nats.ReconnectHandler(func(*nats.Conn) {
			c.log.Info("reconnected to NATS")
			c.refreshLeases()
		}),
	}, c.cfg.Options...)
	c.closed = make(chan struct{})
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	nc, err := nats.Connect(c.cfg.URL, opts...)
	if err != nil {
		c.cancel()
		return fmt.Errorf("cluster: connect to NATS: %w", err)
	}
	c.nc = nc
	for subj, h := range map[string]nats.MsgHandler{
		c.subject("deliver", c.cfg.Node): c.handleDeliver,
		c.subject("fwd", c.cfg.Node):     c.handleForwarded,
		c.subject("snap", c.cfg.Node):    c.handleSnapshot,
		c.subject("reg"):                 c.handleUpdate,
		c.subject("hb"):                  c.handleHeartbeat,
		c.subject("svc", c.cfg.Node):     c.handleService,
	} {
		sub, err := nc.Subscribe(subj, h)
		if err != nil {
			nc.Close()
			return fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		c.subs = append(c.subs, sub)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return fmt.Errorf("cluster: NATS: %w", err)
	}
	c.beat()
	c.wg.Add(1)
	go c.heartbeats()
	c.log.Info("joined the cluster", "nats", nc.ConnectedUrlRedacted(), "epoch", c.epoch)
	return nil
}

// Close leaves the cluster: it announces that this node is leaving (a
// heartbeat marked leaving), so that its peers drop its view at once
// instead of at its lease's end, and have the unavailable presence of
// the resources it still listed sent (its sessions have normally unbound
// by then: the server shuts them down first). It lets the messages being
// handled finish (NATS drain, bounded by ctx) and waits for the node's
// goroutines.
func (c *Cluster) Close(ctx context.Context) error {
	if c.nc == nil {
		return nil
	}
	c.cancel()
	var err error
	if c.nc.IsConnected() {
		c.leave(ctx)
		err = c.nc.Drain()
	}
	if err != nil || !c.nc.IsConnected() {
		c.nc.Close() // cut off from NATS: nothing to drain
	}
	select {
	case <-c.closed:
	case <-ctx.Done():
		c.nc.Close()
		err = ctx.Err()
	}
	c.goMu.Lock()
	c.stopping = true
	c.goMu.Unlock()
	c.wg.Wait()
	if err != nil {
		return fmt.Errorf("cluster: leaving: %w", err)
	}
	return nil
}

// heartbeats publishes this node's heartbeat and ends the leases of the
// nodes that stopped sending theirs.
func (c *Cluster) heartbeats() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.beat()
			c.expire()
			c.dropIdlePeers(c.inView)
		}
	}
}

type heartbeat struct {
	Node     string `json:"node"`
	Number   int    `json:"number,omitempty"`
	Epoch    int64  `json:"epoch"`
	Seq      uint64 `json:"seq"`
	Sessions int    `json:"sessions"`
	// Leaving: the node's last heartbeat of this epoch; drop its view.
	Leaving bool  `json:"leaving,omitempty"`
	Sent    int64 `json:"sent,omitempty"` // Unix ns, by the sender's clock (Serving)
}

// leave publishes this node's last heartbeat, marked leaving, and waits
// (bounded by ctx) until the NATS server has it.
func (c *Cluster) leave(ctx context.Context) {
	c.localMu.Lock()
	hb := heartbeat{Node: c.cfg.Node, Number: c.cfg.Number, Epoch: c.epoch, Seq: c.seq, Sessions: len(c.local), Leaving: true}
	c.localMu.Unlock()
	c.publish(c.subject("hb"), hb)
	if _, ok := ctx.Deadline(); !ok { // FlushWithContext needs one
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		c.log.Warn("announcing the departure failed: peers drop this node at its lease's end", "err", err)
		return
	}
	c.log.Info("left the cluster")
}

func (c *Cluster) beat() {
	c.localMu.Lock()
	hb := heartbeat{Node: c.cfg.Node, Number: c.cfg.Number, Epoch: c.epoch, Seq: c.seq, Sessions: len(c.local)}
	c.localMu.Unlock()
	hb.Sent = c.cfg.Now().UnixNano()
	c.publish(c.subject("hb"), hb)
}

func (c *Cluster) publish(subj string, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		err = c.nc.Publish(subj, b)
	}
	if err != nil {
		// Peers notice the gap by the sequence of the next heartbeat
		// that gets through and fetch a snapshot. While cut off, every
		// heartbeat fails: the disconnection was logged once.
		level := slog.LevelWarn
		if !c.nc.IsConnected() {
			level = slog.LevelDebug
		}
		c.log.Log(c.ctx, level, "publishing failed", "subject", subj, "err", err)
	}
}

// refreshLeases restarts the leases of every peer: while this node was
// cut off from NATS it heard no heartbeats, which says nothing about the
// peers (unreachable is not dead).
func (c *Cluster) refreshLeases() {
	now := c.cfg.Now()
	c.mu.Lock()
	for _, v := range c.views {
		v.seen = now
	}
	c.mu.Unlock()
}

// expire ends the views of the nodes whose lease ran out.
func (c *Cluster) expire() {
	if !c.nc.IsConnected() {
		return // cut off: no heartbeat tells anything
	}
	now := c.cfg.Now()
	var lost []jid.JID
	c.mu.Lock()
	for node, v := range c.views {
		if now.Sub(v.seen) > c.cfg.Lease {
			c.log.Warn("node lease expired", "peer", node, "sessions", len(v.res))
			lost = v.appendAvailable(lost)
			delete(c.views, node)
		}
	}
	for node, d := range c.left {
		if now.Sub(d.at) > c.cfg.Lease { // as viewForLocked: ignored for a lease only
			delete(c.left, node)
		}
	}
	c.mu.Unlock()
	c.lost(lost)
}

// lost has the unavailable presence of the resources of a vanished node
// sent, by one node only: the first by name of those still alive.
func (c *Cluster) lost(res []jid.JID) {
	if len(res) == 0 || c.cfg.Gone == nil {
		return
	}
	c.mu.RLock()
	first := true
	for node := range c.views {
		if node < c.cfg.Node {
			first = false
		}
	}
	// A session the node handed to a live node before leaving lives on.
	gone := res[:0:0]
	for _, full := range res {
		if first && !c.boundOnPeerLocked(full) {
			gone = append(gone, full)
		}
	}
	c.mu.RUnlock()
	for _, full := range gone {
		if _, ok := c.r.Resource(full); !ok {
			c.cfg.Gone(c.ctx, full)
		}
	}
}

// Peer describes another node as this node sees it.
type Peer struct {
	Node     string
	Number   int // its cluster.node_number (0: not announced)
	Epoch    int64
	Sessions int
	LastSeen time.Time
}

// Status is a node's view of the cluster.
type Status struct {
	Node      string
	Number    int // this node's number (0: not checked)
	Epoch     int64
	Sessions  int
	Connected bool
	RTT       time.Duration // NATS round trip (0 if not connected)
	Peers     []Peer
	// Collisions names the peers that announce this node's number
	// (archive ids may collide: a configuration error).
	Collisions []string
}

// Ready reports whether this node can reach NATS: nil, or an error saying
// why not (for /readyz).
func (c *Cluster) Ready() error {
	if c.nc == nil {
		return errors.New("cluster: not started")
	}
	if st := c.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("cluster: NATS %s", strings.ToLower(st.String()))
	}
	return nil
}

// Status returns this node's view of the cluster, measuring the NATS
// round trip.
func (c *Cluster) Status() Status {
	c.localMu.Lock()
	st := Status{Node: c.cfg.Node, Number: c.cfg.Number, Epoch: c.epoch, Sessions: len(c.local)}
	c.localMu.Unlock()
	st.Connected = c.nc.IsConnected()
	if st.Connected {
		st.RTT, _ = c.nc.RTT()
	}
	c.mu.RLock()
	for node, v := range c.views {
		st.Peers = append(st.Peers, Peer{Node: node, Number: v.number, Epoch: v.epoch, Sessions: len(v.res), LastSeen: v.seen})
		if c.cfg.Number != 0 && v.number == c.cfg.Number {
			st.Collisions = append(st.Collisions, node)
		}
	}
	c.mu.RUnlock()
	return st
}
