package muc

import (
	"context"
	"slices"
	"strconv"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// mamAccess checks that the sender of iq may read r's archive: archiving
// on, not banned, a member in a members-only room. Under r.mu.
func (r *room) mamAccess(iq *stanza.Stanza) error {
	aff := r.affiliation(iq.From.Bare())
	switch {
	case !r.cfg.Archiving:
		return stanza.NewError(stanza.ServiceUnavailable, "this room keeps no archive")
	case aff == Outcast:
		return stanza.NewError(stanza.Forbidden, "you are banned from this room")
	case r.cfg.MembersOnly && aff.rank() < Member.rank():
		return stanza.NewError(stanza.Forbidden, "the archive of a members-only room is for members")
	case r.locked:
		return stanza.NewError(stanza.ItemNotFound, "no such room")
	}
	return nil
}

// mamForm returns the query form (XEP-0313 §4.1.1).
func (s *Service) mamForm(r *room, iq *stanza.Stanza) (*xml.Element, error) {
	r.mu.Lock()
	err := r.mamAccess(iq)
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	x := el(NSData, "x", "type", "form")
	x.AddChild(field("FORM_TYPE", "hidden", "", NSMAM))
	x.AddChild(el(NSData, "field", "var", "with", "type", "jid-single"))
	x.AddChild(el(NSData, "field", "var", "start", "type", "text-single"))
	x.AddChild(el(NSData, "field", "var", "end", "type", "text-single"))
	x.AddChild(el(NSData, "field", "var", "before-id", "type", "text-single"))
	x.AddChild(el(NSData, "field", "var", "after-id", "type", "text-single"))
	x.AddChild(el(NSData, "field", "var", "ids", "type", "text-multi"))
	return el(NSMAM, "query").AddChild(x), nil
}

// mamRequest is a parsed XEP-0313 query at a room.
type mamRequest struct {
	queryID        string
	with           string // a real bare JID
	start, end     time.Time
	afterID        int64 // after-id or RSM after
	beforeID       int64 // before-id or RSM before
	ids            []int64
	max            int  // -1: not given
	last           bool // RSM <before/>: the last page
	flip           bool
	rsmAfter, rsmB int64
}

// maxIDs bounds the ids field of a query.
const maxIDs = 1000

// parseMAMQuery parses a query element (XEP-0313 §4, XEP-0059).
func parseMAMQuery(q *xml.Element) (*mamRequest, error) {
	m := &mamRequest{queryID: q.AttrValue("queryid"), max: -1}
	badID := func(v string) error {
		return stanza.NewError(stanza.ItemNotFound, "no message "+strconv.Quote(v)+" in the archive")
	}
	for _, c := range q.Elements() {
		switch {
		case c.Name.Space == NSData && c.Name.Local == "x":
			for _, f := range c.ChildrenNamed(NSData, "field") {
				if f.AttrValue("var") == "ids" {
					vs := f.ChildrenNamed(NSData, "value")
					if len(vs) > maxIDs {
						return nil, stanza.NewError(stanza.PolicyViolation, "at most "+strconv.Itoa(maxIDs)+" ids")
					}
					for _, v := range vs {
						id, ok := parseID(v.Text())
						if !ok {
							return nil, badID(v.Text())
						}
						m.ids = append(m.ids, id)
					}
					continue
				}
				name, v, err := singleValue(f)
				if err != nil {
					return nil, err
				}
				if v == "" {
					if name == "FORM_TYPE" {
						return nil, badRequest("FORM_TYPE must be " + NSMAM)
					}
					continue
				}
				switch name {
				case "FORM_TYPE":
					if v != NSMAM {
						return nil, badRequest("FORM_TYPE must be " + NSMAM)
					}
				case "with":
					b, err := parseBare(v)
					if err != nil {
						return nil, badRequest("invalid JID in 'with'")
					}
					m.with = b
				case "start", "end":
					t, err := time.Parse(time.RFC3339Nano, v)
					if err != nil {
						return nil, badRequest("invalid DateTime in " + strconv.Quote(name))
					}
					if name == "start" {
						m.start = t.UTC()
					} else {
						m.end = t.UTC()
					}
				case "after-id", "before-id":
					id, ok := parseID(v)
					if !ok {
						return nil, badID(v)
					}
					if name == "after-id" {
						m.afterID = id
					} else {
						m.beforeID = id
					}
				default:
					return nil, stanza.NewError(stanza.FeatureNotImplemented, "unknown field "+strconv.Quote(name))
				}
			}
		case c.Name.Space == NSRSM && c.Name.Local == "set":
			for _, r := range c.Elements() {
				v := r.Text()
				switch r.Name.Local {
				case "max":
					n, err := strconv.Atoi(v)
					if err != nil || n < 0 {
						return nil, badRequest("RSM max must be a non-negative integer")
					}
					m.max = n
				case "after":
					id, ok := parseID(v)
					if !ok {
						return nil, badID(v)
					}
					m.rsmAfter = id
				case "before":
					m.last = true
					if v != "" {
						id, ok := parseID(v)
						if !ok {
							return nil, badID(v)
						}
						m.rsmB = id
					}
				case "index":
					return nil, stanza.NewError(stanza.FeatureNotImplemented, "RSM index is not supported")
				}
			}
		case c.Name.Space == NSMAM && c.Name.Local == "flip-page":
			m.flip = true
		}
	}
	if m.rsmAfter != 0 && (m.afterID == 0 || m.rsmAfter > m.afterID) {
		m.afterID = m.rsmAfter
	}
	if m.rsmB != 0 && (m.beforeID == 0 || m.rsmB < m.beforeID) {
		m.beforeID = m.rsmB
	}
	return m, nil
}

// mamQuery answers a query at the room: the results, then the IQ result
// with <fin/> (XEP-0313 §4.2).
func (s *Service) mamQuery(ctx context.Context, r *room, iq *stanza.Stanza, q *xml.Element) error {
	req, err := parseMAMQuery(q)
	if err != nil {
		return err
	}
	r.mu.Lock()
	err = r.mamAccess(iq)
	if err == nil && req.with != "" && r.cfg.WhoIs != "anyone" && r.affiliation(iq.From.Bare()).rank() < Admin.rank() {
		err = stanza.NewError(stanza.Forbidden, "only moderators filter a semi-anonymous room by real JID")
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	max := req.max
	if max < 0 || max > s.cfg.MaxPage {
		max = s.cfg.MaxPage
	}
	page, err := s.store.QueryArchive(ctx, ArchiveQuery{Room: r.jid.String(), Start: req.start, End: req.end,
		AfterID: req.afterID, BeforeID: req.beforeID, Sender: req.with, IDs: req.ids, Max: max, Last: req.last})
	if err != nil {
		return err
	}
	msgs := page.Messages
	if req.flip {
		msgs = slices.Clone(msgs)
		slices.Reverse(msgs)
	}
	var out outbox
	for _, m := range msgs {
		fwd, err := xml.Parse(m.Stanza, stanza.NSClient)
		if err != nil {
			s.log.Error("muc: archived message does not parse", "room", r.jid, "id", m.ID, "err", err)
			continue
		}
		res := stanza.Build(stanza.KindMessage, "", "", r.jid, iq.From)
		result := el(NSMAM, "result", "id", formatID(m.ID))
		result.SetAttr("queryid", req.queryID)
		f := el(NSForward, "forwarded").AddChild(stanza.Delay("", stamp(m.Stamp))).AddChild(fwd)
		res.El.AddChild(result.AddChild(f))
		out.add(res)
	}
	s.send(ctx, out)
	fin := el(NSMAM, "fin")
	if page.Complete {
		fin.SetAttr("complete", "true")
	}
	set := el(NSRSM, "set")
	if len(page.Messages) > 0 {
		first, last := page.Messages[0], page.Messages[len(page.Messages)-1]
		if req.flip {
			first, last = last, first
		}
		set.AddChild(el(NSRSM, "first").AddText(formatID(first.ID)))
		set.AddChild(el(NSRSM, "last").AddText(formatID(last.ID)))
	}
	fin.AddChild(set)
	s.r.Route(ctx, iq.Result(fin))
	return nil
}

// mamMetadata answers <metadata xmlns='urn:xmpp:mam:2'/> at the room
// (XEP-0313 §5): the first and last message's id and stamp, nothing for an
// empty archive.
func (s *Service) mamMetadata(ctx context.Context, r *room, iq *stanza.Stanza) (*xml.Element, error) {
	r.mu.Lock()
	err := r.mamAccess(iq)
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	md := el(NSMAM, "metadata")
	for _, end := range []struct {
		name string
		last bool
	}{{"start", false}, {"end", true}} {
		p, err := s.store.QueryArchive(ctx, ArchiveQuery{Room: r.jid.String(), Max: 1, Last: end.last})
		if err != nil {
			return nil, err
		}
		if len(p.Messages) == 1 {
			m := p.Messages[0]
			md.AddChild(el(NSMAM, end.name, "id", formatID(m.ID), "timestamp", stamp(m.Stamp)))
		}
	}
	return md, nil
}

// history returns the messages a join gets (XEP-0045 §7.2.15), without
// 'to': from the archive when the room keeps one, else from memory.
func (s *Service) history(ctx context.Context, r *room, h *xml.Element) []*stanza.Stanza {
	maxStanzas, maxChars := s.cfg.History, -1
	var since time.Time
	now := s.cfg.Now()
	if h != nil {
		if v, ok := h.LookupAttr("maxstanzas"); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				maxStanzas = n
			}
		}
		if v, ok := h.LookupAttr("maxchars"); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				maxChars = n
			}
		}
		if v, ok := h.LookupAttr("seconds"); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				since = now.Add(-time.Duration(n) * time.Second)
			}
		}
		if v, ok := h.LookupAttr("since"); ok {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.After(since) {
				since = t
			}
		}
	}
	maxStanzas = min(maxStanzas, s.cfg.MaxHistory)
	if maxStanzas == 0 || maxChars == 0 {
		return nil
	}
	var entries []historyEntry
	r.mu.Lock()
	archived := r.cfg.Archiving
	if !archived {
		for _, e := range r.history {
			if since.IsZero() || !e.at.Before(since) {
				entries = append(entries, e)
			}
		}
	}
	r.mu.Unlock()
	if archived {
		page, err := s.store.QueryArchive(ctx, ArchiveQuery{Room: r.jid.String(), Start: since, Max: maxStanzas, Last: true})
		if err != nil {
			s.log.Error("muc: history from the archive", "room", r.jid, "err", err)
			return nil
		}
		for _, m := range page.Messages {
			msg, err := xml.Parse(m.Stanza, stanza.NSClient)
			if err != nil {
				continue
			}
			entries = append(entries, historyEntry{at: m.Stamp, msg: msg, n: len(m.Stanza)})
		}
	}
	if len(entries) > maxStanzas {
		entries = entries[len(entries)-maxStanzas:]
	}
	if maxChars > 0 {
		total, first := 0, len(entries)
		for i := len(entries) - 1; i >= 0; i-- {
			if total+entries[i].n > maxChars {
				break
			}
			total += entries[i].n
			first = i
		}
		entries = entries[first:]
	}
	out := make([]*stanza.Stanza, 0, len(entries))
	for _, e := range entries {
		m := &stanza.Stanza{El: &xml.Element{Name: e.msg.Name, Attr: slices.Clone(e.msg.Attr),
			Children: append(slices.Clip(e.msg.Children), xml.Node{El: stanza.Delay(r.jid.String(), stamp(e.at))})},
			Kind: stanza.KindMessage, Type: stanza.TypeGroupchat}
		out = append(out, m)
	}
	return out
}
