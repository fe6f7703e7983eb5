package muc_test

import (
	"testing"

	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// parsed parses data as an element, or reports false.
func parsed(data []byte) (*xml.Element, bool) {
	el, err := xml.Parse(data, stanza.NSClient)
	return el, err == nil
}

// FuzzMUCRoomConfig feeds submitted configuration forms: parsing never
// panics, errors are stanza errors, and a parsed configuration keeps its
// invariants and parses again from the form the service writes for it.
func FuzzMUCRoomConfig(f *testing.F) {
	f.Add([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_persistentroom'><value>1</value></field><field var='muc#roomconfig_maxusers'><value>20</value></field></x>`))
	f.Add([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field><field var='muc#roomconfig_roomsecret'><value>pw</value></field><field var='muc#roomconfig_whois'><value>anyone</value></field></x>`))
	f.Add([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_allowpm'><value>none</value></field><field var='muc#roomconfig_enablearchiving'><value>true</value></field><field var='muc#roomconfig_maxusers'><value>-3</value></field></x>`))
	f.Add([]byte(`<x xmlns='jabber:x:data' type='form'/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, ok := parsed(data)
		if !ok {
			return
		}
		c, err := muc.ParseConfig(x, muc.RoomConfig{WhoIs: "moderators", AllowPM: "anyone", MaxUsers: 100}, 200)
		if err != nil {
			if stanza.AsError(err) == nil {
				t.Fatalf("not a stanza error: %v", err)
			}
			return
		}
		if c.MaxUsers <= 0 || c.MaxUsers > 200 {
			t.Fatalf("max users %d", c.MaxUsers)
		}
		if c.WhoIs != "moderators" && c.WhoIs != "anyone" {
			t.Fatalf("whois %q", c.WhoIs)
		}
		form := muc.ConfigForm(c, 200)
		form.SetAttr("type", "submit")
		again, err := muc.ParseConfig(form, muc.RoomConfig{}, 200)
		if err != nil || again != c {
			t.Fatalf("round trip: %+v (%v), want %+v", again, err, c)
		}
	})
}

// FuzzMUCAdminItems feeds muc#admin queries.
func FuzzMUCAdminItems(f *testing.F) {
	f.Add([]byte(`<query xmlns='http://jabber.org/protocol/muc#admin'><item nick='x' role='none'><reason>r</reason></item></query>`))
	f.Add([]byte(`<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='a@b/c' affiliation='outcast'/><item jid='d@e' affiliation='member'/></query>`))
	f.Add([]byte(`<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='@' affiliation='king' role='none'/></query>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, ok := parsed(data)
		if !ok {
			return
		}
		items, err := muc.ParseAdminItems(q)
		if err != nil {
			if stanza.AsError(err) == nil {
				t.Fatalf("not a stanza error: %v", err)
			}
			return
		}
		if len(items) == 0 {
			t.Fatal("no items and no error")
		}
	})
}

// FuzzMUCArchiveQuery feeds archive queries.
func FuzzMUCArchiveQuery(f *testing.F) {
	f.Add([]byte(`<query xmlns='urn:xmpp:mam:2' queryid='q'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='start'><value>2026-01-01T00:00:00Z</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set><flip-page/></query>`))
	f.Add([]byte(`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>zz</after><before>1</before><index>3</index></set></query>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, ok := parsed(data)
		if !ok {
			return
		}
		if _, err := muc.ParseMAMQuery(q); err != nil && stanza.AsError(err) == nil {
			t.Fatalf("not a stanza error: %v", err)
		}
	})
}
