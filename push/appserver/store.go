package appserver

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// ErrNotFound is returned (wrapped) by Store methods for a missing
// registration or app.
var ErrNotFound = errors.New("appserver: not found")

// Registration is one device registered with the app server: the node and
// secret the user's XMPP server publishes to, and the provider token the
// notification goes to.
type Registration struct {
	Node   string // pubsub node issued to the device (the token itself for token-in-node devices)
	Secret string // publish-options secret; "" for token-in-node devices
	App    string // app name
	Token  string // FCM registration token or APNs device token
	// Device identifies the device across re-registrations: a hash of the
	// account and the client's device id (and MUC), or "token:" + token for
	// token-in-node devices. (App, Device) is unique.
	Device  string
	Domain  string // domain of the XMPP server the device registered through
	Account string // bare JID of the registering account, "" if unknown

	Created       time.Time
	LastUsed      time.Time // last registration or publish
	LastSuccess   time.Time // last notification the provider accepted; zero if none
	LastError     time.Time // last failed notification; zero if none
	LastErrorText string
}

// LogValue keeps the provider token and the secret out of logs.
func (r Registration) LogValue() slog.Value {
	return slog.GroupValue(slog.String("node", redact(r.Node)), slog.String("app", r.App),
		slog.String("domain", r.Domain))
}

// redact shows the first characters of a token-like string.
func redact(s string) string {
	if len(s) <= 6 {
		return "…"
	}
	return s[:6] + "…"
}

// StoredApp is an app as stored: its credentials sealed (see Keyring).
type StoredApp struct {
	Name        string
	Platform    Platform
	Credentials []byte // sealed
	Updated     time.Time
}

// Store persists apps and registrations. Implementations are in package
// dormouse.im/dormouse/sql (sqlite, postgres) and are safe for concurrent use.
type Store interface {
	// Register stores r. If (r.App, r.Device) is already registered, it
	// keeps that registration's Node, Secret and Created, updates the
	// rest (token, domain, account, LastUsed), and returns it; else it
	// inserts r. Its app must exist (else an error wrapping ErrNotFound).
	Register(ctx context.Context, r Registration) (Registration, error)
	// Registration returns the registration of node.
	Registration(ctx context.Context, node string) (Registration, error)
	// Unregister deletes the registrations of device (of every app) and
	// returns how many there were.
	Unregister(ctx context.Context, device string) (int, error)
	// DeleteRegistration deletes node's registration; a missing one is no
	// error.
	DeleteRegistration(ctx context.Context, node string) error
	// RecordResult notes a notification's outcome at time at: errText ""
	// is a success. It also sets LastUsed.
	RecordResult(ctx context.Context, node string, at time.Time, errText string) error
	// Registrations lists the registrations of app ("" for all), by node.
	Registrations(ctx context.Context, app string) ([]Registration, error)
	// CountRegistrations returns the number of registrations of each app
	// (apps with none are absent).
	CountRegistrations(ctx context.Context) (map[string]int, error)
	// ForgetUnused deletes the registrations with LastUsed before t.
	ForgetUnused(ctx context.Context, t time.Time) (int64, error)

	// PutApp adds or replaces an app and bumps the apps generation.
	PutApp(ctx context.Context, a StoredApp) error
	// DeleteApp deletes an app and its registrations, and bumps the
	// generation; ErrNotFound if there is none.
	DeleteApp(ctx context.Context, name string) error
	// Apps lists the apps by name.
	Apps(ctx context.Context) ([]StoredApp, error)
	// AppsGeneration is a counter that every PutApp and DeleteApp
	// increments (in any process sharing the database): a cheap way to
	// learn that the apps changed.
	AppsGeneration(ctx context.Context) (int64, error)
}
