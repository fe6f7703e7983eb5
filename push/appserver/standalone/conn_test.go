package standalone_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"dormouse.im/dormouse/component"
	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/push/appserver/standalone"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
)

const (
	domain = "push.localhost"
	secret = "s3cret"
)

// server is Dormouse's component listener with a router serving localhost,
// alice@localhost/phone bound to a recorder.
type server struct {
	srv   *component.Server
	r     *router.Router
	alice *recorder
	done  chan error
}

func startServer(t *testing.T, addr string, log *slog.Logger) (*server, string) {
	t.Helper()
	r := router.New([]string{"localhost"}, router.NewMux(), log)
	alice := &recorder{ch: make(chan *stanza.Stanza, 16)}
	r.Bind(jid.MustParse("alice@localhost/phone"), alice)
	s := &server{srv: &component.Server{Router: r, Secrets: map[string]string{domain: secret}, Log: log}, r: r, alice: alice, done: make(chan error, 1)}
	var l net.Listener
	var err error
	for range 50 { // the port of a stopped server may take a moment to free
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.srv.Serve(l) }()
	t.Cleanup(func() { s.stop(t) })
	return s, l.Addr().String()
}

func (s *server) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, component.ErrServerClosed) {
		t.Error(err)
	}
	<-s.done
	s.done <- component.ErrServerClosed
}

// recorder is a bound resource that queues what it receives.
type recorder struct{ ch chan *stanza.Stanza }

func (r *recorder) Deliver(st *stanza.Stanza) bool {
	select {
	case r.ch <- st:
		return true
	default:
		return false
	}
}

func (r *recorder) One(t *testing.T) *stanza.Stanza {
	t.Helper()
	select {
	case st := <-r.ch:
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered to alice")
		return nil
	}
}

// echo answers every IQ get with an empty result through the connection,
// and refuses sets.
type echo struct{ c *standalone.Conn }

func (e echo) HandleStanza(ctx context.Context, st *stanza.Stanza) error {
	if st.Kind == stanza.KindIQ && st.Type == stanza.TypeGet {
		return e.c.Send(ctx, st.Result(nil))
	}
	return stanza.NewError(stanza.FeatureNotImplemented, "")
}

func waitUp(t *testing.T, c *standalone.Conn, want bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ch, up := c.Connected()
		if up == want {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("connection up=%v after 10s, want %v", up, want)
		}
	}
}

func run(t *testing.T, cfg standalone.Config) *standalone.Conn {
	t.Helper()
	c := standalone.New(cfg, routertest.Logger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, echo{c}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
	return c
}

func roundTrip(t *testing.T, s *server, id string) {
	t.Helper()
	s.r.Route(t.Context(), routertest.Parse(t, `<iq type='get' id='`+id+`' from='alice@localhost/phone' to='push.localhost'><ping xmlns='urn:xmpp:ping'/></iq>`))
	got := s.alice.One(t)
	if got.Type != stanza.TypeResult || got.ID != id || got.From.String() != domain {
		t.Fatalf("answer %s", got)
	}
	s.r.Route(t.Context(), routertest.Parse(t, `<iq type='set' id='`+id+`s' from='alice@localhost/phone' to='push.localhost'><x xmlns='urn:x'/></iq>`))
	if got := s.alice.One(t); routertest.ErrorCondition(got) != "feature-not-implemented" {
		t.Fatalf("error answer %s", got)
	}
}

func TestConnectAndReconnect(t *testing.T) {
	s, addr := startServer(t, "127.0.0.1:0", routertest.Logger())
	c := run(t, standalone.Config{Addr: addr, Domain: domain, Secret: secret, MinBackoff: 10 * time.Millisecond, KeepAlive: 20 * time.Millisecond})
	waitUp(t, c, true)
	roundTrip(t, s, "1")
	time.Sleep(50 * time.Millisecond) // a few keepalives

	// The server goes away and comes back: the component reconnects.
	s.stop(t)
	waitUp(t, c, false)
	if err := c.Send(t.Context(), routertest.Parse(t, `<message to='alice@localhost' from='push.localhost'/>`)); !errors.Is(err, standalone.ErrNotConnected) {
		t.Errorf("Send while down: %v", err)
	}
	s2, _ := startServer(t, addr, routertest.Logger())
	waitUp(t, c, true)
	roundTrip(t, s2, "2")
}

func TestWrongSecret(t *testing.T) {
	_, addr := startServer(t, "127.0.0.1:0", routertest.Logger())
	c := run(t, standalone.Config{Addr: addr, Domain: domain, Secret: "wrong", MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	time.Sleep(100 * time.Millisecond) // several refused attempts
	if _, up := c.Connected(); up {
		t.Error("connected with a wrong secret")
	}
}
