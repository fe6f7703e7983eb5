package mam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// stampLayout is the XEP-0082 DateTime profile as written: UTC, with the
// microseconds when there are any.
const stampLayout = "2006-01-02T15:04:05.999999Z07:00"

// FormatStamp formats t in the XEP-0082 DateTime profile (UTC, with
// fractional seconds when not zero), as used in <delay/> and metadata.
func FormatStamp(t time.Time) string { return t.UTC().Format(stampLayout) }

// maxIDs is the most ids the 'ids' field may list.
const maxIDs = 1000

// request is a parsed <query xmlns='urn:xmpp:mam:2'/> (XEP-0313 §4 with
// the XEP-0059 <set/>).
type request struct {
	queryID  string
	with     jid.JID // zero if absent
	hasWith  bool
	start    time.Time // zero if absent
	end      time.Time // zero if absent
	afterID  int64     // form after-id, 0 if absent
	beforeID int64     // form before-id, 0 if absent
	ids      []int64   // form ids, sorted, no duplicates
	text     string    // full-text search, "" if absent

	max       int   // RSM <max/>, -1 if absent
	after     int64 // RSM <after/>, 0 if absent
	before    int64 // RSM <before/> with an id, 0 if absent or empty
	hasBefore bool  // RSM <before/> present (empty: the last page)
	flip      bool  // <flip-page/>
}

func badRequest(text string) *stanza.Error { return stanza.NewError(stanza.BadRequest, text) }

func notFound(text string) *stanza.Error { return stanza.NewError(stanza.ItemNotFound, text) }

// parseRequest parses a query element. Errors are *stanza.Error: bad-request
// for malformed values, feature-not-implemented for unknown form fields
// (XEP-0313 §4.1.5) and RSM index, item-not-found for ids that cannot be
// archive ids (XEP-0313 §4.1.3: an id not in the archive).
func parseRequest(el *xml.Element, fulltext bool) (*request, error) {
	q := &request{queryID: el.AttrValue("queryid"), max: -1}
	var form *xml.Element
	for _, c := range el.Elements() {
		switch {
		case c.Name.Space == stanza.NSData && c.Name.Local == "x":
			if form != nil {
				return nil, badRequest("more than one data form")
			}
			form = c
		case c.Name.Space == NSRSM && c.Name.Local == "set":
			if err := q.parseRSM(c); err != nil {
				return nil, err
			}
		case c.Name.Space == NS && c.Name.Local == "flip-page":
			q.flip = true
		}
	}
	if form != nil {
		if err := q.parseForm(form, fulltext); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func (q *request) parseForm(x *xml.Element, fulltext bool) error {
	switch x.AttrValue("type") {
	case "submit", "":
	default:
		return badRequest("the query form must be of type submit")
	}
	seen := map[string]bool{}
	for _, f := range x.ChildrenNamed(stanza.NSData, "field") {
		name, ok := f.LookupAttr("var")
		if !ok || name == "" {
			return badRequest("a form field has no var")
		}
		if seen[name] {
			return badRequest("form field " + strconv.Quote(name) + " appears twice")
		}
		seen[name] = true
		var values []string
		for _, v := range f.ChildrenNamed(stanza.NSData, "value") {
			values = append(values, v.Text())
		}
		single := func() (string, error) {
			switch len(values) {
			case 0:
				return "", nil
			case 1:
				return values[0], nil
			}
			return "", badRequest("form field " + strconv.Quote(name) + " takes one value")
		}
		v, err := "", error(nil)
		if name != "ids" {
			if v, err = single(); err != nil {
				return err
			}
		}
		switch name {
		case "FORM_TYPE":
			if v != NS {
				return badRequest("FORM_TYPE must be " + NS)
			}
		case "with":
			if v == "" {
				continue
			}
			j, err := jid.Parse(v)
			if err != nil {
				return badRequest("invalid JID in 'with'")
			}
			q.with, q.hasWith = j, true
		case "start", "end":
			if v == "" {
				continue
			}
			t, err := ParseStamp(v)
			if err != nil {
				return badRequest("invalid XEP-0082 DateTime in " + strconv.Quote(name))
			}
			if name == "start" {
				q.start = t
			} else {
				q.end = t
			}
		case "after-id", "before-id":
			if v == "" {
				continue
			}
			id, err := ParseID(v)
			if err != nil {
				return notFound("no message " + strconv.Quote(v) + " in the archive")
			}
			if name == "after-id" {
				q.afterID = id
			} else {
				q.beforeID = id
			}
		case "ids":
			if len(values) > maxIDs {
				return stanza.NewError(stanza.PolicyViolation, "too many ids: at most "+strconv.Itoa(maxIDs))
			}
			for _, v := range values {
				id, err := ParseID(v)
				if err != nil {
					return notFound("no message " + strconv.Quote(v) + " in the archive")
				}
				q.ids = append(q.ids, id)
			}
			slices.Sort(q.ids)
			q.ids = slices.Compact(q.ids)
		case FulltextField:
			if !fulltext {
				return stanza.NewError(stanza.FeatureNotImplemented, "full-text search is not supported")
			}
			q.text = v
		default:
			return stanza.NewError(stanza.FeatureNotImplemented, "unknown form field "+strconv.Quote(name))
		}
	}
	return nil
}

func (q *request) parseRSM(set *xml.Element) error {
	for _, c := range set.Elements() {
		if c.Name.Space != NSRSM {
			continue
		}
		v := c.Text()
		switch c.Name.Local {
		case "max":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return badRequest("RSM max must be a non-negative integer")
			}
			q.max = n
		case "after":
			if v == "" {
				return badRequest("RSM after needs an id")
			}
			id, err := ParseID(v)
			if err != nil {
				return notFound("no message " + strconv.Quote(v) + " in the archive")
			}
			q.after = id
		case "before":
			q.hasBefore = true
			if v == "" {
				continue
			}
			id, err := ParseID(v)
			if err != nil {
				return notFound("no message " + strconv.Quote(v) + " in the archive")
			}
			q.before = id
		case "index":
			return stanza.NewError(stanza.FeatureNotImplemented, "RSM index is not supported: page with after and before")
		}
	}
	return nil
}

// ParseStamp parses a XEP-0082 DateTime (RFC 3339: with 'T', seconds,
// optional fraction, and 'Z' or a numeric offset).
func ParseStamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("mam: invalid DateTime %q: %w", s, err)
	}
	return t.UTC(), nil
}

// owner returns the archive an IQ may use: the sender's own, which is the
// IQ's 'to' if it has one. Another user's archive is forbidden (XEP-0313
// §8.1).
func (s *Service) owner(iq *stanza.Stanza) (jid.JID, error) {
	if iq.From.Localpart() == "" || !s.r.IsLocal(iq.From.Domainpart()) {
		return jid.JID{}, stanza.NewError(stanza.Forbidden, "only local accounts have an archive")
	}
	user := iq.From.Bare()
	if iq.To.Domainpart() != "" && !iq.To.Equal(user) {
		return jid.JID{}, stanza.NewError(stanza.Forbidden, "an archive can only be read by its owner")
	}
	return user, nil
}

// handleQuery answers IQ get (the query form, XEP-0313 §4.1.5) and IQ set
// (an archive query) on <query xmlns='urn:xmpp:mam:2'/>.
func (s *Service) handleQuery(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	owner, err := s.owner(iq)
	if err != nil {
		return nil, err
	}
	if iq.Type == stanza.TypeGet {
		return iq.Result(s.form()), nil
	}
	q, err := parseRequest(iq.Payload(), s.store.SupportsFullText())
	if err != nil {
		return nil, err
	}
	release, ok := s.queries.acquire(ctx, owner.String(), s.cfg.QueryWait)
	if !ok {
		return nil, stanza.NewError(stanza.ResourceConstraint, "too many archive queries at once: retry later")
	}
	defer release()
	start := time.Now()
	defer func() { s.cfg.Metrics.MAMQueried(time.Since(start)) }()
	fin, err := s.runQuery(ctx, iq, owner, q)
	if err != nil {
		return nil, err
	}
	return iq.Result(fin), nil
}

// runQuery runs one page of a query, sends the results to the requester
// and returns the <fin/> element.
func (s *Service) runQuery(ctx context.Context, iq *stanza.Stanza, owner jid.JID, q *request) (*xml.Element, error) {
	sq := Query{
		Owner:    owner.String(),
		Start:    q.start,
		End:      q.end,
		AfterID:  max(q.afterID, q.after),
		BeforeID: minID(q.beforeID, q.before),
		IDs:      q.ids,
		Text:     q.text,
		Max:      s.cfg.MaxPage,
		Last:     q.hasBefore,
	}
	if q.hasWith {
		sq.With = q.with.Bare().String()
		sq.WithResource = q.with.Resourcepart()
	}
	if q.max >= 0 {
		sq.Max = min(q.max, s.cfg.MaxPage)
	}
	// The store's count ignores the id bounds, which the form's after-id
	// and before-id make part of the result set: no count with them.
	countable := q.afterID == 0 && q.beforeID == 0
	sq.Count = countable && (s.cfg.Count || q.max == 0)

	// XEP-0313 §4.1.3, §4.2.3: every id the client names must exist.
	for _, id := range []int64{q.afterID, q.beforeID, q.after, q.before} {
		if id == 0 {
			continue
		}
		ok, err := s.store.Has(ctx, sq.Owner, id)
		if err != nil {
			return nil, fmt.Errorf("mam: query %s: %w", sq.Owner, err)
		}
		if !ok {
			return nil, notFound("no message " + FormatID(id) + " in the archive")
		}
	}
	if len(q.ids) > 0 {
		p, err := s.store.Query(ctx, Query{Owner: sq.Owner, IDs: q.ids, Max: len(q.ids)})
		if err != nil {
			return nil, fmt.Errorf("mam: query %s: %w", sq.Owner, err)
		}
		if len(p.Messages) != len(q.ids) {
			return nil, notFound("some of the ids are not in the archive")
		}
	}

	start := time.Now()
	page, err := s.store.Query(ctx, sq)
	s.cfg.Metrics.StorageDone("mam_query", time.Since(start), err)
	if err != nil {
		if errors.Is(err, ErrFullTextUnsupported) {
			return nil, stanza.NewError(stanza.FeatureNotImplemented, "full-text search is not supported")
		}
		return nil, fmt.Errorf("mam: query %s: %w", sq.Owner, err)
	}
	if len(page.Messages) > 0 {
		res, ok := s.r.Resource(iq.From)
		if !ok {
			return nil, stanza.NewError(stanza.RecipientUnavailable, "the requesting resource is gone")
		}
		for i := range page.Messages {
			m := &page.Messages[i]
			if q.flip {
				m = &page.Messages[len(page.Messages)-1-i]
			}
			if !res.Target.Deliver(s.resultMessage(ctx, owner, iq.From, q.queryID, m)) {
				return nil, stanza.NewError(stanza.ResourceConstraint, "the results could not be queued: retry later")
			}
		}
	}
	return finElement(page, sq), nil
}

// minID is the smaller of two exclusive upper id bounds, 0 meaning none.
func minID(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// resultMessage wraps an archived message for the requester (XEP-0313
// §4.2).
func (s *Service) resultMessage(ctx context.Context, owner, to jid.JID, queryID string, m *Message) *stanza.Stanza {
	st := stanza.Build(stanza.KindMessage, "", "", owner, to)
	r := xml.NewElement(NS, "result")
	r.SetAttr("queryid", queryID)
	r.SetAttr("id", FormatID(m.ID))
	f := xml.NewElement(stanza.NSForward, "forwarded")
	f.AddChild(stanza.Delay("", FormatStamp(m.Stamp)))
	orig, err := xml.Parse(m.Stanza, stanza.NSClient)
	if err != nil {
		// XEP-0313 §3.2 allows the message to be left out; the id,
		// stamp and position stay, so paging is unaffected.
		s.log.LogAttrs(ctx, slog.LevelError, "archived message cannot be parsed",
			slog.String("owner", owner.String()), slog.String("id", FormatID(m.ID)), slog.Any("err", err))
	} else {
		f.AddChild(orig)
	}
	r.AddChild(f)
	st.El.AddChild(r)
	return st
}

// finElement is the IQ result payload: <fin/> with the RSM <set/>.
func finElement(page Page, q Query) *xml.Element {
	fin := xml.NewElement(NS, "fin", "complete", strconv.FormatBool(page.Complete), "stable", "true")
	set := xml.NewElement(NSRSM, "set")
	if n := len(page.Messages); n > 0 {
		first := xml.NewElement(NSRSM, "first")
		// XEP-0059 index: the position of the first item in the
		// whole result set, known here only at either end.
		if page.Count >= 0 {
			switch {
			case !q.Last && q.AfterID == 0:
				first.SetAttr("index", "0")
			case q.Last && q.BeforeID == 0:
				first.SetAttr("index", strconv.Itoa(max(page.Count-n, 0)))
			}
		}
		first.AddText(FormatID(page.Messages[0].ID))
		set.AddChild(first)
		set.AddChild(xml.NewElement(NSRSM, "last").AddText(FormatID(page.Messages[n-1].ID)))
	}
	if page.Count >= 0 {
		set.AddChild(xml.NewElement(NSRSM, "count").AddText(strconv.Itoa(page.Count)))
	}
	fin.AddChild(set)
	return fin
}

// form is the query form (XEP-0313 §4.1.5).
func (s *Service) form() *xml.Element {
	x := xml.NewElement(stanza.NSData, "x", "type", "form")
	field := func(typ, name string) *xml.Element {
		f := xml.NewElement(stanza.NSData, "field", "type", typ, "var", name)
		x.AddChild(f)
		return f
	}
	field("hidden", "FORM_TYPE").AddChild(xml.NewElement(stanza.NSData, "value").AddText(NS))
	field("jid-single", "with")
	field("text-single", "start")
	field("text-single", "end")
	field("text-single", "before-id")
	field("text-single", "after-id")
	field("list-multi", "ids").AddChild(
		xml.NewElement(NSXDataValidate, "validate", "datatype", "xs:string").
			AddChild(xml.NewElement(NSXDataValidate, "open")))
	if s.store.SupportsFullText() {
		field("text-single", FulltextField)
	}
	return xml.NewElement(NS, "query").AddChild(x)
}

// handleMetadata answers <metadata xmlns='urn:xmpp:mam:2'/> (XEP-0313 §5):
// the first and last message's id and stamp, nothing for an empty archive.
func (s *Service) handleMetadata(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	owner, err := s.owner(iq)
	if err != nil {
		return nil, err
	}
	if iq.Type != stanza.TypeGet {
		return nil, badRequest("archive metadata is read with an IQ get")
	}
	md := xml.NewElement(NS, "metadata")
	first, last, err := s.store.Bounds(ctx, owner.String())
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("mam: metadata of %s: %w", owner.String(), err)
	default:
		md.AddChild(xml.NewElement(NS, "start", "id", FormatID(first.ID), "timestamp", FormatStamp(first.Stamp)))
		md.AddChild(xml.NewElement(NS, "end", "id", FormatID(last.ID), "timestamp", FormatStamp(last.Stamp)))
	}
	return iq.Result(md), nil
}
