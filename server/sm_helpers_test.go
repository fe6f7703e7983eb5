package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/server"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/sql/sqltest"
)

// startSM starts a server like start, with the session clock replaced by
// clk (nil: the system clock) and smod applied to the session server
// before it serves. The rate limit is lifted: these tests send fast.
func startSM(t *testing.T, mod func(*config.Config), clk *xmpptest.FakeClock, smod func(*session.Server), opts ...server.Option) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Storage.URL = "sqlite:" + filepath.Join(cfg.DataDir, "dormouse.db")
	if os.Getenv("DORMOUSE_TEST_E2E_POSTGRES") != "" {
		cfg.Storage.URL = sqltest.PostgresURL(t)
	}
	cfg.C2S.StanzaRate = 1_000_000
	cfg.C2S.StanzaBurst = 1_000_000
	cfg.C2S.MaxConnectionsPerIP = 0
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return restartSM(t, cfg, clk, smod, opts...)
}

// restartSM starts a server on cfg's data (new ports) with the hooks.
func restartSM(t *testing.T, cfg config.Config, clk *xmpptest.FakeClock, smod func(*session.Server), opts ...server.Option) *testServer {
	t.Helper()
	cfg.C2S.Listen = "127.0.0.1:0"
	cfg.C2S.TLSListen = "127.0.0.1:0"
	cfg.Components.Listen = "127.0.0.1:0"
	cfg.S2S.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = "127.0.0.1:0"
	log := xmpptest.Logger(t)
	srv, err := server.New(context.Background(), cfg, "test", log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ss := srv.SessionsForTest()
	if clk != nil {
		ss.Clock = clk
	}
	if smod != nil {
		smod(ss)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, t: t, cfg: cfg}
	t.Cleanup(func() { ts.stop() })
	return ts
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

// waitFor polls cond (real time, for server-side effects of socket
// events, never for timers) for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	xmpptest.WaitFor(t, what, cond)
}
