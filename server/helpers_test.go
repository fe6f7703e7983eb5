package server_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/sql/sqltest"
	"dormouse.im/dormouse/xml"
)

// testServer is a server on random loopback ports with its data in a
// temporary directory.
type testServer struct {
	*server.Server
	t   *testing.T
	cfg config.Config
}

// start starts a server; mod may adjust the configuration.
func start(t *testing.T, mod func(*config.Config), opts ...server.Option) *testServer {
	t.Helper()
	cfg := loopbackConfig(t)
	cfg.Storage.URL = "sqlite:" + filepath.Join(cfg.DataDir, "dormouse.db")
	if os.Getenv("DORMOUSE_TEST_E2E_POSTGRES") != "" {
		cfg.Storage.URL = sqltest.PostgresURL(t)
	}
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return startWith(t, cfg, opts...)
}

// loopbackConfig is the default configuration with its data in a
// temporary directory and every listener on a free loopback port.
func loopbackConfig(tb testing.TB) config.Config {
	cfg := config.Default()
	cfg.DataDir = tb.TempDir()
	cfg.C2S.Listen = "127.0.0.1:0"
	cfg.C2S.TLSListen = "127.0.0.1:0"
	cfg.Components.Listen = "127.0.0.1:0"
	cfg.S2S.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = "127.0.0.1:0"
	return cfg
}

func startWith(t *testing.T, cfg config.Config, opts ...server.Option) *testServer {
	t.Helper()
	log := xmpptest.Logger(t)
	srv, err := server.New(context.Background(), cfg, "test", log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, t: t, cfg: cfg}
	t.Cleanup(func() { ts.stop() })
	return ts
}

func (ts *testServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		ts.t.Errorf("shutdown: %v", err)
	}
}

// addUser creates an account.
func (ts *testServer) addUser(name, password string) {
	ts.t.Helper()
	c, err := auth.NewCredentials(password, 0)
	if err != nil {
		ts.t.Fatal(err)
	}
	if err := ts.Stores.Accounts.CreateAccount(context.Background(), name+"@localhost", c); err != nil {
		ts.t.Fatal(err)
	}
}

func (ts *testServer) addr(name string) string { return ts.Addr(name).String() }

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
	return xmpptest.Server{Addr: ts.addr(server.ListenerC2S), TLSAddr: ts.addr(server.ListenerC2STLS)}
}

// rawConn opens a plain TCP connection to the STARTTLS port.
func (ts *testServer) rawConn() (net.Conn, *xml.Decoder) {
	ts.t.Helper()
	nc, err := net.Dial("tcp", ts.addr(server.ListenerC2S))
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	return nc, xml.NewDecoder(nc, xml.Limits{})
}

// users creates accounts with password "secret-<name>".
func (ts *testServer) users(names ...string) {
	for _, n := range names {
		ts.addUser(n, "secret-"+n)
	}
}

// expectStanza reads until a top-level element named local arrives.
func expectStanza(t *testing.T, c *xmpptest.Client, local string, pred func(*xml.Element) bool) *xml.Element {
	t.Helper()
	return xmpptest.ExpectStanza(t, c, local, pred)
}
