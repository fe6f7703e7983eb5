package roster

import "dormouse.im/dormouse/stanza"

// state is the subscription state of one contact from the user's point of
// view (RFC 6121 Appendix A.1): the item's subscription, the outbound
// request the user has sent (the item's ask), and the inbound request the
// contact has sent and the user has not answered (a Pending record in the
// store). The nine states of the RFC are the combinations of these four
// bits that can occur: "To" excludes "Pending Out" and "From" excludes
// "Pending In".
type state struct {
	to   bool // the user receives the contact's presence
	from bool // the contact receives the user's presence
	out  bool // Pending Out: the user asked for the contact's presence
	in   bool // Pending In: the contact asked for the user's presence
}

func stateOf(it Item, pendingIn bool) state {
	s := state{out: it.Ask, in: pendingIn}
	switch it.Subscription {
	case SubTo:
		s.to = true
	case SubFrom:
		s.from = true
	case SubBoth:
		s.to, s.from = true, true
	}
	return s
}

// subscription is the item's 'subscription' value.
func (s state) subscription() string {
	switch {
	case s.to && s.from:
		return SubBoth
	case s.to:
		return SubTo
	case s.from:
		return SubFrom
	}
	return SubNone
}

// String names the state as RFC 6121 Appendix A.1 does.
func (s state) String() string {
	name := map[string]string{SubNone: "None", SubTo: "To", SubFrom: "From", SubBoth: "Both"}[s.subscription()]
	switch {
	case s.out && s.in:
		return name + " + Pending Out/In"
	case s.out:
		return name + " + Pending Out"
	case s.in:
		return name + " + Pending In"
	}
	return name
}

// outbound applies a subscription stanza the user sends to the contact
// (RFC 6121 §3.1.2, §3.2.2, §3.3.2, §3.4.2 and Appendix A.2). It returns
// the new state and whether the stanza is routed to the contact.
//
// Appendix A.2: the user's server routes every 'subscribe' and
// 'unsubscribe' so that the user can resynchronize a subscription, but
// routes 'subscribed' and 'unsubscribed' only when they change the state.
func outbound(typ string, s state) (state, bool) {
	n := s
	switch typ {
	case stanza.TypeSubscribe:
		// §3.1.2: the item goes to ask='subscribe' unless the user is
		// already subscribed.
		if !s.to {
			n.out = true
		}
		return n, true
	case stanza.TypeUnsubscribe:
		// §3.3.2: the user's subscription (or request) ends.
		n.to, n.out = false, false
		return n, true
	case stanza.TypeSubscribed:
		// A.2.1: only an answer to a pending request changes anything
		// (no pre-approval).
		if !s.in {
			return s, false
		}
		n.from, n.in = true, false
		return n, true
	case stanza.TypeUnsubscribed:
		// A.2.2: cancels the contact's subscription or denies its
		// request.
		if !s.from && !s.in {
			return s, false
		}
		n.from, n.in = false, false
		return n, true
	}
	return s, false
}

// inboundResult is what inbound decides for a subscription stanza the
// contact sent to the user.
type inboundResult struct {
	next    state
	deliver bool // deliver the stanza to the user's resources
	// approve: the contact is already subscribed (From, From + Pending
	// Out, Both): the server answers 'subscribed' on the user's behalf
	// (A.3.1, the rows marked with an asterisk) instead of delivering.
	approve bool
}

// inbound applies a subscription stanza the contact sent to the user
// (RFC 6121 §3.1.3, §3.1.6, §3.2.3, §3.3.3 and Appendix A.3).
func inbound(typ string, s state) inboundResult {
	n := s
	switch typ {
	case stanza.TypeSubscribe: // A.3.1
		switch {
		case s.from:
			return inboundResult{next: s, approve: true}
		case s.in:
			return inboundResult{next: s}
		}
		n.in = true
		return inboundResult{next: n, deliver: true}
	case stanza.TypeUnsubscribe: // A.3.2
		if !s.from && !s.in {
			return inboundResult{next: s}
		}
		n.from, n.in = false, false
		return inboundResult{next: n, deliver: true}
	case stanza.TypeSubscribed: // A.3.3
		if !s.out {
			return inboundResult{next: s}
		}
		n.to, n.out = true, false
		return inboundResult{next: n, deliver: true}
	case stanza.TypeUnsubscribed: // A.3.4
		if !s.to && !s.out {
			return inboundResult{next: s}
		}
		n.to, n.out = false, false
		return inboundResult{next: n, deliver: true}
	}
	return inboundResult{next: s}
}
