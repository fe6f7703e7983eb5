package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Observation is the cluster as an outside observer hears it on NATS.
type Observation struct {
	Server string        // the NATS server connected to (credentials redacted)
	RTT    time.Duration // round trip to it
	Nodes  []Peer        // the nodes whose heartbeats were heard, by name
}

// Observe connects to NATS at url (comma-separated servers) and listens for
// the heartbeats of the nodes of the cluster using subject prefix for the
// duration listen (two heartbeats or more hear every live node).
func Observe(ctx context.Context, url, prefix string, listen time.Duration, opts ...nats.Option) (Observation, error) {
	var o Observation
	if !validSubject(prefix) {
		return o, fmt.Errorf("%w: subject prefix %q", ErrConfig, prefix)
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("dormouse cluster status"), nats.Timeout(5 * time.Second)}, opts...)...)
	if err != nil {
		return o, fmt.Errorf("cluster: connect to NATS: %w", err)
	}
	defer nc.Close()
	o.Server = nc.ConnectedUrlRedacted()
	if o.RTT, err = nc.RTT(); err != nil {
		return o, fmt.Errorf("cluster: NATS round trip: %w", err)
	}
	var mu sync.Mutex
	nodes := map[string]Peer{}
	sub, err := nc.Subscribe(prefix+".hb", func(m *nats.Msg) {
		var hb heartbeat
		if json.Unmarshal(m.Data, &hb) != nil || !validToken(hb.Node) {
			return
		}
		mu.Lock()
		switch p, ok := nodes[hb.Node]; {
		case ok && p.Epoch > hb.Epoch:
		case hb.Leaving:
			delete(nodes, hb.Node)
		default:
			nodes[hb.Node] = Peer{Node: hb.Node, Number: hb.Number, Epoch: hb.Epoch, Sessions: hb.Sessions, LastSeen: time.Now()}
		}
		mu.Unlock()
	})
	if err != nil {
		return o, fmt.Errorf("cluster: subscribe: %w", err)
	}
	t := time.NewTimer(listen)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return o, ctx.Err()
	case <-t.C:
	}
	_ = sub.Unsubscribe()
	mu.Lock()
	for _, p := range nodes {
		o.Nodes = append(o.Nodes, p)
	}
	mu.Unlock()
	slices.SortFunc(o.Nodes, func(a, b Peer) int { return strings.Compare(a.Node, b.Node) })
	return o, nil
}
