package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/config"
	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/server"
	"mellium.im/xmpp/jid"
)

// getAdmin returns the status and body of GET path on ts's admin listener.
func getAdmin(t *testing.T, ts *testServer, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + ts.addr(server.ListenerAdmin) + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitAdmin polls GET path until it answers code with a body containing want.
func waitAdmin(t *testing.T, ts *testServer, path string, code int, want string) {
	t.Helper()
	var (
		got  int
		body string
	)
	waitFor(t, path+" answers "+want, func() bool {
		got, body = getAdmin(t, ts, path)
		return got == code && strings.Contains(body, want)
	})
}

// TestReadyzStorage: /readyz fails, naming the storage, once the storage
// is unreachable; /healthz (liveness) still answers.
func TestReadyzStorage(t *testing.T) {
	ts := start(t, nil)
	waitAdmin(t, ts, "/readyz", http.StatusOK, "ready")
	if err := ts.Stores.Close(); err != nil {
		t.Fatal(err)
	}
	waitAdmin(t, ts, "/readyz", http.StatusServiceUnavailable, "storage unavailable")
	if code, body := getAdmin(t, ts, "/healthz"); code != http.StatusOK || !strings.Contains(body, "ok") {
		t.Errorf("/healthz = %d %q", code, body)
	}
}

// TestClusterReadyzNATS: a node cut off from NATS is not ready (the body
// says NATS) until it reconnects; its liveness is unaffected.
func TestClusterReadyzNATS(t *testing.T) {
	n := natstest.Addr(t)
	proxy := newNATSProxy(t, n)
	nodes := startCluster(t, proxy.url())
	n1 := nodes[0]
	waitAdmin(t, n1, "/readyz", http.StatusOK, "ready")
	proxy.cut()
	waitAdmin(t, n1, "/readyz", http.StatusServiceUnavailable, "NATS")
	if code, body := getAdmin(t, n1, "/healthz"); code != http.StatusOK || !strings.Contains(body, "ok") {
		t.Errorf("/healthz while cut off from NATS = %d %q", code, body)
	}
}

// TestClusterDrain: a node shut down (SIGTERM) leaves the cluster at once:
// the other node drops it, and its user goes unavailable for his contacts,
// long before the lease (here 30 s) would have ended.
func TestClusterDrain(t *testing.T) {
	n := natstest.Addr(t)
	cfgs := clusterConfigs(t, "nats://"+n, "nats://"+n)
	for i := range cfgs {
		cfgs[i].Cluster.Lease = config.Duration(30 * time.Second)
	}
	n1, n2 := startWith(t, cfgs[0]), startWith(t, cfgs[1])
	alice, _ := friendsOnTwoNodes(t, n1, n2)
	waitFor(t, "n1 sees n2", func() bool { return len(n1.Cluster.Status().Peers) == 1 })

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	expectStanza(t, alice, "presence", isPresence("unavailable", "bob@localhost/pc"))
	waitFor(t, "n1 drops n2", func() bool { return len(n1.Cluster.Status().Peers) == 0 })
	t.Logf("n1 dropped n2 %v after its shutdown began (lease 30 s)", time.Since(began).Round(time.Millisecond))
	if d := time.Since(began); d > 15*time.Second {
		t.Errorf("n2 was dropped %v after its shutdown began; its lease is 30 s", d)
	}
	if rs := n1.Router.Resources(jid.MustParse("bob@localhost")); len(rs) != 0 {
		t.Errorf("n1 still knows bob's resources %v", rs)
	}
}
