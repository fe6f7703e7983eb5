package cluster

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"dormouse.im/dormouse/stanza"
	"github.com/nats-io/nats.go"
	"mellium.im/xmpp/jid"
)

// Fuzz targets of the payloads other nodes send besides delivery batches
// (FuzzTakeBatch) and handover answers (FuzzDecodeAnswer): whatever a
// peer, or anyone publishing on the cluster's subjects, sends, a node
// never panics.

// anyServices collects the stanzas forwarded to this node's services.
type anyServices struct {
	mu  sync.Mutex
	got []*stanza.Stanza
}

func (s *anyServices) Deliver(_ context.Context, st *stanza.Stanza) int {
	s.mu.Lock()
	s.got = append(s.got, st)
	s.mu.Unlock()
	return 1
}

// FuzzServeForwarded: a stanza forwarded to a service (MUC) from another
// node (<prefix>.svc.<node>) reaches the service only if it is a stanza
// with a 'to' domain.
func FuzzServeForwarded(f *testing.F) {
	f.Add([]byte("<message to='room@conference.example.org' from='a@example.org/r' type='groupchat'><body>hi</body></message>"))
	f.Add([]byte("<presence to='room@conference.example.org/nick'/>"))
	f.Add([]byte("<iq type='get' id='1'/>"))
	f.Add([]byte("<message><body>"))
	f.Add([]byte(""))
	c, err := New(Config{Node: "a", URL: "nats://unused"}, &fakeRouter{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	c.ctx = context.Background()
	d := &anyServices{}
	c.ServeServices(d)
	f.Fuzz(func(t *testing.T, data []byte) {
		d.mu.Lock()
		d.got = d.got[:0]
		d.mu.Unlock()
		ok := c.serveForwarded(data)
		d.mu.Lock()
		defer d.mu.Unlock()
		if ok != (len(d.got) == 1) || len(d.got) > 1 {
			t.Fatalf("served %v, %d stanzas delivered", ok, len(d.got))
		}
		if ok && d.got[0].To.Domainpart() == "" {
			t.Fatalf("a stanza without a 'to' domain reached the service: %s", data)
		}
	})
}

// recordingAdopter records the sessions a draining node hands to this one.
type recordingAdopter struct {
	mu  sync.Mutex
	got []*Handover
}

func (a *recordingAdopter) Adopt(_ context.Context, ho *Handover) error {
	a.mu.Lock()
	a.got = append(a.got, ho)
	a.mu.Unlock()
	return nil
}

// FuzzHandleAdopt: a session a draining node hands over
// (<prefix>.adopt.<node>) is adopted only if it names another node and
// carries a well-formed session.
func FuzzHandleAdopt(f *testing.F) {
	b, err := json.Marshal(adoptRequest{From: "b", State: wireOf(testHandover(f))})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"from":"a","state":{"id":"x","jid":"a@example.org/r"}}`))
	f.Add([]byte(`{"from":"b","state":{"id":"x","jid":"a@example.org/r","left_ms":-1}}`))
	f.Add([]byte(`{"from":"b","state":{"id":"x","jid":"a@example.org/r","presence":"<presence","queue":[{"xml":"<message/>"}]}}`))
	f.Add([]byte(`{"from":"b"}`))
	c, err := New(Config{Node: "a", URL: "nats://unused"}, &fakeRouter{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	c.ctx = context.Background()
	a := &recordingAdopter{}
	f.Fuzz(func(t *testing.T, data []byte) {
		a.mu.Lock()
		a.got = a.got[:0]
		a.mu.Unlock()
		c.handleAdopt(a, &nats.Msg{Data: data}) // no reply subject: the answer fails
		a.mu.Lock()
		defer a.mu.Unlock()
		if len(a.got) > 1 {
			t.Fatalf("%d adoptions from one request", len(a.got))
		}
		if len(a.got) == 1 {
			ho := a.got[0]
			if ho.ID == "" || ho.JID.Resourcepart() == "" || ho.Left < 0 || ho.Timeout < 0 {
				t.Fatalf("adopted a malformed session %+v from %s", ho, data)
			}
		}
	})
}

// FuzzRegistryEntry: a registry entry of another node (in an update or a
// snapshot) becomes a resource only with a full JID; a malformed presence
// is dropped.
func FuzzRegistryEntry(f *testing.F) {
	f.Add("bob@example.org/phone", "<presence><show>away</show><priority>3</priority></presence>")
	f.Add("bob@example.org", "")
	f.Add("bob@example.org/phone", "<presence")
	f.Add("@/", "<message/>")
	c, err := New(Config{Node: "a", URL: "nats://unused"}, &fakeRouter{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, full, presence string) {
		x := c.resource("b", entry{JID: full, Presence: presence, Available: true})
		if x == nil {
			return
		}
		if x.JID.Resourcepart() == "" {
			t.Fatalf("resource without a resourcepart from %q", full)
		}
		if r, ok := x.Target.(*remote); !ok || r.node != "b" {
			t.Fatalf("target %#v", x.Target)
		}
	})
}

// FuzzHandleHandover: a handover request (<prefix>.resume.<node>) that is
// not well-formed reaches no session.
func FuzzHandleHandover(f *testing.F) {
	f.Add([]byte(`{"id":"ABC.a","account":"alice@example.org","h":3,"from":"b"}`))
	f.Add([]byte(`{"id":"ABC.a","account":"alice@example.org","h":3,"from":"a"}`))
	f.Add([]byte(`{"id":"ABC.a","from":"b.c"}`))
	f.Add([]byte(`[]`))
	c, err := New(Config{Node: "a", URL: "nats://unused"}, &fakeRouter{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	c.ctx = context.Background()
	c.taken = map[string]chan struct{}{}
	s := &refusingSessions{}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := s.calls
		c.handleHandover(s, &nats.Msg{Data: data})
		var req handoverRequest
		if s.calls != before && (json.Unmarshal(data, &req) != nil || !validToken(req.From) || req.From == "a") {
			t.Fatalf("a malformed request reached the sessions: %s", data)
		}
	})
}

// refusingSessions holds no session.
type refusingSessions struct{ calls int }

func (s *refusingSessions) HandOver(context.Context, string, string, uint32, func(jid.JID, *stanza.Stanza) bool) (*Handover, func(bool), error) {
	s.calls++
	return nil, nil, &Refused{}
}
