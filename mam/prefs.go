package mam

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// maxPrefsJIDs is the most JIDs the always and never lists may hold
// together.
const maxPrefsJIDs = 1000

// handlePrefs answers XEP-0441 preferences get and set on <prefs
// xmlns='urn:xmpp:mam:2'/>. A set replies with the preferences as stored
// (normalized JIDs, duplicates removed).
func (s *Service) handlePrefs(ctx context.Context, iq *stanza.Stanza) (*stanza.Stanza, error) {
	owner, err := s.owner(iq)
	if err != nil {
		return nil, err
	}
	if iq.Type == stanza.TypeGet {
		p, err := s.store.Prefs(ctx, owner.String())
		switch {
		case errors.Is(err, ErrNotFound):
			p = Prefs{Default: s.cfg.Default}
		case err != nil:
			return nil, fmt.Errorf("mam: preferences of %s: %w", owner.String(), err)
		}
		return iq.Result(prefsElement(p)), nil
	}
	p, err := parsePrefs(iq.Payload())
	if err != nil {
		return nil, err
	}
	if err := s.SetPrefs(ctx, owner, p); err != nil {
		return nil, err
	}
	return iq.Result(prefsElement(p)), nil
}

// SetPrefs replaces user's archiving preferences (Default must be set).
func (s *Service) SetPrefs(ctx context.Context, user jid.JID, p Prefs) error {
	owner := user.Bare().String()
	if err := s.store.SetPrefs(ctx, owner, p); err != nil {
		s.prefs.drop(owner)
		return fmt.Errorf("mam: set preferences of %s: %w", owner, err)
	}
	s.prefs.put(owner, p)
	return nil
}

// parsePrefs parses a <prefs/> set. Errors are *stanza.Error.
func parsePrefs(el *xml.Element) (Prefs, error) {
	p := Prefs{Default: el.AttrValue("default")}
	switch p.Default {
	case PrefAlways, PrefRoster, PrefNever:
	default:
		return Prefs{}, badRequest("default must be always, roster or never")
	}
	list := func(name string) ([]string, error) {
		var out []string
		for _, l := range el.ChildrenNamed(NS, name) {
			for _, j := range l.ChildrenNamed(NS, "jid") {
				v, err := jid.Parse(j.Text())
				if err != nil {
					return nil, stanza.NewError(stanza.JIDMalformed, "invalid JID in "+name)
				}
				out = append(out, v.String())
			}
		}
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	var err error
	if p.Always, err = list("always"); err != nil {
		return Prefs{}, err
	}
	if p.Never, err = list("never"); err != nil {
		return Prefs{}, err
	}
	if len(p.Always)+len(p.Never) > maxPrefsJIDs {
		return Prefs{}, stanza.NewError(stanza.NotAcceptable, "too many JIDs in the preferences")
	}
	return p, nil
}

// prefsElement is <prefs/> with both lists present, even empty (XEP-0441
// §2.1).
func prefsElement(p Prefs) *xml.Element {
	el := xml.NewElement(NS, "prefs", "default", p.Default)
	for _, l := range []struct {
		name string
		jids []string
	}{{"always", p.Always}, {"never", p.Never}} {
		le := xml.NewElement(NS, l.name)
		for _, j := range l.jids {
			le.AddChild(xml.NewElement(NS, "jid").AddText(j))
		}
		el.AddChild(le)
	}
	return el
}
