package cluster

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"dormouse.im/dormouse/internal/natstest"
	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"github.com/nats-io/nats.go"
	"mellium.im/xmpp/jid"
)

// counter is a session that counts what it takes.
type counter struct{ n atomic.Int64 }

func (c *counter) Deliver(*stanza.Stanza) bool { c.n.Add(1); return true }

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// deliverInFlight calls deliver b.N times from inflight goroutines and
// reports the process's CPU time per call; a call returning false fails b.
func deliverInFlight(b *testing.B, inflight int, deliver func() bool) {
	b.ReportAllocs()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	b.ResetTimer()
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if !deliver() {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d stanzas not delivered", n)
	}
}

// BenchmarkRemoteDeliver measures the NATS hop of one stanza from node b
// to a session on node a (both nodes in this process, the NATS server
// outside it), with 1 and 64 stanzas in flight (as many goroutines each
// waiting for its answer, like sessions routing at once): "batched" is
// this package's Target (one sender per peer, batches); "per-stanza" is
// the previous design rebuilt here as a baseline: one NATS request per
// stanza, "<jid>\x00<stanza>", answered "1" or "0". allocs/op and
// cpu-ns/op count both nodes' sides; ns/op is wall time per stanza.
func BenchmarkRemoteDeliver(b *testing.B) {
	url, pfx := natstest.URL(b), natstest.Prefix()
	a := startNode(b, url, pfx, "a", nil)
	bn := startNode(b, url, pfx, "b", nil)
	sess := &counter{}
	full := a.bind("bob@example.org/phone", 0, sess)
	xmpptest.WaitFor(b, "b sees bob", func() bool { _, ok := bn.RemoteResource(full); return ok })
	x, _ := bn.RemoteResource(full)
	el, err := xml.Parse([]byte("<message from='alice@example.org/x' to='bob@example.org/phone' type='chat' id='m1'><body>The quick brown fox jumps over the lazy dog.</body></message>"), stanza.NSClient)
	if err != nil {
		b.Fatal(err)
	}
	msg, err := stanza.New(el)
	if err != nil {
		b.Fatal(err)
	}

	// The previous design's receiving side.
	sub, err := a.nc.Subscribe(pfx+".old.a", func(m *nats.Msg) {
		i := bytes.IndexByte(m.Data, 0)
		ok := i > 0 && a.deliverLocal(m.Data[:i], m.Data[i+1:])
		ans := []byte{'0'}
		if ok {
			ans[0] = '1'
		}
		_ = m.Respond(ans)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sub.Unsubscribe() })
	perStanza := func(st *stanza.Stanza) bool {
		buf := make([]byte, 0, len(x.JID.String())+1+256)
		buf = append(buf, x.JID.String()...)
		buf = append(buf, 0)
		buf = st.AppendXML(buf, stanza.NSClient)
		ctx, cancel := context.WithTimeout(bn.ctx, bn.cfg.RequestTimeout)
		defer cancel()
		m, err := bn.nc.RequestWithContext(ctx, pfx+".old.a", buf)
		return err == nil && len(m.Data) == 1 && m.Data[0] == '1'
	}
	for _, inflight := range []int{1, 64} {
		for _, mode := range []struct {
			name    string
			deliver func(*stanza.Stanza) bool
		}{{"per-stanza", perStanza}, {"batched", x.Target.Deliver}} {
			b.Run(fmt.Sprintf("%s/inflight=%d", mode.name, inflight), func(b *testing.B) {
				deliverInFlight(b, inflight, func() bool { return mode.deliver(msg) })
			})
		}
	}
	st := bn.PeerStats()
	for _, p := range st {
		if p.Node == "a" && p.Batches > 0 {
			b.Logf("batched: %d stanzas in %d batches (%.1f per batch)", p.Sent, p.Batches, float64(p.Sent)/float64(p.Batches))
		}
	}
}

// BenchmarkConvergence measures how long after a node dies (no more
// heartbeats, its NATS connection cut) the other node has dropped its
// resources and reported them gone (Config.Gone: their contacts get
// unavailable presence), with a 50 ms heartbeat and a 300 ms lease;
// reported as ms/op and as a multiple of the lease.
func BenchmarkConvergence(b *testing.B) {
	url, pfx := natstest.URL(b), natstest.Prefix()
	gone := make(chan jid.JID, 16)
	a := startNode(b, url, pfx, "a", func(_ context.Context, full jid.JID) { gone <- full })
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		n := startNode(b, url, pfx, "b", nil)
		full := n.bind(fmt.Sprintf("bob@example.org/r%d", i), 0, &counter{})
		xmpptest.WaitFor(b, "a sees bob", func() bool { _, ok := a.RemoteResource(full); return ok })
		b.StartTimer()
		// Dies: no more heartbeats, no goodbye.
		start := time.Now()
		n.cancel()
		n.wg.Wait()
		n.nc.Close()
		for g := range gone {
			if g.Equal(full) {
				break
			}
		}
		total += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/op")
	b.ReportMetric(float64(total)/float64(b.N)/float64(a.cfg.Lease), "leases/op")
}

// BenchmarkRemoteDeliverSender measures the sending side of the NATS hop
// alone: the peer is a bare NATS responder that answers every stanza of
// a batch as taken without parsing it (its connection is in this process:
// one message allocation per batch counts).
func BenchmarkRemoteDeliverSender(b *testing.B) {
	url, pfx := natstest.URL(b), natstest.Prefix()
	bn := startNode(b, url, pfx, "b", nil)
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	ones := bytes.Repeat([]byte{'1'}, maxBatch)
	if _, err := nc.Subscribe(pfx+".deliver.z", func(m *nats.Msg) {
		d := m.Data[3+int(m.Data[2])+8:]
		ans := append([]byte(nil), d[:8]...) // the first seq
		n := 0
		for len(d) > 0 {
			jl := int(d[8])<<8 | int(d[9])
			d = d[itemHeader+jl:]
			sl := int(d[0])<<24 | int(d[1])<<16 | int(d[2])<<8 | int(d[3])
			d = d[4+sl:]
			n++
		}
		_ = m.Respond(append(ans, ones[:n]...))
	}); err != nil {
		b.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	t := &remote{c: bn.Cluster, node: "z", full: "bob@example.org/phone"}
	el, err := xml.Parse([]byte("<message from='alice@example.org/x' to='bob@example.org/phone' type='chat' id='m1'><body>The quick brown fox jumps over the lazy dog.</body></message>"), stanza.NSClient)
	if err != nil {
		b.Fatal(err)
	}
	msg, err := stanza.New(el)
	if err != nil {
		b.Fatal(err)
	}
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			deliverInFlight(b, inflight, func() bool { return t.Deliver(msg) })
		})
	}
}
