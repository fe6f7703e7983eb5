package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"dormouse.im/dormouse/internal/xmpptest"
	"dormouse.im/dormouse/xml"
)

const (
	nsMAM     = "urn:xmpp:mam:2"
	nsRSM     = "http://jabber.org/protocol/rsm"
	nsForward = "urn:xmpp:forward:0"
	nsData    = "jabber:x:data"
	nsClient  = "jabber:client"
)

// mamShape is one kind of XEP-0313 query the mam scenario measures.
type mamShape struct {
	name string
	// with filters by correspondent ('with' field); since filters by the
	// prefill's start ('start' field); before asks for the last page
	// (<before/>) instead of the first.
	with, since, before bool
}

var mamShapes = []mamShape{
	{name: "last_page", before: true},
	{name: "first_page_since", since: true},
	{name: "with_last_page", with: true, since: true, before: true},
}

// mamQuery is the query element of one shape (queryid id).
func mamQuery(s mamShape, id, with string, start time.Time, max int) string {
	var b strings.Builder
	b.WriteString("<query xmlns='" + nsMAM + "' queryid='" + id + "'>")
	if s.with || s.since {
		b.WriteString("<x xmlns='" + nsData + "' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + nsMAM + "</value></field>")
		if s.with {
			b.WriteString("<field var='with'><value>" + with + "</value></field>")
		}
		if s.since {
			b.WriteString("<field var='start'><value>" + start.UTC().Format(time.RFC3339) + "</value></field>")
		}
		b.WriteString("</x>")
	}
	b.WriteString("<set xmlns='" + nsRSM + "'><max>" + strconv.Itoa(max) + "</max>")
	if s.before {
		b.WriteString("<before/>")
	}
	b.WriteString("</set></query>")
	return b.String()
}

// mamPage is what one query returned.
type mamPage struct {
	bodies   []string // the archived messages' bodies, in the order received
	froms    []string // their senders (from attribute of the forwarded message)
	count    int      // RSM <count/> in <fin/>, -1 if absent
	complete bool
}

// mamResult returns the forwarded message of a MAM result message for
// queryid id, or nil if el is not one.
func mamResult(el *xml.Element, id string) *xml.Element {
	if el.Name.Local != "message" {
		return nil
	}
	r := el.Child(nsMAM, "result")
	if r == nil || r.AttrValue("queryid") != id {
		return nil
	}
	f := r.Child(nsForward, "forwarded")
	if f == nil {
		return nil
	}
	return f.Child(nsClient, "message")
}

// runQuery sends one MAM query and reads its results up to the <iq/> that
// ends it.
func runQuery(c *xmpptest.Client, iqID, query string) (mamPage, error) {
	p := mamPage{count: -1}
	if err := c.SendRaw("<iq type='set' id='" + iqID + "'>" + query + "</iq>"); err != nil {
		return p, err
	}
	for {
		el, err := c.Next()
		if err != nil {
			return p, err
		}
		if m := mamResult(el, iqID); m != nil {
			p.bodies = append(p.bodies, m.ChildText(nsClient, "body"))
			p.froms = append(p.froms, m.AttrValue("from"))
			continue
		}
		if el.Name.Local != "iq" || el.AttrValue("id") != iqID {
			continue
		}
		if el.AttrValue("type") != "result" {
			return p, fmt.Errorf("query failed: %s", el)
		}
		fin := el.Child(nsMAM, "fin")
		if fin == nil {
			return p, fmt.Errorf("result without <fin/>: %s", el)
		}
		p.complete = fin.AttrValue("complete") == "true"
		if set := fin.Child(nsRSM, "set"); set != nil {
			if n, err := strconv.Atoi(set.ChildText(nsRSM, "count")); err == nil {
				p.count = n
			}
		}
		return p, nil
	}
}

// countNote describes an RSM count that differs from the k messages a
// "since" query matches, or returns "". A wrong count is reported beside
// the latencies rather than failing the measurement: the pages are
// checked exactly, and clients page by ids, not by the count.
func (s mamShape) countNote(p mamPage, k int) string {
	if !s.since || p.count < 0 || p.count == k {
		return ""
	}
	return fmt.Sprintf("RSM count %d, want %d", p.count, k)
}

// check compares a page with what the prefill put in the archive: k
// messages with bodies prefix+"0" .. prefix+(k-1) from sender (a bare JID).
// The RSM count is not checked here (see countNote): the page is.
func (s mamShape) check(p mamPage, page, k int, prefix, sender string) error {
	want := min(page, k)
	if len(p.bodies) != want {
		return fmt.Errorf("%s: %d results, want %d", s.name, len(p.bodies), want)
	}
	first, last := 0, want-1 // the prefill indexes the page must hold
	if s.before {
		first, last = k-want, k-1
	}
	if got := p.bodies[0]; got != prefix+strconv.Itoa(first) {
		return fmt.Errorf("%s: first result %q, want %q", s.name, got, prefix+strconv.Itoa(first))
	}
	if got := p.bodies[want-1]; got != prefix+strconv.Itoa(last) {
		return fmt.Errorf("%s: last result %q, want %q", s.name, got, prefix+strconv.Itoa(last))
	}
	if s.with {
		for _, f := range p.froms {
			if b, _, _ := strings.Cut(f, "/"); b != sender {
				return fmt.Errorf("%s: a result from %q, want only %s", s.name, f, sender)
			}
		}
	}
	return nil
}

// runMAM prefills the receiver's archive (account first+1) with o.prefill
// chat messages from a sender (account first), at most o.window in flight,
// waits until all are delivered, then runs o.queries queries of each shape
// and reports their latency from the <iq/> sent to the <iq/> that ends the
// result. The prefill starts just after a whole second, which the "since"
// shapes use as their start, so their results are exactly this run's
// messages.
func runMAM(ctx context.Context, o options) (map[string]any, error) {
	res := map[string]any{"prefill": o.prefill, "queries_per_shape": o.queries, "page": o.page, "window": o.window}
	snd, err := o.dial(ctx, o.first, "mamsend")
	if err != nil {
		return res, fmt.Errorf("sender %s: %w", o.user(o.first), err)
	}
	defer snd.Close()
	rcv, err := o.dial(ctx, o.first+1, "mamrecv")
	if err != nil {
		return res, fmt.Errorf("receiver %s: %w", o.user(o.first+1), err)
	}
	defer rcv.Close()
	sender := o.user(o.first) + "@" + o.domain
	prefix := "mam " + runID() + " "
	start := time.Now().Truncate(time.Second).Add(time.Second)
	// Sent a little after the second begins: a server stamping with the
	// coarse clock (Prosody's os.time, time(2)) may still read the previous
	// second for a few milliseconds after it began by the fine one, and
	// the first message would fall before the start.
	sleepCtx(ctx, time.Until(start.Add(20*time.Millisecond)))

	// Prefill, with a window: the receiver's progress releases the sender.
	t0 := time.Now()
	var got atomic.Int64               // prefill messages the receiver has read
	progress := make(chan struct{}, 1) // signalled when got grows
	recvErr := make(chan error, 1)
	go func() {
		for got.Load() < int64(o.prefill) {
			el, err := rcv.Next()
			if err != nil {
				recvErr <- fmt.Errorf("prefill: %d of %d delivered: %w", got.Load(), o.prefill, err)
				return
			}
			if el.Name.Local == "message" && strings.HasPrefix(el.ChildText(nsClient, "body"), prefix) {
				got.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}
		recvErr <- nil
	}()
	for k := 0; k < o.prefill; k++ {
		for int64(k)-got.Load() >= int64(o.window) {
			select {
			case <-progress:
			case err := <-recvErr:
				if err == nil {
					err = errors.New("prefill: the receiver stopped early")
				}
				return res, err
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
		if err := snd.Sendf("<message type='chat' to='%s' id='p%d'><body>%s%d</body></message>", rcv.JID, k, prefix, k); err != nil {
			return res, fmt.Errorf("prefill: %w", err)
		}
	}
	if err := <-recvErr; err != nil {
		return res, err
	}
	res["prefill_s"] = time.Since(t0).Seconds()
	res["prefill_msgs_per_s"] = float64(o.prefill) / time.Since(t0).Seconds()
	// Let a server that archives asynchronously finish writing.
	sleepCtx(ctx, 500*time.Millisecond)

	a := o.snapshot()
	total := 0
	for _, s := range mamShapes {
		lat := make([]time.Duration, 0, o.queries)
		for q := range o.queries {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			id := fmt.Sprintf("%s%d", s.name, q)
			qt := time.Now()
			p, err := runQuery(rcv, id, mamQuery(s, id, sender, start, o.page))
			d := time.Since(qt)
			if err == nil {
				err = s.check(p, o.page, o.prefill, prefix, sender)
			}
			if err != nil {
				return res, fmt.Errorf("mam query %s: %w", s.name, err)
			}
			if q == 0 {
				res[s.name+"_rsm_count"] = p.count
				if note := s.countNote(p, o.prefill); note != "" {
					res[s.name+"_rsm_count_off"] = note
				}
			}
			lat = append(lat, d)
		}
		total += len(lat)
		p50, p99 := percentiles(lat)
		res[s.name+"_p50_ms"] = p50
		res[s.name+"_p99_ms"] = p99
	}
	b := o.snapshot()
	cpuFields(res, a, b)
	if s, ok := res["server_cpu_s"].(float64); ok && total > 0 {
		res["server_cpu_per_query_ms"] = s * 1000 / float64(total)
	}
	if total == 0 {
		return res, errors.New("no query ran")
	}
	return res, ctx.Err()
}
