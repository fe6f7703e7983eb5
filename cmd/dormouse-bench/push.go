package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

const (
	nsPush        = "urn:xmpp:push:0"
	nsPubSub      = "http://jabber.org/protocol/pubsub"
	nsComponent   = "jabber:component:accept"
	nsDiscoInfo   = "http://jabber.org/protocol/disco#info"
	nsStreams     = "http://etherx.jabber.org/streams"
	publishOptsFT = "http://jabber.org/protocol/pubsub#publish-options"
	pushSummaryFT = "urn:xmpp:push:summary"
)

// errUnsupported marks a scenario the server under test does not support:
// the result line says so and the tool exits 0.
var errUnsupported = errors.New("unsupported")

// pushOptions configure the push scenario.
type pushOptions struct {
	componentAddr string
	domain        string // the component's (app server's) domain
	secret        string
	mode          string // "hibernate" or "offline"
	bursts        int
	burst         int
	gap           time.Duration
}

// publish is one XEP-0357 notification the app server received: a pubsub
// publish IQ from the user's server.
type publish struct {
	id, from, to string
	node         string
	fields       map[string]string // the urn:xmpp:push:summary form (message-count, last-message-sender, ...)
	options      map[string]string // the publish-options form (secret, ...)
	at           time.Time
	xml          string // the IQ as received (namespaces normalized)
}

// formFields returns the fields of a data form (first value of each), and
// its FORM_TYPE.
func formFields(x *xml.Element) (formType string, fields map[string]string) {
	fields = map[string]string{}
	if x == nil {
		return "", fields
	}
	for _, f := range x.ChildrenNamed(nsData, "field") {
		v := f.ChildText(nsData, "value")
		if f.AttrValue("var") == "FORM_TYPE" {
			formType = v
			continue
		}
		fields[f.AttrValue("var")] = v
	}
	return formType, fields
}

// parsePublish reads a push notification from an IQ received on the
// component stream. ok is false for anything that is not an IQ set with a
// pubsub publish; a publish that breaks XEP-0357 (no node, no
// notification, a summary form of the wrong type) is an error.
func parsePublish(el *xml.Element) (p publish, ok bool, err error) {
	if el.Name.Local != "iq" || el.AttrValue("type") != "set" {
		return p, false, nil
	}
	ps := el.Child(nsPubSub, "pubsub")
	if ps == nil || ps.Child(nsPubSub, "publish") == nil {
		return p, false, nil
	}
	p = publish{id: el.AttrValue("id"), from: el.AttrValue("from"), to: el.AttrValue("to")}
	pub := ps.Child(nsPubSub, "publish")
	p.node = pub.AttrValue("node")
	if p.node == "" {
		return p, true, errors.New("push: publish without a node")
	}
	n := pub.Child(nsPubSub, "item").Child(nsPush, "notification")
	if n == nil {
		return p, true, errors.New("push: publish without <notification xmlns='urn:xmpp:push:0'/>")
	}
	ft, fields := formFields(n.Child(nsData, "x"))
	if n.Child(nsData, "x") != nil && ft != pushSummaryFT {
		return p, true, fmt.Errorf("push: notification form type %q, want %s", ft, pushSummaryFT)
	}
	p.fields = fields
	if po := ps.Child(nsPubSub, "publish-options"); po != nil {
		_, p.options = formFields(po.Child(nsData, "x"))
	}
	return p, true, nil
}

// component is the app server's XEP-0114 connection to the server under
// test. A goroutine reads it (run); publishes are answered with a result
// and recorded.
type component struct {
	conn net.Conn
	dec  *xml.Decoder
	wmu  sync.Mutex

	mu        sync.Mutex
	publishes []publish // guarded by mu
	bad       error     // guarded by mu: the first malformed publish
}

// handshakeDigest is the XEP-0114 handshake value: hex SHA-1 of the stream
// id followed by the secret.
func handshakeDigest(id, secret string) string {
	sum := sha1.Sum([]byte(id + secret))
	return hex.EncodeToString(sum[:])
}

// dialComponent connects to addr as the component domain and completes
// the handshake.
func dialComponent(ctx context.Context, addr, domain, secret string) (*component, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("component: %w", err)
	}
	c := &component{conn: nc, dec: xml.NewDecoder(nc, xml.Limits{})}
	fail := func(err error) (*component, error) {
		nc.Close()
		return nil, fmt.Errorf("component %s: %w", domain, err)
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.send("<?xml version='1.0'?><stream:stream xmlns='" + nsComponent + "' xmlns:stream='" + nsStreams + "' to='" + domain + "'>"); err != nil {
		return fail(err)
	}
	h, err := c.dec.Header()
	if err != nil {
		return fail(err)
	}
	if err := c.send("<handshake>" + handshakeDigest(h.AttrValue("id"), secret) + "</handshake>"); err != nil {
		return fail(err)
	}
	el, err := c.dec.Next()
	if err != nil {
		return fail(err)
	}
	if el.Name.Local != "handshake" {
		return fail(fmt.Errorf("handshake refused: %s", el))
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *component) send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write([]byte(s))
	return err
}

// run reads the component stream until it ends, answering every publish
// with an empty result (the app server accepted it) and other IQ gets and
// sets with an error.
func (c *component) run() {
	for {
		el, err := c.dec.Next()
		if err != nil {
			return
		}
		at := time.Now()
		p, ok, err := parsePublish(el)
		if ok {
			p.at = at
			p.xml = string(el.AppendXML(nil, nsComponent))
			c.mu.Lock()
			if err != nil && c.bad == nil {
				c.bad = err
			}
			c.publishes = append(c.publishes, p)
			c.mu.Unlock()
			_ = c.send("<iq type='result' id='" + escAttr(p.id) + "' from='" + escAttr(p.to) + "' to='" + escAttr(p.from) + "'/>")
			continue
		}
		if t := el.AttrValue("type"); el.Name.Local == "iq" && (t == "get" || t == "set") {
			_ = c.send("<iq type='error' id='" + escAttr(el.AttrValue("id")) + "' from='" + escAttr(el.AttrValue("to")) +
				"' to='" + escAttr(el.AttrValue("from")) + "'><error type='cancel'><feature-not-implemented " +
				"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
		}
	}
}

// received returns the publishes recorded so far and the first malformed one's error.
func (c *component) received() ([]publish, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.publishes), c.bad
}

func (c *component) close() { c.conn.Close() }

func escAttr(s string) string { return string(xml.AppendEscapedAttr(nil, s)) }

// supportsPush asks disco#info of the account's bare JID (where XEP-0357
// says the feature is advertised) and of the server's domain.
func supportsPush(c *xmpptest.Client, bare, domain string) (bool, error) {
	for i, to := range []string{bare, domain} {
		id := fmt.Sprintf("disco%d", i)
		el, err := c.IQ(id, "<iq type='get' id='"+id+"' to='"+to+"'><query xmlns='"+nsDiscoInfo+"'/></iq>")
		if err != nil {
			return false, fmt.Errorf("disco#info %s: %w", to, err)
		}
		for _, f := range el.Child(nsDiscoInfo, "query").ChildrenNamed(nsDiscoInfo, "feature") {
			if f.AttrValue("var") == nsPush {
				return true, nil
			}
		}
	}
	return false, nil
}

// pushBurst is what the app server saw for one burst.
type pushBurst struct {
	sent      time.Time // the burst's first message
	publishes int
	first     time.Duration // first publish - sent; -1 if none
}

// split assigns publishes to bursts by arrival: burst b gets those that
// arrived from its first message until the next burst's first message.
func split(pubs []publish, sent []time.Time) []pushBurst {
	out := make([]pushBurst, len(sent))
	for b, t := range sent {
		out[b] = pushBurst{sent: t, first: -1}
		var end time.Time
		if b+1 < len(sent) {
			end = sent[b+1]
		}
		for _, p := range pubs {
			if p.at.Before(t) || (!end.IsZero() && !p.at.Before(end)) {
				continue
			}
			if out[b].first < 0 {
				out[b].first = p.at.Sub(t)
			}
			out[b].publishes++
		}
	}
	return out
}

// runPush acts as the XEP-0357 app server. Account first enables push
// (node and a publish-options form with a secret, as Conversations does)
// and goes away: with -push-mode hibernate its connection is reset (the
// session hibernates, the normal mobile case), with offline it closes its
// stream. Account first+1 then sends bursts of chat messages to its bare
// JID; after each burst's window the pushed client comes back (resumes, or
// logs in and reads its offline messages) and goes away again, as a phone
// woken by the push would. Reported: message → publish latency for the
// first message of each burst, publishes per burst.
func runPush(ctx context.Context, o options) (map[string]any, error) {
	po := o.push
	res := map[string]any{"push_mode": po.mode, "bursts": po.bursts, "burst_size": po.burst,
		"burst_gap_s": po.gap.Seconds(), "component": po.domain}
	if po.mode != "hibernate" && po.mode != "offline" {
		return res, fmt.Errorf("-push-mode %q: want hibernate or offline", po.mode)
	}
	ua, bare := o.first, o.user(o.first)+"@"+o.domain
	a, err := o.dialSM(ctx, ua, "phone")
	if err != nil {
		return res, err
	}
	defer func() {
		if a != nil {
			a.Close()
		}
	}()
	ok, err := supportsPush(a, bare, o.domain)
	if err != nil {
		return res, err
	}
	if !ok {
		return res, fmt.Errorf("%w: the server does not advertise %s (XEP-0357 push) on %s or %s", errUnsupported, nsPush, bare, o.domain)
	}
	comp, err := dialComponent(ctx, po.componentAddr, po.domain, po.secret)
	if err != nil {
		return res, err
	}
	defer comp.close()
	go comp.run()

	// Earlier runs' registrations on this account would get publishes too:
	// disable them all (no node: every node of that app server).
	if _, err := a.IQ("push0", "<iq type='set' id='push0'><disable xmlns='"+nsPush+"' jid='"+po.domain+"'/></iq>"); err != nil {
		return res, fmt.Errorf("push disable: %w", err)
	}
	node := "bench-" + runID()
	secret := "s-" + node
	enable := "<iq type='set' id='push1'><enable xmlns='" + nsPush + "' jid='" + po.domain + "' node='" + node + "'>" +
		"<x xmlns='" + nsData + "' type='submit'><field var='FORM_TYPE'><value>" + publishOptsFT + "</value></field>" +
		"<field var='secret'><value>" + secret + "</value></field></x></enable></iq>"
	el, err := a.IQ("push1", enable)
	if err != nil {
		return res, fmt.Errorf("push enable: %w", err)
	}
	if el.AttrValue("type") != "result" {
		return res, fmt.Errorf("push enable refused: %s", el)
	}
	if err := a.SendStanza("<presence/>"); err != nil {
		return res, err
	}
	b, err := o.dial(ctx, o.first+1, "sender")
	if err != nil {
		return res, err
	}
	defer b.Close()

	away := func() error { // the phone goes away
		var err error
		if po.mode == "hibernate" {
			err = a.Cut()
		} else {
			err = a.Close()
		}
		time.Sleep(300 * time.Millisecond) // the server notices
		return err
	}
	back := func(k int) error { // the phone comes back after a push and reads burst k
		var err error
		if po.mode == "hibernate" {
			st := a.SM
			a, err = o.resume(ctx, ua, st, nil)
		} else {
			if a, err = o.dialSM(ctx, ua, "phone"); err == nil {
				err = a.SendStanza("<presence/>")
			}
		}
		if err != nil {
			return err
		}
		prefix := fmt.Sprintf("%s burst %d ", node, k)
		for got := 0; got < po.burst; {
			el, err := a.Next()
			if err != nil {
				return fmt.Errorf("reading burst %d (%d of %d messages): %w", k, got, po.burst, err)
			}
			if el.Name.Local == "message" && strings.HasPrefix(el.ChildText(nsClient, "body"), prefix) {
				got++
			}
		}
		return a.Sendf("<a xmlns='%s' h='%d'/>", nsSM, a.SM.Received())
	}
	if err := away(); err != nil {
		return res, err
	}
	sent := make([]time.Time, 0, po.bursts)
	a0 := o.snapshot()
	for k := range po.bursts {
		var msgs strings.Builder
		for j := range po.burst {
			fmt.Fprintf(&msgs, "<message type='chat' to='%s' id='b%d-%d'><body>%s burst %d message %d</body></message>", bare, k, j, node, k, j)
		}
		sent = append(sent, time.Now())
		if err := b.SendRaw(msgs.String()); err != nil {
			return res, fmt.Errorf("sender: %w", err)
		}
		sleepCtx(ctx, po.gap)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if k == po.bursts-1 {
			break
		}
		if err := back(k); err != nil {
			return res, fmt.Errorf("burst %d: the pushed client coming back: %w", k, err)
		}
		if err := away(); err != nil {
			return res, err
		}
	}
	b0 := o.snapshot()
	cpuFields(res, a0, b0)
	pubs, bad := comp.received()
	bursts := split(pubs, sent)
	var lat []time.Duration
	counts := make([]int, 0, len(bursts))
	missed, inBursts := 0, 0
	for _, x := range bursts {
		counts = append(counts, x.publishes)
		inBursts += x.publishes
		if x.first < 0 {
			missed++
			continue
		}
		lat = append(lat, x.first)
	}
	important := 0 // publishes saying a message with a body is waiting (iOS: an alert, not a silent push)
	for _, p := range pubs {
		if p.fields["last-message-body"] != "" {
			important++
		}
	}
	res["publishes"] = len(pubs)
	res["publishes_with_body"] = important
	res["publishes_per_burst"] = counts
	res["publishes_per_burst_mean"] = float64(inBursts) / float64(len(bursts))
	// Publishes before the first burst: the server pushing when the
	// session went away (Prosody does, for the stanzas left unacknowledged).
	res["publishes_before_bursts"] = len(pubs) - inBursts
	res["bursts_without_publish"] = missed
	if len(pubs) > 0 {
		p := pubs[0]
		res["publish_example"] = map[string]any{"from": p.from, "node_ok": p.node == node, "fields": p.fields,
			"secret_echoed": p.options["secret"] == secret}
		res["publish_example_xml"] = pubs[len(pubs)-1].xml // one from the last burst
	}
	if bad != nil {
		return res, bad
	}
	if len(lat) == 0 {
		return res, errors.New("no publish received: the server advertises push but did not publish to the app server")
	}
	p50, p99 := percentiles(lat)
	res["latency_p50_ms"] = p50
	res["latency_p99_ms"] = p99
	for _, p := range pubs {
		if p.node != node {
			return res, fmt.Errorf("publish to node %q, want %q", p.node, node)
		}
	}
	return res, ctx.Err()
}
