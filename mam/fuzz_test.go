package mam_test

import (
	"testing"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// FuzzQuery feeds arbitrary <query/> XML through xml.Parse to the query
// parser and to the whole query handler (on an archive with messages): it
// must never panic, and every IQ gets exactly one answer.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		`<query xmlns='urn:xmpp:mam:2' queryid='f27'/>`,
		`<query xmlns='urn:xmpp:mam:2'>` + form("with", "bob@localhost", "start", "2010-06-07T00:00:00Z", "end", "2030-07-07T13:23:54.123456+02:00") + rsm("<max>10</max><before/>") + `<flip-page/></query>`,
		`<query xmlns='urn:xmpp:mam:2'>` + form("after-id", "0000000000001", "before-id", "7vvvvvvvvvvvv") + rsm("<after>0000000000002</after>") + `</query>`,
		`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='ids'><value>0000000000001</value><value>zz</value></field></x></query>`,
		`<query xmlns='urn:xmpp:mam:2'>` + form("{urn:xmpp:fulltext:0}fulltext", "hello world") + rsm("<max>0</max>") + `</query>`,
		`<query xmlns='urn:xmpp:mam:2'>` + rsm("<index>1</index><max>-5</max>") + `</query>`,
		`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data'><field/><field var=''/></x></query>`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, memBackend, mam.Config{MaxPage: 5})
	e.online("bob@localhost/phone")
	tg := e.online(aliceDesk)
	for range 8 {
		e.chat(aliceDesk, "bob@localhost", "x")
	}
	tg.Take()
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := xml.Parse(data, mam.NS)
		if err != nil {
			return
		}
		for _, ft := range []bool{false, true} {
			if err := mam.ParseQuery(el, ft); err != nil {
				if stanza.AsError(err).Condition == stanza.InternalServerError {
					t.Errorf("parse error is not a stanza error: %v", err)
				}
			}
		}
		iq := stanza.Build(stanza.KindIQ, stanza.TypeSet, "fz", mustJID(t, aliceDesk), mustJID(t, "alice@localhost"))
		iq.El.AddChild(el)
		e.r.Route(t.Context(), iq)
		answers := 0
		for _, st := range tg.Take() {
			if st.Kind == stanza.KindIQ {
				answers++
				if se := stanza.ParseError(st.El); se != nil && se.Condition == stanza.InternalServerError {
					t.Errorf("internal-server-error for %s", data)
				}
			}
		}
		if answers != 1 {
			t.Errorf("%d answers to one query %s", answers, data)
		}
	})
}
