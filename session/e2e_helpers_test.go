package session_test

import (
	"context"
	"crypto/rand"
	"net"
	"sync"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/auth/authtest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/tlsutil"
	"dormouse.im/dormouse/xml"
)

// The end-to-end tests of this package run a session.Server over real
// sockets and TLS with a plain router (answering XEP-0199 pings to the
// server) and accounts in memory: what they test needs no feature. Tests of
// behaviour across features (rescue to offline storage, presence, archive)
// live in package server.

// testServer is a session.Server serving "localhost" on random loopback
// ports, STARTTLS and direct TLS.
type testServer struct {
	*session.Server
	t        *testing.T
	accounts *authtest.MemStore
	addr     string // STARTTLS
	tlsAddr  string // direct TLS
	stopOnce sync.Once
}

// start starts a server; mod may change it before it serves.
func start(t *testing.T, mod func(*session.Server)) *testServer {
	t.Helper()
	log := xmpptest.Logger(t)
	tlsCfg, _, err := tlsutil.LoadOrCreate("", "", t.TempDir(), []string{"localhost"}, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := router.NewMux()
	mux.HandleIQ(router.ToServer, "urn:xmpp:ping", "ping", func(_ context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
		return iq.Result(nil), nil
	})
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	ts := &testServer{t: t, accounts: &authtest.MemStore{}}
	ts.Server = &session.Server{
		Config: session.Config{
			AuthSecret: secret, Hosts: []string{"localhost"}, TLS: tlsCfg, RequireTLS: true,
			StanzaRate: 1_000_000, StanzaBurst: 1_000_000, MaxConnsPerIP: -1,
		},
		Router:   router.New([]string{"localhost"}, mux, log),
		Accounts: ts.accounts,
		Log:      log,
	}
	if mod != nil {
		mod(ts.Server)
	}
	for _, direct := range []bool{false, true} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if direct {
			ts.tlsAddr = l.Addr().String()
		} else {
			ts.addr = l.Addr().String()
		}
		go ts.Serve(l, direct)
	}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	ts.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			ts.t.Errorf("shutdown: %v", err)
		}
	})
}

// users creates accounts with password "secret-<name>".
func (ts *testServer) users(names ...string) {
	ts.t.Helper()
	for _, n := range names {
		c, err := auth.NewCredentials("secret-"+n, 0)
		if err != nil {
			ts.t.Fatal(err)
		}
		if err := ts.accounts.CreateAccount(context.Background(), n+"@localhost", c); err != nil {
			ts.t.Fatal(err)
		}
	}
}

// dial logs in as user with password "secret-<user>" and binds resource.
func (ts *testServer) dial(user, resource string) *xmpptest.Client {
	ts.t.Helper()
	return ts.clients().DialUser(ts.t, user, resource)
}

func (ts *testServer) dialErr(o xmpptest.Options) (*xmpptest.Client, error) {
	return ts.clients().Dial(o)
}

// clients names the client listeners.
func (ts *testServer) clients() xmpptest.Server {
	return xmpptest.Server{Addr: ts.addr, TLSAddr: ts.tlsAddr}
}

// dialSM logs in, binds and enables stream management with resumption.
func (ts *testServer) dialSM(user, resource string) *xmpptest.Client {
	ts.t.Helper()
	return ts.clients().DialSM(ts.t, user, resource)
}

// resume resumes st on a new connection.
func (ts *testServer) resume(user string, st *xmpptest.SMState, direct bool) (*xmpptest.Client, error) {
	return ts.clients().Resume(ts.t, user, st, direct)
}

// rawConn opens a plain TCP connection to the STARTTLS port.
func (ts *testServer) rawConn() (net.Conn, *xml.Decoder) {
	ts.t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	return nc, xml.NewDecoder(nc, xml.Limits{})
}

// expectStanza reads until a top-level element named local arrives.
func expectStanza(t *testing.T, c *xmpptest.Client, local string, pred func(*xml.Element) bool) *xml.Element {
	t.Helper()
	return xmpptest.ExpectStanza(t, c, local, pred)
}

// waitFor polls cond (real time, for effects of socket events) for up to
// 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	xmpptest.WaitFor(t, what, cond)
}
