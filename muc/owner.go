package muc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"dormouse.im/dormouse/stanza"
	"mellium.im/xmpp/jid"
)

// RoomOwner names the node of a cluster that serves a room: its name and
// epoch (a restarted node is a new epoch and owns nothing of the old one).
type RoomOwner struct {
	Node  string
	Epoch int64
}

// OwnerStore records which node serves each room (sql/sqlite and
// sql/postgres: table muc_room_owner). Clustering needs it; a single node
// never calls it.
type OwnerStore interface {
	// RoomOwner returns the recorded owner of room; ok is false if none.
	RoomOwner(ctx context.Context, room string) (owner RoomOwner, ok bool, err error)
	// ClaimRoom records owner as the owner of room if the recorded owner
	// is still prev (no record if prev is nil), atomically, and reports
	// whether it did: of several nodes claiming a room from the same
	// previous owner, exactly one succeeds.
	ClaimRoom(ctx context.Context, room string, prev *RoomOwner, owner RoomOwner) (bool, error)
	// ReleaseRoom deletes the record of room if its owner is owner.
	ReleaseRoom(ctx context.Context, room string, owner RoomOwner) error
	// Room returns one stored room, or ErrNotFound.
	Room(ctx context.Context, room string) (StoredRoom, error)
}

// Cluster is what the service needs of a cluster of nodes (package
// cluster implements it; the server wires it).
type Cluster interface {
	// Self returns this node's name and epoch.
	Self() (node string, epoch int64)
	// Alive reports whether node, in epoch, is a live member of the
	// cluster (this node included).
	Alive(node string, epoch int64) bool
	// Serving reports whether this node's own lease runs, and since when
	// without a break.
	Serving() (since time.Time, ok bool)
	// Forward hands st to the service of node as if it had been received
	// there, and returns once it was handled there; taken is false if the
	// service there declined it (HandleStanza returned an error), err
	// reports a failure to reach it.
	Forward(ctx context.Context, node string, st *stanza.Stanza) (taken bool, err error)
	// Forwarded reports whether ctx is that of a forwarded stanza.
	Forwarded(ctx context.Context) bool
}

// placement decides which node serves each room when the service runs on
// several nodes (SetCluster). A room is served by one node at a time,
// recorded in the OwnerStore: a node serves a room it claimed while its
// own lease has run without a break since the claim; it forwards the
// stanzas of a room whose owner is alive to that owner; it claims a room
// without an owner, or whose owner is not alive, with a compare-and-swap
// on the record, then brings the room back from the store with no
// occupants.
type placement struct {
	c     Cluster
	store OwnerStore
	self  RoomOwner

	// claim serializes the slow path (store reads and claims) so that one
	// node does not claim a room twice at once.
	claim sync.Mutex

	mu     sync.Mutex
	mine   map[string]time.Time // rooms this node claimed, when; guarded by mu
	others map[string]RoomOwner // owners last seen of other rooms; guarded by mu
	closed bool                 // the service closed: claims nothing; guarded by mu
}

// SetCluster makes the service one of several nodes serving the same
// domain, each room served by one of them (see the package
// documentation, Clustering). Call it before serving, after Load.
func (s *Service) SetCluster(c Cluster, store OwnerStore) {
	node, epoch := c.Self()
	s.place = &placement{
		c: c, store: store, self: RoomOwner{node, epoch},
		mine: map[string]time.Time{}, others: map[string]RoomOwner{},
	}
}

// errCutOff answers the stanzas of rooms while this node's lease has
// lapsed: it may not serve them, and cannot reach their owners.
var errCutOff = func() *stanza.Error {
	e := stanza.NewError(stanza.ServiceUnavailable, "this node is cut off from the cluster; try again")
	e.Type = stanza.Wait
	return e
}

// errDeclined is HandleStanza's answer to a stanza another node forwarded
// for a room this node does not serve (any more): the forwarding node
// reads the room's owner again instead of an error going to the sender.
var errDeclined = errors.New("muc: not the room's node")

// routeRoom decides whether this node handles st, a stanza to a room: it
// returns true if so; otherwise it has forwarded st to the room's owner,
// and err says why that failed (answered to the sender), or is
// errDeclined.
func (s *Service) routeRoom(ctx context.Context, st *stanza.Stanza) (local bool, err error) {
	p := s.place
	room := st.To.Bare().String()
	for try := 0; ; try++ {
		owner, err := s.ownerOf(ctx, room, try == 0)
		switch {
		case err != nil && p.c.Forwarded(ctx):
			// Cut off, shutting down, or the store failed: the forwarding
			// node reads the owner again (and may claim the room itself).
			s.log.Debug("muc: declining a forwarded stanza", "room", room, "err", err)
			return false, errDeclined
		case err != nil:
			return false, err
		case owner == p.self:
			return true, nil
		case p.c.Forwarded(ctx):
			// Forwarded here by a node that believed this one served the
			// room: never forwarded again, so that no stanza goes round.
			return false, errDeclined
		}
		taken, err := p.c.Forward(ctx, owner.Node, st)
		if err == nil && taken {
			return false, nil
		}
		p.mu.Lock()
		if p.others[room] == owner {
			delete(p.others, room) // read the record again next time
		}
		p.mu.Unlock()
		if err == nil && try == 0 {
			continue // declined: the room moved; read its record again
		}
		s.log.Warn("muc: forwarding to the room's node failed", "room", room, "node", owner.Node, "taken", taken, "err", err)
		e := stanza.NewError(stanza.ServiceUnavailable, "the room's node did not answer; try again")
		e.Type = stanza.Wait
		return false, e
	}
}

// ownerOf returns the node that serves room, claiming it for this node if
// no live node does. With cached, it trusts what it last learnt of another
// node's claim while that node is alive.
func (s *Service) ownerOf(ctx context.Context, room string, cached bool) (RoomOwner, error) {
	p := s.place
	since, serving := p.c.Serving()
	p.mu.Lock()
	at, mine := p.mine[room]
	other, known := p.others[room]
	closed := p.closed
	p.mu.Unlock()
	if mine && serving && !at.Before(since) && !closed {
		return p.self, nil // the fast path: a room this node serves
	}
	if cached && known && p.c.Alive(other.Node, other.Epoch) {
		return other, nil
	}
	if !serving {
		return RoomOwner{}, errCutOff()
	}
	p.claim.Lock()
	defer p.claim.Unlock()
	return s.claimRoom(ctx, room)
}

// claimRoom returns the owner of room, claiming it for this node if it has
// none that is alive. Under p.claim.
func (s *Service) claimRoom(ctx context.Context, room string) (RoomOwner, error) {
	p := s.place
	for range 3 {
		// The claim counts from before it is made: a lapse of this node's
		// lease after this instant invalidates it.
		at := s.cfg.Now()
		cur, ok, err := p.store.RoomOwner(ctx, room)
		if err != nil {
			return RoomOwner{}, fmt.Errorf("muc: room owner: %w", err)
		}
		if ok && cur != p.self && p.c.Alive(cur.Node, cur.Epoch) {
			p.mu.Lock()
			delete(p.mine, room)
			p.others[room] = cur
			p.mu.Unlock()
			s.forget(room)
			return cur, nil
		}
		p.mu.Lock()
		closed := p.closed
		_, had := p.mine[room]
		p.mu.Unlock()
		if closed {
			e := stanza.NewError(stanza.ServiceUnavailable, "the service is shutting down")
			e.Type = stanza.Wait
			return RoomOwner{}, e
		}
		var prev *RoomOwner
		if ok {
			prev = &cur
		}
		won, err := p.store.ClaimRoom(ctx, room, prev, p.self)
		if err != nil {
			return RoomOwner{}, fmt.Errorf("muc: claim room: %w", err)
		}
		if !won {
			continue // another node was quicker: read again
		}
		// Still this node's record and it held the room before: nobody
		// served it meanwhile, its state is current. Else bring the room
		// back from the store, without occupants.
		if !(ok && cur == p.self && had) {
			if err := s.reload(ctx, room); err != nil {
				_ = p.store.ReleaseRoom(ctx, room, p.self)
				return RoomOwner{}, err
			}
			s.log.Info("muc: serving room", "room", room, "previous", cur.Node)
		}
		p.mu.Lock()
		p.mine[room] = at
		delete(p.others, room)
		p.mu.Unlock()
		return p.self, nil
	}
	e := stanza.NewError(stanza.ResourceConstraint, "the room is changing nodes; try again")
	e.Type = stanza.Wait
	return RoomOwner{}, e
}

// reload replaces this node's copy of room by the stored room (none if it
// is not stored) and makes sure that its new stanza-ids follow those of
// its archive.
func (s *Service) reload(ctx context.Context, key string) error {
	sr, err := s.place.store.Room(ctx, key)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("muc: load room %s: %w", key, err)
	}
	var r *room
	if found {
		j, err := jid.Parse(sr.JID)
		if err != nil {
			return fmt.Errorf("muc: stored room with an invalid JID %q: %w", sr.JID, err)
		}
		r = restoreRoom(j, sr, s.cfg.MaxOccupants)
		if err := s.continueIDs(ctx, r); err != nil {
			return err
		}
	}
	s.mu.Lock()
	old := s.rooms[key]
	if r != nil {
		s.rooms[key] = r
	} else {
		delete(s.rooms, key)
	}
	s.mu.Unlock()
	if old != nil {
		old.mu.Lock()
		old.gone = true
		old.mu.Unlock()
	}
	return nil
}

// forget drops this node's copy of a room another node serves, unless it
// is persistent (listed in disco#items; brought back from the store when
// this node claims it).
func (s *Service) forget(room string) {
	s.mu.Lock()
	r := s.rooms[room]
	s.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	keep := r.cfg.Persistent && len(r.occupants) == 0
	if !keep {
		r.gone = true
	}
	r.mu.Unlock()
	if keep {
		return
	}
	s.mu.Lock()
	if s.rooms[room] == r {
		delete(s.rooms, room)
	}
	s.mu.Unlock()
}

// serves reports whether this node has a valid claim on room (closed or
// not).
func (p *placement) serves(room string) bool {
	since, serving := p.c.Serving()
	p.mu.Lock()
	at, mine := p.mine[room]
	p.mu.Unlock()
	return mine && serving && !at.Before(since)
}

// released gives up this node's record of a room it no longer has (a
// temporary room whose last occupant left, a destroyed room).
func (s *Service) released(ctx context.Context, room string) {
	p := s.place
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.mine, room)
	p.mu.Unlock()
	if err := p.store.ReleaseRoom(ctx, room, p.self); err != nil {
		s.log.Warn("muc: releasing a room", "room", room, "err", err)
	}
}

// releaseAll gives up every room of this node when the service closes, so
// that the other nodes claim them at their next stanza instead of after
// this node's lease.
func (s *Service) releaseAll(ctx context.Context) {
	p := s.place
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closed = true
	rooms := make([]string, 0, len(p.mine))
	for room := range p.mine {
		rooms = append(rooms, room)
	}
	p.mine = map[string]time.Time{}
	p.mu.Unlock()
	for _, room := range rooms {
		if err := p.store.ReleaseRoom(ctx, room, p.self); err != nil {
			s.log.Warn("muc: releasing a room", "room", room, "err", err)
		}
	}
}
