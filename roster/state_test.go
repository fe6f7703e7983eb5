package roster_test

import (
	"fmt"
	"strings"
	"testing"

	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// stateRow is one row of an RFC 6121 Appendix A table: the existing state,
// whether the stanza is routed (outbound) or delivered (inbound), and the
// new state ("" for no state change).
type stateRow struct {
	typ      string
	existing string
	pass     bool
	next     string
	approve  bool // inbound subscribe: auto-reply 'subscribed' (the rows with '*')
}

const (
	sNone    = "None"
	sNoneOut = "None + Pending Out"
	sNoneIn  = "None + Pending In"
	sNoneIO  = "None + Pending Out/In"
	sTo      = "To"
	sToIn    = "To + Pending In"
	sFrom    = "From"
	sFromOut = "From + Pending Out"
	sBoth    = "Both"
)

// Outbound: A.2 says every subscribe and unsubscribe is routed (the state
// changes are those of §3.1.2 and §3.3.2); subscribed and unsubscribed
// follow tables A.2.1 and A.2.2.
var outboundTable = []stateRow{
	// §3.1.2 subscribe
	{"subscribe", sNone, true, sNoneOut, false},
	{"subscribe", sNoneOut, true, "", false},
	{"subscribe", sNoneIn, true, sNoneIO, false},
	{"subscribe", sNoneIO, true, "", false},
	{"subscribe", sTo, true, "", false},
	{"subscribe", sToIn, true, "", false},
	{"subscribe", sFrom, true, sFromOut, false},
	{"subscribe", sFromOut, true, "", false},
	{"subscribe", sBoth, true, "", false},
	// §3.3.2 unsubscribe
	{"unsubscribe", sNone, true, "", false},
	{"unsubscribe", sNoneOut, true, sNone, false},
	{"unsubscribe", sNoneIn, true, "", false},
	{"unsubscribe", sNoneIO, true, sNoneIn, false},
	{"unsubscribe", sTo, true, sNone, false},
	{"unsubscribe", sToIn, true, sNoneIn, false},
	{"unsubscribe", sFrom, true, "", false},
	{"unsubscribe", sFromOut, true, sFrom, false},
	{"unsubscribe", sBoth, true, sFrom, false},
	// A.2.1 subscribed
	{"subscribed", sNone, false, "", false},
	{"subscribed", sNoneOut, false, "", false},
	{"subscribed", sNoneIn, true, sFrom, false},
	{"subscribed", sNoneIO, true, sFromOut, false},
	{"subscribed", sTo, false, "", false},
	{"subscribed", sToIn, true, sBoth, false},
	{"subscribed", sFrom, false, "", false},
	{"subscribed", sFromOut, false, "", false},
	{"subscribed", sBoth, false, "", false},
	// A.2.2 unsubscribed
	{"unsubscribed", sNone, false, "", false},
	{"unsubscribed", sNoneOut, false, "", false},
	{"unsubscribed", sNoneIn, true, sNone, false},
	{"unsubscribed", sNoneIO, true, sNoneOut, false},
	{"unsubscribed", sTo, false, "", false},
	{"unsubscribed", sToIn, true, sTo, false},
	{"unsubscribed", sFrom, true, sNone, false},
	{"unsubscribed", sFromOut, true, sNoneOut, false},
	{"unsubscribed", sBoth, true, sTo, false},
}

// Inbound: tables A.3.1 to A.3.4.
var inboundTable = []stateRow{
	// A.3.1 subscribe
	{"subscribe", sNone, true, sNoneIn, false},
	{"subscribe", sNoneOut, true, sNoneIO, false},
	{"subscribe", sNoneIn, false, "", false},
	{"subscribe", sNoneIO, false, "", false},
	{"subscribe", sTo, true, sToIn, false},
	{"subscribe", sToIn, false, "", false},
	{"subscribe", sFrom, false, "", true},
	{"subscribe", sFromOut, false, "", true},
	{"subscribe", sBoth, false, "", true},
	// A.3.2 unsubscribe
	{"unsubscribe", sNone, false, "", false},
	{"unsubscribe", sNoneOut, false, "", false},
	{"unsubscribe", sNoneIn, true, sNone, false},
	{"unsubscribe", sNoneIO, true, sNoneOut, false},
	{"unsubscribe", sTo, false, "", false},
	{"unsubscribe", sToIn, true, sTo, false},
	{"unsubscribe", sFrom, true, sNone, false},
	{"unsubscribe", sFromOut, true, sNoneOut, false},
	{"unsubscribe", sBoth, true, sTo, false},
	// A.3.3 subscribed
	{"subscribed", sNone, false, "", false},
	{"subscribed", sNoneOut, true, sTo, false},
	{"subscribed", sNoneIn, false, "", false},
	{"subscribed", sNoneIO, true, sToIn, false},
	{"subscribed", sTo, false, "", false},
	{"subscribed", sToIn, false, "", false},
	{"subscribed", sFrom, false, "", false},
	{"subscribed", sFromOut, true, sBoth, false},
	{"subscribed", sBoth, false, "", false},
	// A.3.4 unsubscribed
	{"unsubscribed", sNone, false, "", false},
	{"unsubscribed", sNoneOut, true, sNone, false},
	{"unsubscribed", sNoneIn, false, "", false},
	{"unsubscribed", sNoneIO, true, sNoneIn, false},
	{"unsubscribed", sTo, true, sNone, false},
	{"unsubscribed", sToIn, true, sNoneIn, false},
	{"unsubscribed", sFrom, false, "", false},
	{"unsubscribed", sFromOut, true, sFrom, false},
	{"unsubscribed", sBoth, true, sFrom, false},
}

// visible is the part of a state a roster item shows: subscription and ask.
func visible(name string) string {
	return strings.TrimSuffix(strings.Replace(strings.Replace(name, " + Pending Out/In", " + Pending Out", 1), " + Pending In", "", 1), " ")
}

// TestOutboundStateTable drives every outbound row through the router:
// the local user alice sends to a contact on a component's domain, so only
// the user's side of the state machine runs.
func TestOutboundStateTable(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost")
	const user = "alice@localhost"
	phone := e.Bind(user + "/phone") // interested, not available
	e.Router.SetInterested(mustJID(t, user+"/phone"))
	for i, row := range outboundTable {
		t.Run(fmt.Sprintf("%d/%s/%s", i, row.typ, row.existing), func(t *testing.T) {
			e := e.in(t)
			contact := fmt.Sprintf("out%d@%s", i, compDomain)
			e.setState(user, contact, row.existing)
			e.Send(user+"/phone", `<presence type='`+row.typ+`' to='`+contact+`/res'/>`)

			want := row.next
			if want == "" {
				want = row.existing
			}
			if got := e.state(user, contact); got != want {
				t.Errorf("state = %q, want %q", got, want)
			}
			routed := only(e.comp.Take(), stanza.KindPresence, row.typ)
			if row.pass {
				if len(routed) != 1 {
					t.Fatalf("routed %d stanzas, want 1", len(routed))
				}
				if got := routed[0].From.String(); got != user {
					t.Errorf("routed from %q, want the bare JID %q", got, user)
				}
				if got := routed[0].To.String(); got != contact {
					t.Errorf("routed to %q, want the bare JID %q", got, contact)
				}
			} else if len(routed) != 0 {
				t.Errorf("routed %d stanzas, want none", len(routed))
			}
			got := phone.Take()
			items := pushes(t, got)
			if visible(want) != visible(row.existing) {
				if len(items) != 1 {
					t.Fatalf("%d roster pushes, want 1 (got %v)", len(items), got)
				}
				checkPushedState(t, items[0], contact, want)
			} else if len(items) != 0 {
				t.Errorf("%d roster pushes, want none", len(items))
			}
		})
	}
}

// TestInboundStateTable drives every inbound row through the router: a
// contact on a component's domain sends to the local user alice, so only
// the user's side of the state machine runs.
func TestInboundStateTable(t *testing.T) {
	e := newEnv(t, roster.Config{}, "alice@localhost")
	const user = "alice@localhost"
	phone := e.online(user + "/phone")
	for i, row := range inboundTable {
		t.Run(fmt.Sprintf("%d/%s/%s", i, row.typ, row.existing), func(t *testing.T) {
			e := e.in(t)
			contact := fmt.Sprintf("in%d@%s", i, compDomain)
			e.setState(user, contact, row.existing)
			e.Send(contact+"/res", `<presence type='`+row.typ+`' to='`+user+`'/>`)

			want := row.next
			if want == "" {
				want = row.existing
			}
			if got := e.state(user, contact); got != want {
				t.Errorf("state = %q, want %q", got, want)
			}
			got := phone.Take()
			delivered := only(got, stanza.KindPresence, row.typ)
			if row.pass {
				if len(delivered) != 1 {
					t.Fatalf("delivered %d stanzas, want 1", len(delivered))
				}
				if got := delivered[0].From.String(); got != contact {
					t.Errorf("delivered from %q, want the bare JID %q", got, contact)
				}
			} else if len(delivered) != 0 {
				t.Errorf("delivered %d stanzas, want none", len(delivered))
			}
			items := pushes(t, got)
			if visible(want) != visible(row.existing) {
				if len(items) != 1 {
					t.Fatalf("%d roster pushes, want 1", len(items))
				}
				checkPushedState(t, items[0], contact, want)
			} else if len(items) != 0 {
				t.Errorf("%d roster pushes, want none", len(items))
			}
			toComp := e.comp.Take()
			approvals := only(toComp, stanza.KindPresence, stanza.TypeSubscribed)
			if row.approve {
				if len(approvals) != 1 || approvals[0].From.String() != user || approvals[0].To.String() != contact {
					t.Errorf("auto-approval: got %v, want one subscribed from %s to %s", toComp, user, contact)
				}
				// And the user's presence, as an approval sends it.
				if avail := only(toComp, stanza.KindPresence, stanza.TypeAvailable); len(avail) != 1 ||
					avail[0].From.String() != user+"/phone" {
					t.Errorf("presence after auto-approval: got %v, want alice's phone's", avail)
				}
			} else if len(approvals) != 0 {
				t.Errorf("sent %v, want no approval", approvals)
			}
		})
	}
}

// checkPushedState checks a pushed item against a state name.
func checkPushedState(t *testing.T, item *xml.Element, contact, state string) {
	t.Helper()
	if got := item.AttrValue("jid"); got != contact {
		t.Errorf("pushed jid = %q, want %q", got, contact)
	}
	sub := strings.ToLower(strings.SplitN(state, " ", 2)[0])
	if got := item.AttrValue("subscription"); got != sub {
		t.Errorf("pushed subscription = %q, want %q", got, sub)
	}
	wantAsk := ""
	if strings.Contains(state, "Pending Out") {
		wantAsk = "subscribe"
	}
	if got := item.AttrValue("ask"); got != wantAsk {
		t.Errorf("pushed ask = %q, want %q", got, wantAsk)
	}
}
