package muc

import (
	"strconv"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// Room configuration fields (XEP-0045 §15.5.3).
const (
	fieldName          = "muc#roomconfig_roomname"
	fieldDesc          = "muc#roomconfig_roomdesc"
	fieldPersistent    = "muc#roomconfig_persistentroom"
	fieldPublic        = "muc#roomconfig_publicroom"
	fieldMembersOnly   = "muc#roomconfig_membersonly"
	fieldModerated     = "muc#roomconfig_moderatedroom"
	fieldPasswordOn    = "muc#roomconfig_passwordprotectedroom"
	fieldPassword      = "muc#roomconfig_roomsecret"
	fieldWhoIs         = "muc#roomconfig_whois"
	fieldMaxUsers      = "muc#roomconfig_maxusers"
	fieldChangeSubject = "muc#roomconfig_changesubject"
	fieldAllowInvites  = "muc#roomconfig_allowinvites"
	fieldAllowPM       = "muc#roomconfig_allowpm"
	fieldArchiving     = "muc#roomconfig_enablearchiving"
)

// configForm returns the muc#roomconfig form filled with c (XEP-0045 §10.2).
func configForm(c RoomConfig, maxUsers int) *xml.Element {
	x := el(NSData, "x", "type", "form")
	x.AddChild(el(NSData, "title").AddText("Room configuration"))
	x.AddChild(field("FORM_TYPE", "hidden", "", NSConfig))
	x.AddChild(field(fieldName, "text-single", "Name", c.Name))
	x.AddChild(field(fieldDesc, "text-single", "Description", c.Description))
	x.AddChild(field(fieldPersistent, "boolean", "Persistent (kept when the last occupant leaves)", boolValue(c.Persistent)))
	x.AddChild(field(fieldPublic, "boolean", "Listed in the public room directory", boolValue(c.Public)))
	x.AddChild(field(fieldMembersOnly, "boolean", "Members only", boolValue(c.MembersOnly)))
	x.AddChild(field(fieldModerated, "boolean", "Moderated (new occupants are visitors)", boolValue(c.Moderated)))
	x.AddChild(field(fieldPasswordOn, "boolean", "Password protected", boolValue(c.Password != "")))
	x.AddChild(field(fieldPassword, "text-private", "Password", c.Password))
	w := field(fieldWhoIs, "list-single", "Who may see real JIDs", c.WhoIs)
	w.AddChild(option("Moderators", "moderators")).AddChild(option("Anyone", "anyone"))
	x.AddChild(w)
	m := field(fieldMaxUsers, "list-single", "Maximum occupants", strconv.Itoa(c.MaxUsers))
	for _, n := range []int{10, 20, 50, 100, 200, 500, 1000} {
		if n < maxUsers {
			m.AddChild(option(strconv.Itoa(n), strconv.Itoa(n)))
		}
	}
	m.AddChild(option(strconv.Itoa(maxUsers), strconv.Itoa(maxUsers)))
	x.AddChild(m)
	x.AddChild(field(fieldChangeSubject, "boolean", "Participants may change the subject", boolValue(c.ChangeSubject)))
	x.AddChild(field(fieldAllowInvites, "boolean", "Participants may invite", boolValue(c.AllowInvites)))
	pm := field(fieldAllowPM, "list-single", "Who may send private messages", c.AllowPM)
	for _, v := range []string{"anyone", "participants", "moderators", "none"} {
		pm.AddChild(option(v, v))
	}
	x.AddChild(pm)
	x.AddChild(field(fieldArchiving, "boolean", "Archive messages (XEP-0313)", boolValue(c.Archiving)))
	return x
}

func field(name, typ, label, value string) *xml.Element {
	f := el(NSData, "field", "var", name, "type", typ)
	f.SetAttr("label", label)
	f.AddChild(el(NSData, "value").AddText(value))
	return f
}

func option(label, value string) *xml.Element {
	return el(NSData, "option", "label", label).AddChild(el(NSData, "value").AddText(value))
}

func boolValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func badRequest(text string) *stanza.Error { return stanza.NewError(stanza.BadRequest, text) }

// singleValue returns the var of a submitted form field and its value ("" if
// none); more than one value is bad-request.
func singleValue(f *xml.Element) (name, value string, err error) {
	name = f.AttrValue("var")
	values := f.ChildrenNamed(NSData, "value")
	switch len(values) {
	case 0:
		return name, "", nil
	case 1:
		return name, values[0].Text(), nil
	}
	return name, "", badRequest("field " + strconv.Quote(name) + " takes one value")
}

// parseConfig applies a submitted muc#roomconfig form to c. Fields not in
// the form keep their values; unknown fields are ignored (XEP-0004 lets a
// service ignore them); a malformed value is bad-request.
func parseConfig(x *xml.Element, c RoomConfig, maxUsers int) (RoomConfig, error) {
	if x.AttrValue("type") != "submit" {
		return c, badRequest("the configuration form must be of type submit")
	}
	passwordOn := c.Password != ""
	seenPasswordOn := false
	for _, f := range x.ChildrenNamed(NSData, "field") {
		name, v, err := singleValue(f)
		if err != nil {
			return c, err
		}
		boolean := func(dst *bool) error {
			switch v {
			case "1", "true":
				*dst = true
			case "0", "false", "":
				*dst = false
			default:
				return badRequest("field " + strconv.Quote(name) + " is a boolean")
			}
			return nil
		}
		switch name {
		case "FORM_TYPE":
			if v != NSConfig {
				return c, badRequest("FORM_TYPE must be " + NSConfig)
			}
		case fieldName:
			c.Name = v
		case fieldDesc:
			c.Description = v
		case fieldPersistent:
			err = boolean(&c.Persistent)
		case fieldPublic:
			err = boolean(&c.Public)
		case fieldMembersOnly:
			err = boolean(&c.MembersOnly)
		case fieldModerated:
			err = boolean(&c.Moderated)
		case fieldPasswordOn:
			seenPasswordOn = true
			err = boolean(&passwordOn)
		case fieldPassword:
			c.Password = v
		case fieldWhoIs:
			if v != "moderators" && v != "anyone" {
				return c, badRequest("whois is moderators or anyone")
			}
			c.WhoIs = v
		case fieldMaxUsers:
			n, perr := strconv.Atoi(v)
			if perr != nil || n <= 0 {
				return c, badRequest("maxusers must be a positive number")
			}
			if n > maxUsers {
				e := stanza.NewError(stanza.NotAcceptable, "maxusers is at most "+strconv.Itoa(maxUsers))
				return c, e
			}
			c.MaxUsers = n
		case fieldChangeSubject:
			err = boolean(&c.ChangeSubject)
		case fieldAllowInvites:
			err = boolean(&c.AllowInvites)
		case fieldAllowPM:
			switch v {
			case "anyone", "participants", "moderators", "none":
				c.AllowPM = v
			default:
				return c, badRequest("allowpm is anyone, participants, moderators or none")
			}
		case fieldArchiving:
			err = boolean(&c.Archiving)
		}
		if err != nil {
			return c, err
		}
	}
	if seenPasswordOn && !passwordOn {
		c.Password = ""
	}
	if passwordOn && c.Password == "" {
		return c, badRequest("a password-protected room needs a password")
	}
	return c, nil
}

// adminItem is one <item/> of a muc#admin set (XEP-0045 §9, §10).
type adminItem struct {
	nick        string
	jid         string // bare JID, normalized
	role        Role
	affiliation Affiliation
	reason      string
}

// parseAdminItems parses the items of a muc#admin query set: each names
// an occupant by nick with a role, or a bare JID with an affiliation.
func parseAdminItems(q *xml.Element) ([]adminItem, error) {
	items := q.ChildrenNamed(NSAdmin, "item")
	if len(items) == 0 {
		return nil, badRequest("no item")
	}
	if len(items) > 1000 {
		return nil, stanza.NewError(stanza.PolicyViolation, "at most 1000 items at once")
	}
	out := make([]adminItem, 0, len(items))
	for _, it := range items {
		a := adminItem{nick: it.AttrValue("nick"), reason: it.ChildText(NSAdmin, "reason")}
		role, hasRole := it.LookupAttr("role")
		aff, hasAff := it.LookupAttr("affiliation")
		switch {
		case hasRole && !hasAff:
			a.role = Role(role)
			if !a.role.valid() || a.nick == "" {
				return nil, badRequest("a role change needs a valid role and a nick")
			}
		case hasAff && !hasRole:
			a.affiliation = Affiliation(aff)
			if !a.affiliation.valid() {
				return nil, badRequest("unknown affiliation " + strconv.Quote(aff))
			}
			j, err := parseBare(it.AttrValue("jid"))
			if err != nil {
				return nil, stanza.NewError(stanza.JIDMalformed, "an affiliation change needs a valid jid")
			}
			a.jid = j
		default:
			return nil, badRequest("an item sets either a role or an affiliation")
		}
		out = append(out, a)
	}
	return out, nil
}
