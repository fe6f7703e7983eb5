package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

const (
	nsSM    = "urn:xmpp:sm:3"
	nsHints = "urn:xmpp:hints"
)

func (o options) dial(ctx context.Context, i int, resource string) (*xmpptest.Client, error) {
	x := o.xopts(i, resource)
	if o.sasl2 || o.fast {
		// SASL2 and Bind 2: one round trip after the stream header.
		x.SASL2 = &xmpptest.SASL2Options{UserAgentID: uaID(i), Bind: true, Tag: resource}
		if o.tokens != nil && o.tokens[i] != "" {
			// No count: concurrent logins of one account may arrive out
			// of order (XEP-0484 needs a count only for TLS 0-RTT).
			x.SASL2.Token, x.SASL2.NoCount = o.tokens[i], true
		}
	}
	return xmpptest.Dial(ctx, x)
}

// fetchTokens logs in once per account with a password and
// <request-token/>, for FAST logins afterwards.
func fetchTokens(ctx context.Context, o options, accounts int) ([]string, error) {
	tokens := make([]string, accounts)
	var ferr firstError
	parallel(ctx, accounts, o.concurrency, func(i int) {
		x := o.xopts(i, "token")
		x.SASL2 = &xmpptest.SASL2Options{UserAgentID: uaID(i), RequestToken: "HT-SHA-256-NONE"}
		c, err := xmpptest.Dial(ctx, x)
		if err == nil && c.Token == nil {
			err = errors.New("no FAST token offered")
		}
		if err != nil {
			ferr.set(fmt.Errorf("FAST token for %s: %w", o.user(i), err))
			return
		}
		tokens[i] = c.Token.Token
		c.Close()
	})
	if ferr.msg != "" {
		return nil, errors.New(ferr.msg)
	}
	return tokens, ctx.Err()
}

// newTLSConfig is the client's TLS configuration: no certificate checks
// (the servers under test use self-signed certificates), no session
// resumption (every login does a full handshake), and the key exchange
// groups named in groups ("default": Go's own preference, which puts the
// post-quantum hybrid X25519MLKEM768 first; servers built on OpenSSL 3.0
// do not offer it, so comparing servers is fairer with one classic group
// for all).
func newTLSConfig(domain, groups string) (*tls.Config, error) {
	c := &tls.Config{InsecureSkipVerify: true, ServerName: domain, MinVersion: tls.VersionTLS12}
	if groups == "default" || groups == "" {
		return c, nil
	}
	known := map[string]tls.CurveID{
		"X25519": tls.X25519, "P256": tls.CurveP256, "P384": tls.CurveP384, "P521": tls.CurveP521,
		"X25519MLKEM768": tls.X25519MLKEM768,
	}
	for _, g := range strings.Split(groups, ",") {
		id, ok := known[strings.TrimSpace(g)]
		if !ok {
			return nil, fmt.Errorf("-tls-groups: unknown group %q (known: X25519, P256, P384, P521, X25519MLKEM768, default)", g)
		}
		c.CurvePreferences = append(c.CurvePreferences, id)
	}
	return c, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentiles(d []time.Duration) (p50, p99 float64) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	return ms(d[len(d)/2]), ms(d[min(len(d)-1, len(d)*99/100)])
}

// firstError keeps the first error message of many.
type firstError struct {
	once sync.Once
	msg  string
}

func (f *firstError) set(err error) { f.once.Do(func() { f.msg = err.Error() }) }

// parallel runs fn(i) for i in [0, n) on c workers, stopping early when
// ctx ends.
func parallel(ctx context.Context, n, c int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// runLogin measures complete logins (TCP, STARTTLS, SASL, bind), each on
// its own connection, closed afterwards. Before them, one login through a
// delaying proxy counts the round trips a login takes.
func runLogin(ctx context.Context, o options) (map[string]any, error) {
	accounts := o.accounts
	if accounts <= 0 {
		accounts = o.n
	}
	res := map[string]any{"concurrency": o.concurrency, "accounts": accounts, "sasl2": o.sasl2 || o.fast, "fast": o.fast}
	if o.fast {
		var err error
		if o.tokens, err = fetchTokens(ctx, o, accounts); err != nil {
			return res, err
		}
	}
	if o.rttProbe {
		rt, d, info, err := countRoundTrips(ctx, o, func(po options) (*xmpptest.Client, error) {
			return po.dial(ctx, 0, "rttprobe")
		})
		if err != nil {
			return res, err
		}
		res["round_trips"] = rt
		res["probe_login_ms"] = ms(d)
		res["probe_rtt_ms"] = ms(2 * probeDelay)
		res["tls"] = info
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, o.n)
	var failures, tlsResumed atomic.Int64
	var ferr firstError
	a := o.snapshot()
	parallel(ctx, o.n, o.concurrency, func(i int) {
		t0 := time.Now()
		c, err := o.dial(ctx, i%accounts, "bench")
		if err != nil {
			failures.Add(1)
			ferr.set(err)
			return
		}
		d := time.Since(t0)
		if tc, ok := c.Conn.(*tls.Conn); ok && tc.ConnectionState().DidResume {
			tlsResumed.Add(1)
		}
		c.Close()
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
	})
	b := o.snapshot()
	el := b.t.Sub(a.t)
	cpuFields(res, a, b)
	p50, p99 := percentiles(lat)
	res["logins"] = len(lat)
	// Logins whose TLS handshake resumed a session (-tls-resume): an
	// abbreviated handshake, without certificate or signature.
	res["tls_resumed"] = tlsResumed.Load()
	res["failures"] = failures.Load()
	res["logins_per_s"] = float64(len(lat)) / el.Seconds()
	res["latency_p50_ms"] = p50
	res["latency_p99_ms"] = p99
	if len(lat) > 0 {
		if s, ok := res["server_cpu_s"].(float64); ok {
			res["server_cpu_per_login_ms"] = s * 1000 / float64(len(lat))
		}
		res["generator_cpu_per_login_ms"] = (b.gen - a.gen).Seconds() * 1000 / float64(len(lat))
	}
	if ferr.msg != "" {
		res["first_error"] = ferr.msg
	}
	if len(lat) == 0 {
		return res, errors.New("no login succeeded: " + ferr.msg)
	}
	return res, ctx.Err()
}

// idleSession is one held session. A goroutine reads everything the server
// sends, counting stanzas and answering XEP-0198 ack requests, so a server
// waiting for acks does not cut the session.
type idleSession struct {
	c    *xmpptest.Client
	h    atomic.Uint32
	done chan struct{}
}

func (s *idleSession) read(sm bool) {
	defer close(s.done)
	_ = s.c.Conn.SetReadDeadline(time.Time{})
	for {
		el, err := s.c.Dec.Next()
		if err != nil {
			return
		}
		switch {
		case el.Name.Space == "jabber:client":
			s.h.Add(1)
		case sm && el.Name.Space == nsSM && el.Name.Local == "r":
			if s.c.Sendf("<a xmlns='%s' h='%d'/>", nsSM, s.h.Load()) != nil {
				return
			}
		}
	}
}

// enableSM enables XEP-0198 (with resumption, as a mobile client would) on
// a bound session and waits for <enabled/>.
func enableSM(c *xmpptest.Client) error {
	if c.Features == nil || c.Features.Child(nsSM, "sm") == nil {
		return errors.New("the server does not offer stream management (urn:xmpp:sm:3)")
	}
	if err := c.SendRaw("<enable xmlns='" + nsSM + "' resume='true'/>"); err != nil {
		return err
	}
	el, _, err := c.Expect(func(e *xml.Element) bool { return e.Name.Space == nsSM })
	if err != nil {
		return err
	}
	if el.Name.Local != "enabled" {
		return fmt.Errorf("stream management: got %s", el)
	}
	return nil
}

// runIdle holds n sessions and reports the server's RSS growth per session.
func runIdle(ctx context.Context, o options) (map[string]any, error) {
	res := map[string]any{"sm": o.sm, "presence": o.presence, "warmup_sessions": o.idleWarmup}
	warmUp(ctx, o, o.sm)
	rss0 := rss(o.pid)
	heap0, herr := liveHeap(ctx, o.admin)
	sessions := make([]*idleSession, o.n)
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.c.Close() // </stream:stream>: a clean end, nothing left to resume
			}
		}
		for _, s := range sessions {
			if s != nil {
				<-s.done
			}
		}
	}()
	var failures atomic.Int64
	var ferr firstError
	t0 := time.Now()
	parallel(ctx, o.n, o.concurrency, func(i int) {
		c, err := o.dial(ctx, i, "idle")
		if err == nil && o.sm {
			if err = enableSM(c); err != nil {
				c.Close()
			}
		}
		if err == nil && o.presence {
			if err = c.SendRaw("<presence/>"); err != nil {
				c.Close()
			}
		}
		if err != nil {
			failures.Add(1)
			ferr.set(err)
			return
		}
		s := &idleSession{c: c, done: make(chan struct{})}
		go s.read(o.sm)
		sessions[i] = s
	})
	res["setup_s"] = time.Since(t0).Seconds()
	// Let the server settle (GC, queued writes) before measuring.
	select {
	case <-time.After(o.settle):
	case <-ctx.Done():
	}
	rss1 := rss(o.pid)
	heap1, herr1 := liveHeap(ctx, o.admin)
	held := 0
	for _, s := range sessions {
		if s == nil {
			continue
		}
		select {
		case <-s.done: // the server closed it while we waited
		default:
			held++
		}
	}
	res["sessions"] = held
	res["failures"] = failures.Load()
	if ferr.msg != "" {
		res["first_error"] = ferr.msg
	}
	if o.pid != 0 && held > 0 {
		res["server_rss_before_kib"] = rss0
		res["server_rss_after_kib"] = rss1
		res["rss_per_session_kib"] = float64(rss1-rss0) / float64(held)
	}
	if o.admin != "" {
		if err := errors.Join(herr, herr1); err != nil {
			res["heap_error"] = err.Error()
		} else if held > 0 {
			res["server_heap_before_bytes"] = heap0
			res["server_heap_after_bytes"] = heap1
			res["heap_per_session_bytes"] = float64(heap1-heap0) / float64(held)
		}
	}
	if held == 0 {
		return res, errors.New("no session held: " + ferr.msg)
	}
	if held < o.n {
		return res, fmt.Errorf("only %d of %d sessions held: %s", held, o.n, ferr.msg)
	}
	return res, ctx.Err()
}

// runThroughput has pairs (2i, 2i+1) exchange chat messages addressed to
// each other's full JID (the JID the server bound; the sessions send no
// presence, so delivery relies on RFC 6121 §8.5.3.1: a message to a full
// JID goes to that resource). Each sender keeps at most window messages in
// flight: a credit returns to it when its peer receives one of its
// messages. The receiver measures latency from the send time in the body.
//
// With o.rate > 0 the senders are paced: together they send o.rate
// messages a second, each on its own schedule (sender s's k-th message is
// due at k·n/rate seconds, the senders' schedules staggered), still at
// most window in flight each. The time in the body is then the scheduled
// time, not the time of the write, so a sender held back (window full, or
// the server slow to read) counts its lateness in the latency rather than
// hiding it (no coordinated omission).
func runThroughput(ctx context.Context, o options) (map[string]any, error) {
	n := 2 * o.pairs
	clients := make([]*xmpptest.Client, n)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	var ferr firstError
	parallel(ctx, n, o.concurrency, func(i int) {
		c, err := o.dial(ctx, i, "tp"+strconv.Itoa(i))
		if err != nil {
			ferr.set(fmt.Errorf("login %s: %w", o.user(i), err))
			return
		}
		clients[i] = c
	})
	if ferr.msg != "" {
		return nil, errors.New(ferr.msg)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	jids := make([]string, n)
	for i, c := range clients {
		jids[i] = c.JID
		if jids[i] == "" { // a server that omits <jid/>: assume it kept ours
			jids[i] = o.user(i) + "@" + o.domain + "/tp" + strconv.Itoa(i)
		}
	}
	hint := ""
	if o.noStore {
		hint = "<no-store xmlns='" + nsHints + "'/>"
	}
	credit := make([]chan struct{}, n)
	for i := range credit {
		credit[i] = make(chan struct{}, o.window)
		for range o.window {
			credit[i] <- struct{}{}
		}
	}

	var (
		mu                      sync.Mutex
		lat                     []time.Duration
		received, sent          atomic.Int64 // in the measurement window
		receivedAll, sentAll    atomic.Int64
		bounced, strays, stalls atomic.Int64
		firstBounce             firstError
		start                   = time.Now()
		measureFrom             = start.Add(o.warmup)
		deadline                = measureFrom.Add(o.duration)
		drainUntil              = deadline.Add(5 * time.Second) // at most
		snapA, snapB            sample
		snapWG                  sync.WaitGroup
		sendWG, recvWG          sync.WaitGroup
	)
	snapWG.Add(1)
	go func() { // CPU accounting exactly over the measurement window
		defer snapWG.Done()
		time.Sleep(time.Until(measureFrom))
		snapA = o.snapshot()
		time.Sleep(time.Until(deadline))
		snapB = o.snapshot()
	}()
	for s := range n {
		peer := s ^ 1
		c := clients[s]
		sendWG.Add(1)
		recvWG.Add(1)
		go func() { // sender
			defer sendWG.Done()
			_ = c.Conn.SetWriteDeadline(drainUntil)
			prefix := []byte("<message type='chat' to='" + jids[peer] + "' id='m")
			suffix := []byte("</body>" + hint + "</message>")
			buf := make([]byte, 0, 256)
			var interval time.Duration // between this sender's messages; 0: unpaced
			if o.rate > 0 {
				interval = time.Duration(float64(n) / o.rate * float64(time.Second))
			}
			due := start.Add(interval * time.Duration(s) / time.Duration(n)) // staggered
			for k := 1; ctx.Err() == nil; k++ {
				if interval > 0 {
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				select {
				case <-credit[s]:
				default: // window full: wait for a credit, the deadline or 5 s
					t := time.NewTimer(min(5*time.Second, time.Until(deadline)))
					select {
					case <-credit[s]:
						t.Stop()
					case <-t.C:
						if time.Now().Before(deadline) {
							stalls.Add(1) // credits lost: messages not delivered
						}
						return
					case <-ctx.Done():
						t.Stop()
						return
					}
				}
				now := time.Now()
				if !now.Before(deadline) {
					return
				}
				if interval > 0 {
					now = due // latency from the schedule
					due = due.Add(interval)
				}
				buf = append(buf[:0], prefix...)
				buf = strconv.AppendInt(buf, int64(k), 10)
				buf = append(buf, "'><body>"...)
				buf = strconv.AppendInt(buf, now.UnixNano(), 10)
				buf = append(buf, suffix...)
				if _, err := c.Conn.Write(buf); err != nil {
					return
				}
				sentAll.Add(1)
				if !now.Before(measureFrom) {
					sent.Add(1)
				}
			}
		}()
		go func() { // receiver
			defer recvWG.Done()
			local := make([]time.Duration, 0, 1024)
			defer func() { mu.Lock(); lat = append(lat, local...); mu.Unlock() }()
			_ = c.Conn.SetReadDeadline(drainUntil)
			for {
				el, err := c.Dec.Next()
				if err != nil {
					return
				}
				if el.Name.Local != "message" {
					strays.Add(1)
					continue
				}
				if el.AttrValue("type") == "error" {
					// Our own message bounced: give the credit back to us.
					bounced.Add(1)
					firstBounce.set(errors.New(el.String()))
					select {
					case credit[s] <- struct{}{}:
					default:
					}
					continue
				}
				now := time.Now()
				ts, err := strconv.ParseInt(el.ChildText("jabber:client", "body"), 10, 64)
				if err != nil || el.AttrValue("from") != jids[peer] {
					strays.Add(1)
					continue
				}
				receivedAll.Add(1)
				if !now.Before(measureFrom) && now.Before(deadline) {
					local = append(local, now.Sub(time.Unix(0, ts)))
					received.Add(1)
				}
				select { // the peer's message arrived: one more in flight for it
				case credit[peer] <- struct{}{}:
				default:
				}
			}
		}()
	}
	// Senders stop at the deadline; receivers read until every message sent
	// has arrived (or bounced), at most until drainUntil.
	sendWG.Wait()
	for time.Now().Before(drainUntil) && receivedAll.Load()+bounced.Load() < sentAll.Load() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range clients {
		_ = c.Conn.SetReadDeadline(time.Now()) // unblock the receivers
	}
	recvWG.Wait()
	snapWG.Wait()
	p50, p99 := percentiles(lat)
	res := map[string]any{
		"pairs": o.pairs, "window": o.window, "rate": o.rate, "no_store": o.noStore, "duration_s": o.duration.Seconds(),
		"delivered": received.Load(), "sent": sent.Load(),
		"msgs_per_s":     float64(received.Load()) / o.duration.Seconds(),
		"latency_p50_ms": p50, "latency_p99_ms": p99,
		"sent_total": sentAll.Load(), "delivered_total": receivedAll.Load(),
		"lost":    sentAll.Load() - receivedAll.Load() - bounced.Load(),
		"bounced": bounced.Load(), "strays": strays.Load(), "stalled_senders": stalls.Load(),
		"peer_jid_example": jids[1],
	}
	if firstBounce.msg != "" {
		res["first_bounce"] = firstBounce.msg
	}
	cpuFields(res, snapA, snapB)
	if d := received.Load(); d > 0 {
		k := float64(d) / 1000
		if s, ok := res["server_cpu_s"].(float64); ok {
			res["server_cpu_ms_per_1000_msgs"] = s * 1000 / k
		}
		if s, ok := res["db_cpu_s"].(float64); ok {
			res["db_cpu_ms_per_1000_msgs"] = s * 1000 / k
		}
		res["generator_cpu_ms_per_1000_msgs"] = (snapB.gen - snapA.gen).Seconds() * 1000 / k
	} else {
		return res, errors.New("no message delivered")
	}
	return res, ctx.Err()
}
