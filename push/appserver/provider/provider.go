// Package provider holds what the push app server and its provider clients
// (Firebase Cloud Messaging, Apple Push Notification service) share: the
// provider-neutral notification one device receives, the outcome of one
// request to a provider, and the Provider interface the clients implement.
package provider

import (
	"context"
	"time"
)

// Notification is one push to one device. It carries only what the user's
// XMPP server sent in its XEP-0357 publish (the summary form's fields, or an
// encrypted payload passed through opaque), plus how to deliver it.
type Notification struct {
	Token     string
	Important bool // wake the user visibly: a message with a body, an encrypted message, a call
	Call      bool // a call invitation
	// Data holds the fields of the urn:xmpp:push:summary form as sent
	// (FORM_TYPE removed), by field name; nil if there was none.
	Data map[string]string
	// Encrypted is the tigase:push:encrypt:0 payload, passed through opaque.
	Encrypted *Encrypted
	// CollapseKey lets the provider replace an undelivered notification by
	// a newer one with the same key. Empty: none.
	CollapseKey string
	// TTL is how long the provider keeps trying to deliver. 0: provider default.
	TTL time.Duration
}

// Encrypted is an encrypted push payload (tigase:push:encrypt:0).
type Encrypted struct {
	Payload string // base64 ciphertext, as received
	IV      string // base64 IV, as received
	Type    string // "" or "voip"
}

// Outcome classifies the result of one provider request. Its String is the
// metrics label.
type Outcome uint8

// Outcomes.
const (
	Sent          Outcome = iota // accepted by the provider
	Unregistered                 // the token is dead: forget the registration
	RateLimited                  // the provider asked us to slow down (HTTP 429)
	ProviderError                // any other failure: 5xx, 4xx, transport error
	Timeout                      // no answer in time
)

func (o Outcome) String() string {
	switch o {
	case Sent:
		return "sent"
	case Unregistered:
		return "unregistered"
	case RateLimited:
		return "rate_limited"
	case ProviderError:
		return "provider_error"
	case Timeout:
		return "timeout"
	}
	return "unknown"
}

// Outcomes lists every Outcome, for metrics that start at zero.
var Outcomes = [...]Outcome{Sent, Unregistered, RateLimited, ProviderError, Timeout}

// Result is the provider's answer to one request.
type Result struct {
	Outcome Outcome
	// Status is the HTTP status (0 when no response arrived).
	Status int
	// Reason is the provider's reason (APNs "Unregistered", FCM
	// "UNREGISTERED", an error text) or, on success, empty.
	Reason string
	// ID is the provider's message id on success (FCM message name, APNs
	// apns-id).
	ID string
	// RetryAfter is the provider's Retry-After, 0 if none.
	RetryAfter time.Duration
}

// Temporary reports whether retrying the same request later may succeed.
func (r Result) Temporary() bool {
	switch r.Outcome {
	case RateLimited, Timeout:
		return true
	case ProviderError:
		return r.Status == 0 || r.Status >= 500
	}
	return false
}

// Provider sends notifications through one provider account (a Firebase
// project, an APNs key or certificate with its topic). Implementations are
// safe for concurrent use.
type Provider interface {
	// Send delivers n. It never returns a nil-outcome success for a
	// rejected push: every provider answer is classified in the Result.
	Send(ctx context.Context, n *Notification) Result
	// Close releases idle connections.
	Close()
}
