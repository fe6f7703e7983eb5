package muc_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/stanza"
)

// fakeCluster is this node ("n1") of a cluster whose other members, their
// liveness and this node's lease the test sets.
type fakeCluster struct {
	mu        sync.Mutex
	alive     map[muc.RoomOwner]bool
	serving   bool
	since     time.Time
	forwarded []string // "node stanza-kind to"
	decline   bool     // Forward answers "not taken"
}

type forwardedKey struct{}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{alive: map[muc.RoomOwner]bool{self: true}, serving: true, since: time.Now().Add(-time.Hour)}
}

var (
	self  = muc.RoomOwner{Node: "n1", Epoch: 1}
	peer  = muc.RoomOwner{Node: "n2", Epoch: 2}
	peer3 = muc.RoomOwner{Node: "n3", Epoch: 3}
)

func (c *fakeCluster) Self() (string, int64) { return self.Node, self.Epoch }

func (c *fakeCluster) Alive(node string, epoch int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.alive[muc.RoomOwner{Node: node, Epoch: epoch}]
}

func (c *fakeCluster) Serving() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.since, c.serving
}

func (c *fakeCluster) Forward(_ context.Context, node string, st *stanza.Stanza) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forwarded = append(c.forwarded, node+" "+st.El.Name.Local+" "+st.To.String())
	return !c.decline, nil
}

func (c *fakeCluster) Forwarded(ctx context.Context) bool { return ctx.Value(forwardedKey{}) != nil }

func (c *fakeCluster) set(f func(c *fakeCluster)) {
	c.mu.Lock()
	f(c)
	c.mu.Unlock()
}

func (c *fakeCluster) takeForwarded() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.forwarded
	c.forwarded = nil
	return out
}

// clusterFixture is a fixture whose service is node n1 of a fake cluster.
func clusterFixture(t *testing.T) (*fixture, *fakeCluster, muc.OwnerStore) {
	t.Helper()
	f := newFixture(t, nil)
	c := newFakeCluster()
	owners := f.store.(muc.OwnerStore)
	f.svc.SetCluster(c, owners)
	return f, c, owners
}

func owner(t *testing.T, owners muc.OwnerStore, room string) muc.RoomOwner {
	t.Helper()
	o, ok, err := owners.RoomOwner(t.Context(), room)
	if err != nil || !ok {
		t.Fatalf("owner of %s: %v %v", room, ok, err)
	}
	return o
}

func claim(t *testing.T, owners muc.OwnerStore, room string, prev *muc.RoomOwner, o muc.RoomOwner) {
	t.Helper()
	if won, err := owners.ClaimRoom(t.Context(), room, prev, o); err != nil || !won {
		t.Fatalf("claim %s for %v: %v %v", room, o, won, err)
	}
}

// TestOwnerForwards: stanzas to a room a live node serves are forwarded
// to it, not handled here; stanzas to the service itself are not.
func TestOwnerForwards(t *testing.T) {
	f, c, owners := clusterFixture(t)
	const room = "coven@" + service
	claim(t, owners, room, nil, peer)
	c.set(func(c *fakeCluster) { c.alive[peer] = true })

	f.Send(alice, `<presence to='`+room+`/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	f.Send(alice, `<message type='groupchat' to='`+room+`'><body>hi</body></message>`)
	if got := f.Recorder(alice).Take(); len(got) != 0 {
		t.Errorf("a room of another node answered here: %v", got)
	}
	want := []string{"n2 presence " + room + "/Alice", "n2 message " + room}
	if got := c.takeForwarded(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("forwarded %q, want %q", got, want)
	}
	f.Send(alice, `<iq type='get' id='d' to='`+service+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if got := f.Recorder(alice).Take(); len(got) != 1 || got[0].Type != stanza.TypeResult {
		t.Errorf("service disco#info: %v", got)
	}
	// Forwarded here by a node that thought this one served it: declined,
	// never forwarded again.
	st := routertest.Parse(t, `<message type='groupchat' from='`+alice+`' to='`+room+`'><body>hi</body></message>`)
	if err := f.svc.HandleStanza(context.WithValue(t.Context(), forwardedKey{}, true), st); err == nil {
		t.Error("a forwarded stanza for another node's room was not declined")
	}
	if got := c.takeForwarded(); len(got) != 0 {
		t.Errorf("forwarded again: %v", got)
	}
}

// TestOwnerTakesOver: a room whose owner is dead is claimed at the next
// stanza and brought back from the store, with its configuration and
// affiliations and no occupants.
func TestOwnerTakesOver(t *testing.T) {
	f, c, owners := clusterFixture(t)
	const room = "coven@" + service
	// Node 2 made the room persistent and members-only, bob a member.
	if err := f.store.SaveRoom(t.Context(), muc.StoredRoom{JID: room, Created: time.Now(),
		Config: muc.RoomConfig{Persistent: true, MembersOnly: true, Name: "Coven"},
		Affiliations: []muc.AffiliationItem{
			{JID: "alice@example.org", Affiliation: muc.Owner},
			{JID: "bob@example.org", Affiliation: muc.Member},
		}}); err != nil {
		t.Fatal(err)
	}
	claim(t, owners, room, nil, peer) // and node 2 is dead

	// bob's self-ping: not joined here (XEP-0410: rejoin).
	r := f.IQ(bob, `<iq type='get' id='p' to='`+room+`/Bob'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if routertest.ErrorCondition(r) != "not-acceptable" {
		t.Errorf("self-ping after the takeover: %v", r)
	}
	if o := owner(t, owners, room); o != self {
		t.Fatalf("owner after the takeover: %v", o)
	}
	if got := f.join(carol, room+"/Carol", ""); len(got) != 1 || routertest.ErrorCondition(got[0]) != "registration-required" {
		t.Errorf("carol joins the members-only room: %v", got)
	}
	got := f.join(bob, room+"/Bob", "")
	if len(got) == 0 || item(only(got, stanza.KindPresence)[0]).AttrValue("affiliation") != "member" {
		t.Errorf("bob rejoins: %v", got)
	}
	if got := c.takeForwarded(); len(got) != 0 {
		t.Errorf("forwarded: %v", got)
	}
}

// TestOwnerLeaseLapse: while this node's lease has lapsed it serves no
// room; once it runs again, it serves a room still recorded as its own
// with its state, and forwards one another node took meanwhile.
func TestOwnerLeaseLapse(t *testing.T) {
	f, c, owners := clusterFixture(t)
	const kept, taken, stale = "kept@" + service, "taken@" + service, "stale@" + service
	f.create(alice, kept, "Alice")
	f.create(alice, taken, "Alice")
	f.create(alice, stale, "Alice")
	f.TakeAll()

	c.set(func(c *fakeCluster) { c.serving = false })
	f.Send(alice, `<message type='groupchat' to='`+kept+`'><body>cut off</body></message>`)
	if r := f.Recorder(alice).One(t); routertest.ErrorCondition(r) != "service-unavailable" {
		t.Errorf("a message while the lease lapsed: %v", r)
	}
	// Node 2 takes over "taken" meanwhile; then this node's lease runs
	// again, from now on.
	claim(t, owners, taken, &self, peer)
	claim(t, owners, stale, &self, peer) // and nothing is sent to it later
	c.set(func(c *fakeCluster) {
		c.alive[peer] = true
		c.serving, c.since = true, time.Now()
	})
	f.Send(alice, `<message type='groupchat' to='`+kept+`'><body>back</body></message>`)
	if got := f.Recorder(alice).Take(); len(got) != 1 || got[0].Type != stanza.TypeGroupchat {
		t.Errorf("alice is still an occupant of the room kept: %v", got)
	}
	f.Send(alice, `<message type='groupchat' to='`+taken+`'><body>moved</body></message>`)
	if got := f.Recorder(alice).Take(); len(got) != 0 {
		t.Errorf("the room taken over answered here: %v", got)
	}
	if got := c.takeForwarded(); len(got) != 1 || got[0] != "n2 message "+taken {
		t.Errorf("forwarded %q", got)
	}
	// Node 2 declines (it gave the room to node 3, alive): the record is
	// read again and the stanza goes to node 3.
	claim(t, owners, taken, &peer, peer3)
	c.set(func(c *fakeCluster) { c.alive[peer3] = true; c.decline = true })
	f.Send(alice, `<message type='groupchat' to='`+taken+`'><body>moved again</body></message>`)
	if got := c.takeForwarded(); len(got) != 2 || got[1] != "n3 message "+taken {
		t.Errorf("forwarded %q", got)
	}
	if r := f.Recorder(alice).One(t); routertest.ErrorCondition(r) != "service-unavailable" {
		t.Errorf("declined twice: %v", r)
	}
	// Shutting down: only the room this node serves says so (332); alice
	// is not this node's occupant of the rooms taken over any more.
	if err := f.svc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := f.Recorder(alice).Take()
	if len(got) != 1 || got[0].From.Bare().String() != kept || !hasStatus(got[0], "332") {
		t.Errorf("on Close alice got %v, want the 332 of %s only", got, kept)
	}
}

// TestOwnerReleases: a temporary room whose last occupant leaves, and the
// rooms of a service that closes, are released.
func TestOwnerReleases(t *testing.T) {
	f, _, owners := clusterFixture(t)
	const temp, kept = "temp@" + service, "kept@" + service
	f.create(alice, temp, "Alice")
	f.create(alice, kept, "Alice")
	f.configure(alice, kept, map[string]string{"persistentroom": "1"})
	f.Send(alice, `<presence type='unavailable' to='`+temp+`/Alice'/>`)
	if _, ok, err := owners.RoomOwner(t.Context(), temp); err != nil || ok {
		t.Errorf("the temporary room is still owned: %v %v", ok, err)
	}
	if o := owner(t, owners, kept); o != self {
		t.Errorf("owner of the persistent room: %v", o)
	}
	if err := f.svc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := owners.RoomOwner(t.Context(), kept); err != nil || ok {
		t.Errorf("a closed service still owns a room: %v %v", ok, err)
	}
}
