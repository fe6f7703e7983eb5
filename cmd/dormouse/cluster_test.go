package main

import (
	"context"
	"regexp"
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
	startNode := func(name string, number int) *cluster.Cluster {
		n, err := cluster.New(cluster.Config{Node: name, Number: number, URL: "nats://" + addr, Prefix: subject,
			Heartbeat: 100 * time.Millisecond, Lease: time.Second}, noSessions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := startNode("node-a", 3)
	defer n.Close(context.Background())

	env := []string{"DORMOUSE_DATA_DIR=" + t.TempDir(), "DORMOUSE_STORAGE_URL=postgres://u@h/db",
		"DORMOUSE_CLUSTER_ENABLED=true", "DORMOUSE_CLUSTER_NATS_URL=nats://" + addr,
		"DORMOUSE_CLUSTER_SUBJECT=" + subject, "DORMOUSE_CLUSTER_HEARTBEAT=100ms", "DORMOUSE_CLUSTER_LEASE=1s"}
	code, out, errOut := cli(t, env, "cluster", "status")
	if code != exitOK || !strings.Contains(out, "round trip") || !regexp.MustCompile(`node-a +3 +0 `).MatchString(out) {
		t.Errorf("cluster status: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A second node with the same number: shown, and the command fails.
	m := startNode("node-b", 3)
	code, out, errOut = cli(t, env, "cluster", "status")
	if code != exitFail || strings.Count(out, "number collision") != 2 || !strings.Contains(errOut, "node_number") {
		t.Errorf("cluster status with a number collision: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// It leaves: no longer listed.
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, env, "cluster", "status")
	if code != exitOK || strings.Contains(out, "node-b") {
		t.Errorf("cluster status after node-b left: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = cli(t, []string{"DORMOUSE_DATA_DIR=" + t.TempDir()}, "cluster", "status")
	if code != exitFail || !strings.Contains(errOut, "clustering is off") {
		t.Errorf("cluster status without [cluster]: exit %d, stderr %q", code, errOut)
	}
}
