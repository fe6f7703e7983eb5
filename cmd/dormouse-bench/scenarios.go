package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
)

func (o options) dial(ctx context.Context, i int, resource string) (*xmpptest.Client, error) {
	return xmpptest.Dial(ctx, xmpptest.Options{
		Addr: o.addr, Domain: o.domain, User: o.user(i), Password: o.pass(i),
		Resource: resource, DirectTLS: o.directTLS, Mechanism: o.mechanism, Timeout: 30 * time.Second,
	})
}

func percentiles(d []time.Duration) (p50, p99 float64) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	return ms(d[len(d)/2]), ms(d[min(len(d)-1, len(d)*99/100)])
}

// runLogin measures complete logins (TCP, STARTTLS, SASL, bind, close).
func runLogin(ctx context.Context, o options) (map[string]any, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var failures atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				c, err := o.dial(ctx, i%max(o.n, 1), "bench")
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				d := time.Since(t0)
				c.Close()
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	p50, p99 := percentiles(lat)
	res := map[string]any{
		"logins": len(lat), "failures": failures.Load(), "concurrency": o.concurrency,
		"logins_per_s": float64(len(lat)) / el.Seconds(), "latency_p50_ms": p50, "latency_p99_ms": p99,
	}
	if e := firstErr.Load(); e != nil {
		res["first_error"] = e
	}
	return res, nil
}

// runIdle holds n sessions and reports the server's RSS growth per session.
func runIdle(ctx context.Context, o options) (map[string]any, error) {
	rss0 := rss(o.pid)
	clients := make([]*xmpptest.Client, 0, o.n)
	defer func() {
		for _, c := range clients {
			c.Conn.Close()
		}
	}()
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.n || ctx.Err() != nil {
					return
				}
				c, err := o.dial(ctx, i, "idle")
				if err != nil {
					failures.Add(1)
					continue
				}
				_ = c.SendRaw("<presence/>")
				mu.Lock()
				clients = append(clients, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Let the server settle (GC, queued writes) before measuring.
	select {
	case <-time.After(min(o.duration, 5*time.Second)):
	case <-ctx.Done():
	}
	rss1 := rss(o.pid)
	res := map[string]any{"sessions": len(clients), "failures": failures.Load()}
	if o.pid != 0 && len(clients) > 0 {
		res["server_rss_before_kib"] = rss0
		res["server_rss_after_kib"] = rss1
		res["rss_per_session_kib"] = float64(rss1-rss0) / float64(len(clients))
	}
	return res, nil
}

// rss reads VmRSS of pid in KiB (0 if unknown).
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// runThroughput has pairs (2i, 2i+1) exchange messages, each side keeping
// window messages in flight; the receiver measures latency from a
// timestamp in the body.
func runThroughput(ctx context.Context, o options) (map[string]any, error) {
	type side struct {
		c    *xmpptest.Client
		peer string
	}
	sides := make([]*side, 2*o.pairs)
	for i := range sides {
		c, err := o.dial(ctx, i, "tp")
		if err != nil {
			return nil, fmt.Errorf("login %s: %w", o.user(i), err)
		}
		defer c.Conn.Close()
		sides[i] = &side{c: c}
	}
	for i := range sides {
		sides[i].peer = o.user(i^1) + "@" + o.domain + "/tp"
	}
	hint := ""
	if o.noStore {
		hint = "<no-store xmlns='urn:xmpp:hints'/>"
	}
	var received atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	measureFrom := time.Now().Add(time.Second) // warm-up
	deadline := measureFrom.Add(o.duration)
	var wg sync.WaitGroup
	for _, s := range sides {
		credit := make(chan struct{}, o.window)
		for range o.window {
			credit <- struct{}{}
		}
		wg.Add(2)
		go func() { // sender
			defer wg.Done()
			n := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				select {
				case <-credit:
				case <-time.After(5 * time.Second):
					return
				}
				n++
				if err := s.c.Sendf("<message type='chat' to='%s' id='m%d'><body>%d</body>%s</message>", s.peer, n, time.Now().UnixNano(), hint); err != nil {
					return
				}
			}
		}()
		go func() { // receiver: each received message returns a credit to the peer's sender
			defer wg.Done()
			var local []time.Duration
			defer func() { mu.Lock(); lat = append(lat, local...); mu.Unlock() }()
			for {
				_ = s.c.Conn.SetReadDeadline(deadline.Add(3 * time.Second))
				el, err := s.c.Dec.Next()
				if err != nil {
					return
				}
				if el.Name.Local != "message" {
					continue
				}
				now := time.Now()
				if ts, err := strconv.ParseInt(el.ChildText("jabber:client", "body"), 10, 64); err == nil && now.After(measureFrom) && now.Before(deadline) {
					local = append(local, now.Sub(time.Unix(0, ts)))
					received.Add(1)
				}
				// Credit flows back to the sender of this pair through the peer's
				// own credit channel: each side paces itself by what it receives.
				select {
				case credit <- struct{}{}:
				default:
				}
			}
		}()
	}
	wg.Wait()
	p50, p99 := percentiles(lat)
	return map[string]any{
		"pairs": o.pairs, "window": o.window, "no_store": o.noStore,
		"delivered": received.Load(), "msgs_per_s": float64(received.Load()) / o.duration.Seconds(),
		"latency_p50_ms": p50, "latency_p99_ms": p99,
	}, nil
}
