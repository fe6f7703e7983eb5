package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/websocket"
	"dormouse.im/dormouse/xml"
)

// xopts are the xmpptest options to log in as account i.
func (o options) xopts(i int, resource string) xmpptest.Options {
	x := xmpptest.Options{
		Addr: o.addr, Domain: o.domain, User: o.user(i), Password: o.pass(i),
		Resource: resource, DirectTLS: o.directTLS, Mechanism: o.mechanism, Timeout: 30 * time.Second,
		TLS: o.tlsConfig,
	}
	if o.websocket != "" {
		// XMPP over WebSocket (RFC 7395) over the HTTPS listener.
		x.Secure = true
		x.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: o.tlsConfig}}
			return websocket.Dial(ctx, o.websocket, hc, nil)
		}
	}
	return x
}

// uaID is the XEP-0388 user-agent id of account i's client.
func uaID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", i) }

// dialSM logs in as account i and enables XEP-0198 with resumption. With
// -sasl2 it logs in with SASL2, binds with Bind 2 (SM enabled inline) and
// gets a FAST token (Client.Token) for the resumption.
func (o options) dialSM(ctx context.Context, i int, resource string) (*xmpptest.Client, error) {
	x := o.xopts(i, resource)
	x.SM = true
	if o.sasl2 {
		x.SASL2 = &xmpptest.SASL2Options{UserAgentID: uaID(i), Bind: true, Tag: resource, RequestToken: "HT-SHA-256-NONE"}
	}
	c, err := xmpptest.Dial(ctx, x)
	if err != nil {
		return nil, fmt.Errorf("login %s with stream management: %w", o.user(i), err)
	}
	return c, nil
}

// resume reconnects as account i and resumes st instead of binding. With
// -sasl2 and a FAST token, the resumption is inline in a SASL2 FAST login
// (one round trip after the stream header, no PBKDF2 on either side).
func (o options) resume(ctx context.Context, i int, st *xmpptest.SMState, token *xmpptest.FastToken) (*xmpptest.Client, error) {
	x := o.xopts(i, "")
	x.Resume = st
	if o.sasl2 {
		x.SASL2 = &xmpptest.SASL2Options{UserAgentID: uaID(i), Bind: true, Tag: "resume"}
		if token != nil {
			x.SASL2.Token, x.SASL2.Count = token.Token, 1
		}
	}
	c, err := xmpptest.Dial(ctx, x)
	if err != nil {
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("resume %s: %w", o.user(i), err)
	}
	if c.ResumeFailure != nil {
		c.Close()
		return nil, fmt.Errorf("resume %s: %w", o.user(i), c.ResumeFailure)
	}
	return c, nil
}

// openSM logs in n sessions with stream management (accounts first..,
// concurrency o.concurrency), each sending initial presence if o.presence.
// A session that failed is nil in the result; the first error is returned
// with the sessions that did open.
func openSM(ctx context.Context, o options, first, n int, resource string) ([]*xmpptest.Client, error) {
	clients := make([]*xmpptest.Client, n)
	var ferr firstError
	parallel(ctx, n, o.concurrency, func(i int) {
		c, err := o.dialSM(ctx, first+i, resource)
		if err == nil && o.presence {
			if err = c.SendStanza("<presence/>"); err != nil { // counted for the resumption
				c.Close()
			}
		}
		if err != nil {
			ferr.set(err)
			return
		}
		clients[i] = c
	})
	if ferr.msg != "" {
		return clients, errors.New(ferr.msg)
	}
	return clients, ctx.Err()
}

// ackPresence has each client read the echo of its initial presence
// (RFC 6121 §4.2.2) and acknowledge everything it read (XEP-0198 <a/>), so
// that the server holds nothing unacknowledged for it.
func ackPresence(ctx context.Context, o options, clients []*xmpptest.Client) error {
	var ferr firstError
	parallel(ctx, len(clients), o.concurrency, func(i int) {
		c := clients[i]
		_, _, err := c.Expect(func(el *xml.Element) bool { return el.Name.Local == "presence" })
		if err == nil {
			err = c.Ack()
		}
		if err != nil {
			ferr.set(fmt.Errorf("acknowledging the presence echo: %w", err))
		}
	})
	if ferr.msg != "" {
		return errors.New(ferr.msg)
	}
	return ctx.Err()
}

// closeAll ends every session that is still open (nil entries are skipped).
func closeAll(clients []*xmpptest.Client) {
	for _, c := range clients {
		if c != nil {
			c.Close()
		}
	}
}

// fill has a sender (account sender) send k chat messages to each client's
// full JID, marked <no-store/>, and waits until each client has read them
// all without acknowledging them: the server then holds k unacknowledged
// stanzas per session (its XEP-0198 queue) when the connection is cut.
// The clients count what they read (their h) for the resumption.
func fill(ctx context.Context, o options, sender int, clients []*xmpptest.Client, k int) error {
	if k == 0 {
		return nil
	}
	s, err := o.dial(ctx, sender, "filler")
	if err != nil {
		return fmt.Errorf("sender %s: %w", o.user(sender), err)
	}
	defer s.Close()
	var b strings.Builder
	for _, c := range clients {
		b.Reset()
		for j := range k {
			fmt.Fprintf(&b, "<message type='chat' to='%s' id='q%d'><body>queued %d</body><no-store xmlns='%s'/></message>",
				c.JID, j, j, nsHints)
		}
		if err := s.SendRaw(b.String()); err != nil {
			return fmt.Errorf("sender: %w", err)
		}
	}
	var ferr firstError
	parallel(ctx, len(clients), o.concurrency, func(i int) {
		c := clients[i]
		c.ManualSM = true // read, count, but do not acknowledge
		for got := 0; got < k; {
			el, err := c.Next()
			if err != nil {
				ferr.set(fmt.Errorf("%s waiting for queued messages (%d of %d): %w", c.JID, got, k, err))
				return
			}
			if el.Name.Local == "message" && strings.HasPrefix(el.ChildText("jabber:client", "body"), "queued ") {
				got++
			}
		}
	})
	if ferr.msg != "" {
		return errors.New(ferr.msg)
	}
	return nil
}

// runResume measures XEP-0198 resumption: n sessions (accounts first ..
// first+n-1) log in with <enable resume='true'/>, each receives o.queue
// messages it reads but does not acknowledge, then every TCP connection is
// reset (no </stream:stream>, as a phone losing its network) and each
// session reconnects and resumes with <resume previd h/>. Latency is TCP
// connect → <resumed/>; round trips are counted once, on one more session
// (account first+n+1) resumed through the delaying proxy. Account first+n
// sends the queued messages.
func runResume(ctx context.Context, o options) (map[string]any, error) {
	res := map[string]any{"sessions": o.n, "queue": o.queue, "direct_tls": o.directTLS, "sasl2": o.sasl2, "concurrency": o.concurrency}
	clients, err := openSM(ctx, o, o.first, o.n, "resume")
	defer func() { closeAll(clients) }()
	if err != nil {
		return res, err
	}
	probe, err := o.dialSM(ctx, o.first+o.n+1, "probe")
	if err != nil {
		return res, err
	}
	if err := fill(ctx, o, o.first+o.n, append(clients[:len(clients):len(clients)], probe), o.queue); err != nil {
		probe.Close()
		return res, err
	}
	// The probe: cut, then resume through the delaying proxy.
	pst, ptok := probe.SM, probe.Token
	_ = probe.Cut()
	time.Sleep(200 * time.Millisecond)
	rt, d, info, err := countRoundTrips(ctx, o, func(po options) (*xmpptest.Client, error) {
		return po.resume(ctx, o.first+o.n+1, pst, ptok)
	})
	if err != nil {
		return res, fmt.Errorf("round-trip probe: %w", err)
	}
	res["round_trips"] = rt
	res["probe_resume_ms"] = ms(d)
	res["probe_rtt_ms"] = ms(2 * probeDelay)
	res["tls"] = info

	states := make([]*xmpptest.SMState, len(clients))
	tokens := make([]*xmpptest.FastToken, len(clients))
	for i, c := range clients {
		states[i], tokens[i] = c.SM, c.Token
		_ = c.Cut()
	}
	clients = make([]*xmpptest.Client, len(states))
	// Let the server see the resets, as it would before a phone comes back.
	time.Sleep(500 * time.Millisecond)

	var mu sync.Mutex
	lat := make([]time.Duration, 0, o.n)
	var failures atomic.Int64
	var ferr firstError
	a := o.snapshot()
	parallel(ctx, o.n, o.concurrency, func(i int) {
		t0 := time.Now()
		c, err := o.resume(ctx, o.first+i, states[i], tokens[i])
		if err != nil {
			failures.Add(1)
			ferr.set(err)
			return
		}
		d := time.Since(t0)
		clients[i] = c
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
	})
	b := o.snapshot()
	cpuFields(res, a, b)
	p50, p99 := percentiles(lat)
	res["resumed"] = len(lat)
	res["failures"] = failures.Load()
	res["resumes_per_s"] = float64(len(lat)) / b.t.Sub(a.t).Seconds()
	res["latency_p50_ms"] = p50
	res["latency_p99_ms"] = p99
	if s, ok := res["server_cpu_s"].(float64); ok && len(lat) > 0 {
		res["server_cpu_per_resume_ms"] = s * 1000 / float64(len(lat))
	}
	if ferr.msg != "" {
		res["first_error"] = ferr.msg
	}
	if len(lat) < o.n {
		return res, fmt.Errorf("%d of %d sessions resumed: %s", len(lat), o.n, ferr.msg)
	}
	return res, ctx.Err()
}

// warmUp opens and closes a few sessions (SM on if sm) so one-time costs
// in the server (code loaded or initialized on first use, pools, caches)
// are not charged to the sessions measured afterwards.
func warmUp(ctx context.Context, o options, sm bool) {
	if o.idleWarmup <= 0 {
		return
	}
	warm := make([]*xmpptest.Client, min(o.idleWarmup, o.n))
	parallel(ctx, len(warm), o.concurrency, func(i int) {
		x := o.xopts(o.first+i, "warmup")
		x.SM = sm
		c, err := xmpptest.Dial(ctx, x)
		if err == nil && o.presence {
			err = c.SendRaw("<presence/>")
		}
		if err == nil {
			warm[i] = c
		} else if c != nil {
			c.Close()
		}
	})
	closeAll(warm)
	time.Sleep(time.Second)
}

// runHibernate measures what a hibernated XEP-0198 session costs the
// server: RSS before the sessions log in, with n live SM sessions (each
// having sent presence), and after every connection was reset and the
// server had o.hibernateWait to notice and release what it does not keep.
// Then a sample of the sessions (o.resumeCheck) resumes, to check that the
// server kept them rather than dropping them; the rest stay hibernated
// until the server's resume timeout (Prosody 600 s, ejabberd 300 s,
// Dormouse 10 min by default).
func runHibernate(ctx context.Context, o options) (map[string]any, error) {
	res := map[string]any{"sessions": o.n, "presence": o.presence, "warmup_sessions": o.idleWarmup,
		"hibernate_wait_s": o.hibernateWait.Seconds()}
	warmUp(ctx, o, true)
	rss0 := rss(o.pid)
	t0 := time.Now()
	clients, err := openSM(ctx, o, o.first, o.n, "hibernate")
	if err == nil && o.hibernateAck && o.presence {
		err = ackPresence(ctx, o, clients)
	}
	if err != nil {
		closeAll(clients)
		return res, err
	}
	res["setup_s"] = time.Since(t0).Seconds()
	res["acknowledged_before_cut"] = o.hibernateAck && o.presence
	sleepCtx(ctx, o.settle)
	rss1 := rss(o.pid)
	states := make([]*xmpptest.SMState, len(clients))
	for i, c := range clients {
		states[i] = c.SM
		_ = c.Cut()
	}
	sleepCtx(ctx, o.hibernateWait)
	rss2 := rss(o.pid)
	if o.pid != 0 {
		n := float64(o.n)
		res["server_rss_before_kib"] = rss0
		res["server_rss_live_kib"] = rss1
		res["server_rss_hibernated_kib"] = rss2
		res["rss_per_live_session_kib"] = float64(rss1-rss0) / n
		res["rss_per_hibernated_session_kib"] = float64(rss2-rss0) / n
		res["rss_released_per_session_kib"] = float64(rss1-rss2) / n
	}
	// Check a sample, spread over the sessions, is still resumable.
	check := min(o.resumeCheck, o.n)
	ok := 0
	var ferr firstError
	for k := range check {
		i := k * o.n / check
		c, err := o.resume(ctx, o.first+i, states[i], nil)
		if err != nil {
			ferr.set(err)
			continue
		}
		ok++
		c.Close()
	}
	res["resume_checked"] = check
	res["resume_ok"] = ok
	if ferr.msg != "" {
		return res, fmt.Errorf("%d of %d hibernated sessions checked could not resume: %s", check-ok, check, ferr.msg)
	}
	return res, ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// runID is a short identifier for this run, put into message bodies and
// push nodes so one run's traffic is recognizable.
func runID() string { return strconv.FormatInt(time.Now().UnixNano()%1e10, 36) }
