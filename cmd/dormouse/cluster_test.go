package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/cluster"
	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/router"
	"mellium.im/xmpp/jid"
)

type noSessions struct{}

func (noSessions) Resource(jid.JID) (router.Resource, bool) { return router.Resource{}, false }

// TestClusterStatus: the command hears a running node's heartbeats.
func TestClusterStatus(t *testing.T) {
	addr := natstest.Addr(t)
	subject := natstest.Prefix()
	n, err := cluster.New(cluster.Config{Node: "node-a", URL: "nats://" + addr, Prefix: subject,
		Heartbeat: 100 * time.Millisecond, Lease: time.Second}, noSessions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())

	env := []string{"DORMOUSE_DATA_DIR=" + t.TempDir(), "DORMOUSE_STORAGE_URL=postgres://u@h/db",
		"DORMOUSE_CLUSTER_ENABLED=true", "DORMOUSE_CLUSTER_NATS_URL=nats://" + addr,
		"DORMOUSE_CLUSTER_SUBJECT=" + subject, "DORMOUSE_CLUSTER_HEARTBEAT=100ms", "DORMOUSE_CLUSTER_LEASE=1s"}
	code, out, errOut := cli(t, env, "cluster", "status")
	if code != exitOK || !strings.Contains(out, "round trip") || !strings.Contains(out, "node-a") {
		t.Errorf("cluster status: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = cli(t, []string{"DORMOUSE_DATA_DIR=" + t.TempDir()}, "cluster", "status")
	if code != exitFail || !strings.Contains(errOut, "clustering is off") {
		t.Errorf("cluster status without [cluster]: exit %d, stderr %q", code, errOut)
	}
}
