package pep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces of private storage and bookmarks.
const (
	NSPrivate         = "jabber:iq:private"    // XEP-0049
	NSBookmarks       = "urn:xmpp:bookmarks:1" // XEP-0402
	NSLegacyBookmarks = "storage:bookmarks"    // XEP-0048
	// FeatureBookmarksCompat is advertised on accounts: XEP-0048 bookmarks
	// in private storage and XEP-0402 bookmarks are one set (XEP-0402 §5.3).
	FeatureBookmarksCompat = NSBookmarks + "#compat"
)

// bookmarksConfig is the configuration of a bookmarks node created for a
// XEP-0048 client (XEP-0402 §3.3).
var bookmarksConfig = NodeConfig{
	Access:        AccessWhitelist,
	PersistItems:  true,
	MaxItems:      0,
	SendLast:      SendLastNever,
	NotifyRetract: true,
	NotifyDelete:  true,
}

// handlePrivate answers XEP-0049 private XML storage. Fragments are kept
// by namespace; storage:bookmarks is not kept apart but read from and
// written to the urn:xmpp:bookmarks:1 node (XEP-0402 §5.3), so that
// clients of either kind see the same bookmarks.
func (s *Service) handlePrivate(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	owner, err := target(iq)
	if err != nil {
		return nil, err
	}
	if !iq.From.Bare().Equal(owner) {
		// A contact (strangers get the router's answer).
		return nil, stanza.NewError(stanza.Forbidden, "private storage is the account owner's only")
	}
	frags := iq.Payload().Elements()
	if len(frags) == 0 || (iq.Type == stanza.TypeGet && len(frags) > 1) {
		return nil, stanza.NewError(stanza.BadRequest, "name one fragment by its namespace")
	}
	for _, f := range frags {
		if f.Name.Space == "" || strings.HasPrefix(f.Name.Space, "jabber:") {
			return nil, stanza.NewError(stanza.NotAcceptable, "the jabber: namespaces are reserved")
		}
		if len(f.Name.Space) > MaxNameLen {
			return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("namespaces are at most %d bytes", MaxNameLen))
		}
	}
	user := owner.String()
	if iq.Type == stanza.TypeGet {
		f := frags[0]
		var got *xml.Element
		if f.Name.Space == NSLegacyBookmarks {
			got, err = s.legacyBookmarks(ctx, user)
		} else {
			got, err = s.privateFragment(ctx, user, f)
		}
		if err != nil {
			return nil, err
		}
		return iq.Result(xml.NewElement(NSPrivate, "query").AddChild(got)), nil
	}
	var evs []event
	for _, f := range frags {
		data := f.AppendXML(nil, "")
		if len(data) > s.cfg.MaxPayloadSize {
			return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("a fragment is larger than %d bytes", s.cfg.MaxPayloadSize))
		}
		if f.Name.Space == NSLegacyBookmarks {
			e, err := s.setLegacyBookmarks(ctx, owner, f)
			if err != nil {
				return nil, err
			}
			evs = append(evs, e...)
			continue
		}
		if err := s.store.SetPrivateXML(ctx, user, f.Name.Space, data); err != nil {
			return nil, fmt.Errorf("pep: private storage: %w", err)
		}
	}
	return s.replyThenNotify(ctx, iq.Result(nil), owner, evs)
}

// privateFragment returns the stored fragment of f's namespace, or f
// itself (empty) if none is stored (XEP-0049 §2.3).
func (s *Service) privateFragment(ctx context.Context, user string, f *xml.Element) (*xml.Element, error) {
	data, err := s.store.PrivateXML(ctx, user, f.Name.Space)
	if errors.Is(err, ErrNotFound) {
		return xml.NewElement(f.Name.Space, f.Name.Local), nil
	}
	if err != nil {
		return nil, fmt.Errorf("pep: private storage: %w", err)
	}
	el, err := xml.Parse(data, "")
	if err != nil {
		return nil, fmt.Errorf("pep: stored private fragment %s: %w", f.Name.Space, err)
	}
	return el, nil
}

// legacyBookmarks returns the XEP-0048 <storage/> of the account: the
// conferences of the urn:xmpp:bookmarks:1 node and the other children
// (such as <url/>) of the last <storage/> a XEP-0048 client stored.
func (s *Service) legacyBookmarks(ctx context.Context, user string) (*xml.Element, error) {
	st, err := s.privateFragment(ctx, user, xml.NewElement(NSLegacyBookmarks, "storage"))
	if err != nil {
		return nil, err
	}
	st.RemoveChildren(NSLegacyBookmarks, "conference")
	items, err := s.store.Items(ctx, user, NSBookmarks, 0)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("pep: bookmarks: %w", err)
	}
	for _, it := range items {
		c, err := xml.Parse(it.Payload, "")
		if err != nil || c.Name.Space != NSBookmarks || c.Name.Local != "conference" {
			continue
		}
		lc := xml.NewElement(NSLegacyBookmarks, "conference", "jid", it.ID)
		lc.SetAttr("name", c.AttrValue("name"))
		if a := c.AttrValue("autojoin"); a == "true" || a == "1" {
			lc.SetAttr("autojoin", "true")
		}
		for _, name := range []string{"nick", "password"} {
			if v := c.Child(NSBookmarks, name); v != nil {
				lc.AddChild(xml.NewElement(NSLegacyBookmarks, name).AddText(v.Text()))
			}
		}
		st.AddChild(lc)
	}
	return st, nil
}

// setLegacyBookmarks makes the urn:xmpp:bookmarks:1 node hold the
// conferences of a XEP-0048 <storage/>: it publishes new and changed ones
// (keeping the XEP-0402 <extensions/> of an existing item) and retracts
// the others, and keeps the rest of <storage/>. It returns the events to
// send.
func (s *Service) setLegacyBookmarks(ctx context.Context, owner jid.JID, st *xml.Element) ([]event, error) {
	user := owner.String()
	rest := st.Copy()
	rest.RemoveChildren(NSLegacyBookmarks, "conference")
	if err := s.store.SetPrivateXML(ctx, user, NSLegacyBookmarks, rest.AppendXML(nil, "")); err != nil {
		return nil, fmt.Errorf("pep: private storage: %w", err)
	}
	old := map[string][]byte{}
	items, err := s.store.Items(ctx, user, NSBookmarks, 0)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("pep: bookmarks: %w", err)
	}
	for _, it := range items {
		old[it.ID] = it.Payload
	}
	var evs []event
	seen := map[string]bool{}
	for _, lc := range st.ChildrenNamed(NSLegacyBookmarks, "conference") {
		room, err := jid.Parse(lc.AttrValue("jid"))
		if err != nil || room.Localpart() == "" || room.Resourcepart() != "" {
			return nil, stanza.NewError(stanza.BadRequest, "a bookmark needs the bare JID of a room")
		}
		id := room.String()
		if err := checkID(id); err != nil {
			return nil, err
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		c := xml.NewElement(NSBookmarks, "conference")
		c.SetAttr("name", lc.AttrValue("name"))
		if a := lc.AttrValue("autojoin"); a == "true" || a == "1" {
			c.SetAttr("autojoin", "true")
		}
		for _, name := range []string{"nick", "password"} {
			if v := lc.Child(NSLegacyBookmarks, name); v != nil {
				c.AddChild(xml.NewElement(NSBookmarks, name).AddText(v.Text()))
			}
		}
		if prev, ok := old[id]; ok {
			if p, err := xml.Parse(prev, ""); err == nil {
				if ext := p.Child(NSBookmarks, "extensions"); ext != nil {
					c.AddChild(ext)
				}
			}
		}
		data := c.AppendXML(nil, "")
		if prev, ok := old[id]; ok && bytes.Equal(prev, data) {
			continue
		}
		cfg, err := s.put(ctx, owner, NSBookmarks, id, c, data, bookmarksConfig, nil)
		if err != nil {
			return nil, err
		}
		evs = append(evs, s.newEvent(ctx, owner, cfg, NSBookmarks, itemsEvent(NSBookmarks, xml.NewElement(NSEvent, "item", "id", id).AddChild(c))))
	}
	for id := range old {
		if seen[id] {
			continue
		}
		cfg, err := s.store.Node(ctx, user, NSBookmarks)
		if err == nil {
			err = s.store.Retract(ctx, user, NSBookmarks, id)
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("pep: bookmarks: %w", err)
		}
		if err == nil && cfg.NotifyRetract {
			evs = append(evs, s.newEvent(ctx, owner, cfg, NSBookmarks, retractEvent(NSBookmarks, id)))
		}
	}
	return evs, nil
}
