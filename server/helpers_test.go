package server_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/s2s"
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
func start(t *testing.T, mod func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.C2S.Listen = "127.0.0.1:0"
	cfg.C2S.TLSListen = "127.0.0.1:0"
	cfg.Components.Listen = "127.0.0.1:0"
	cfg.S2S.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
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
	return startWith(t, cfg)
}

func startWith(t *testing.T, cfg config.Config) *testServer {
	t.Helper()
	return startWithResolver(t, cfg, nil)
}

// startWithResolver starts a server whose federation resolves domains
// with resolver (nil: the system's).
func startWithResolver(t *testing.T, cfg config.Config, resolver s2s.Resolver) *testServer {
	t.Helper()
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	srv, err := server.NewWithResolver(context.Background(), cfg, "test", resolver, log)
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

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
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
	c, err := ts.dialErr(xmpptest.Options{User: user, Password: "secret-" + user, Resource: resource})
	if err != nil {
		ts.t.Fatalf("dial %s/%s: %v", user, resource, err)
	}
	ts.t.Cleanup(func() { c.Conn.Close() })
	return c
}

func (ts *testServer) dialErr(o xmpptest.Options) (*xmpptest.Client, error) {
	if o.Addr == "" {
		o.Addr = ts.addr(server.ListenerC2S)
		if o.DirectTLS {
			o.Addr = ts.addr(server.ListenerC2STLS)
		}
	}
	if o.Domain == "" {
		o.Domain = "localhost"
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return xmpptest.Dial(ctx, o)
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
	el, _, err := c.Expect(func(e *xml.Element) bool {
		return e.Name.Local == local && (pred == nil || pred(e))
	})
	if err != nil {
		t.Fatalf("waiting for <%s>: %v", local, err)
	}
	return el
}
