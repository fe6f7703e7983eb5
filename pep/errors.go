package pep

import (
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// NSErrors is the namespace of pubsub-specific error conditions.
const NSErrors = "http://jabber.org/protocol/pubsub#errors"

// pubsubError returns a stanza error with a pubsub-specific condition
// child (XEP-0060 §7, §8).
func pubsubError(c stanza.Condition, app, text string) *stanza.Error {
	e := stanza.NewError(c, text)
	if app != "" {
		e.App = xml.NewElement(NSErrors, app)
	}
	return e
}

// unsupported is feature-not-implemented naming the pubsub feature
// (XEP-0060 §7.1.3.1 and others: <unsupported feature='…'/>).
func unsupported(feature string) *stanza.Error {
	e := stanza.NewError(stanza.FeatureNotImplemented, "")
	e.App = xml.NewElement(NSErrors, "unsupported", "feature", feature)
	return e
}

// errNodeNotFound answers a node that does not exist, or that the
// requester may not know exists.
func errNodeNotFound() *stanza.Error { return stanza.NewError(stanza.ItemNotFound, "") }

// errNotOwner answers what only the account owner may do.
func errNotOwner() *stanza.Error {
	return stanza.NewError(stanza.Forbidden, "only the account owner may do this")
}
