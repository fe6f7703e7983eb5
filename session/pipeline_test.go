package session_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/sequence"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// commitGate is a StageArchive hook standing in for an archive whose
// commits block: it records the messages in the order they take their
// place (as mam's batcher does, it calls sequence.Release once queued), then
// holds the message whose id is blocked until open is closed.
type commitGate struct {
	blocked string
	open    chan struct{}

	mu    sync.Mutex
	order []string // message ids, in the order they entered
}

func (g *commitGate) hook(ctx context.Context, rt *router.Routing) error {
	g.mu.Lock()
	g.order = append(g.order, rt.St.ID)
	g.mu.Unlock()
	sequence.Release(ctx)
	if rt.St.ID == g.blocked {
		<-g.open
	}
	return nil
}

func (g *commitGate) entered() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.order)
}

// startGated starts a server whose router runs g as its StageArchive hook.
func startGated(t *testing.T, g *commitGate) *testServer {
	return start(t, func(s *session.Server) {
		mux := router.NewMux()
		mux.HandleIQ(router.ToServer, "urn:xmpp:ping", "ping", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
			return iq.Result(nil), nil
		})
		mux.Use(router.StageArchive, router.Hook{Name: "gate", Func: g.hook})
		s.Router = router.New([]string{"localhost"}, mux, s.Log)
	})
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "m" + strconv.Itoa(i)
	}
	return out
}

// receiveInOrder reads n messages on c and checks their ids are m0…m(n-1).
func receiveInOrder(t *testing.T, c *xmpptest.Client, n int) {
	t.Helper()
	for i := range n {
		el := expectStanza(t, c, "message", nil)
		if got, want := el.AttrValue("id"), "m"+strconv.Itoa(i); got != want {
			t.Fatalf("message %d: got id %s, want %s", i, got, want)
		}
	}
}

// TestPipelineOrderAndAcks: while a client's first message waits for its
// (blocked) commit, its next messages reach the archive stage (they are
// pipelined), but nothing is delivered out of order, an <r/> and an IQ wait
// for the messages in flight, and the h answered covers only messages
// whose commit returned.
func TestPipelineOrderAndAcks(t *testing.T) {
	g := &commitGate{blocked: "m0", open: make(chan struct{})}
	ts := startGated(t, g)
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	alice.ManualSM = true
	bob := ts.dial("bob", "pc")

	const n = 5
	for i := range n {
		alice.SendRaw(fmt.Sprintf("<message to='bob@localhost/pc' type='chat' id='m%d'><body>%d</body></message>", i, i))
	}
	waitFor(t, "the messages in the archive stage", func() bool { return len(g.entered()) == n })
	alice.SendRaw("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
	alice.RequestAck()
	if el := alice.NoMore(300 * time.Millisecond); el != nil {
		t.Fatalf("while m0's commit is blocked, alice got %s", el)
	}
	if el := bob.NoMore(100 * time.Millisecond); el != nil {
		t.Fatalf("while m0's commit is blocked, bob got %s", el)
	}
	close(g.open)
	receiveInOrder(t, bob, n)
	el := expectStanza(t, alice, "iq", func(e *xml.Element) bool { return e.AttrValue("id") == "p1" })
	if el.AttrValue("type") != "result" {
		t.Fatalf("ping: %s", el)
	}
	a := expectStanza(t, alice, "a", func(e *xml.Element) bool { return e.Name.Space == nsSM })
	if a.AttrValue("h") != strconv.Itoa(n+1) {
		t.Errorf("server's h = %s, want %d", a.AttrValue("h"), n+1)
	}
	if got := g.entered(); !slices.Equal(got, ids(n)) {
		t.Errorf("archive order %v", got)
	}
}

// TestPipelineBurst: a burst of 200 messages arrives in order, and takes
// its place in the archive in order.
func TestPipelineBurst(t *testing.T) {
	g := &commitGate{open: make(chan struct{})}
	ts := startGated(t, g)
	ts.users("alice", "bob")
	alice := ts.dial("alice", "phone")
	bob := ts.dial("bob", "pc")
	const n = 200
	go func() {
		for i := range n {
			alice.SendRaw(fmt.Sprintf("<message to='bob@localhost/pc' type='chat' id='m%d'><body>%d</body></message>", i, i))
		}
	}()
	receiveInOrder(t, bob, n)
	if got := g.entered(); !slices.Equal(got, ids(n)) {
		t.Errorf("archive order %v", got)
	}
}

// TestPipelineResume: a connection cut in the middle of a burst, while
// messages are in flight behind a blocked commit, is resumed: <resumed/>
// counts every message the old connection handed on, the client resends
// the rest, and the recipient gets each message once, in order.
func TestPipelineResume(t *testing.T) {
	g := &commitGate{blocked: "m100", open: make(chan struct{})}
	ts := startGated(t, g)
	ts.users("alice", "bob")
	alice := ts.dialSM("alice", "phone")
	bob := ts.dial("bob", "pc")
	const n = 200
	for i := range n {
		if err := alice.SendStanza(fmt.Sprintf("<message to='bob@localhost/pc' type='chat' id='m%d'><body>%d</body></message>", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "messages in flight behind m100", func() bool { return len(g.entered()) > 101 })
	alice.Cut()
	type result struct {
		c   *xmpptest.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ts.resume("alice", alice.SM, false)
		done <- result{c, err}
	}()
	// The commit returns a little later: the end of the old connection
	// and the resumption wait for the messages in flight (the test holds
	// whichever way the timing falls).
	time.AfterFunc(200*time.Millisecond, func() { close(g.open) })
	r := <-done
	if r.err != nil {
		t.Fatalf("resume: %v", r.err)
	}
	// m100 and the messages behind it were in flight when the connection
	// was cut: the server's h counts them.
	if h := alice.SM.ServerH(); h < uint32(len(g.entered()[:101])) || h > n {
		t.Errorf("<resumed/> h = %d, want 101…%d", h, n)
	}
	t.Logf("<resumed/> h = %d", alice.SM.ServerH())
	receiveInOrder(t, bob, n)
	if el := bob.NoMore(300 * time.Millisecond); el != nil {
		t.Fatalf("after the burst, bob got %s", el)
	}
	if got := g.entered(); !slices.Equal(got, ids(n)) {
		t.Errorf("archive order %v", got)
	}
}

// TestPipelinePicked: Server.Pipeline picks the messages that are
// pipelined. One it does not pick is routed by the reader: it waits for a
// pipelined message in flight before it (the order holds), and the next
// message waits for it.
func TestPipelinePicked(t *testing.T) {
	g := &commitGate{blocked: "m0", open: make(chan struct{})}
	ts := start(t, func(s *session.Server) {
		mux := router.NewMux()
		mux.Use(router.StageArchive, router.Hook{Name: "gate", Func: g.hook})
		s.Router = router.New([]string{"localhost"}, mux, s.Log)
		s.Pipeline = func(el *xml.Element) bool { return el.AttrValue("id") != "m1" && el.AttrValue("id") != "m2" }
	})
	ts.users("alice", "bob")
	alice := ts.dial("alice", "phone")
	bob := ts.dial("bob", "pc")
	for i := range 4 {
		alice.SendRaw(fmt.Sprintf("<message to='bob@localhost/pc' type='chat' id='m%d'><body>%d</body></message>", i, i))
	}
	// m0 waits for its commit, in flight; m1 is not pipelined, so it
	// waits for m0 to be routed before it is handled, and m2 and m3
	// behind it.
	waitFor(t, "m0 in the archive stage", func() bool { return len(g.entered()) == 1 })
	if el := bob.NoMore(300 * time.Millisecond); el != nil {
		t.Fatalf("while m0's commit is blocked, bob got %s", el)
	}
	if got := g.entered(); !slices.Equal(got, []string{"m0"}) {
		t.Fatalf("while m0's commit is blocked, the archive stage saw %v, want [m0]", got)
	}
	close(g.open)
	receiveInOrder(t, bob, 4)
	if got := g.entered(); !slices.Equal(got, ids(4)) {
		t.Errorf("archive order %v", got)
	}
}
