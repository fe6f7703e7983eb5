package push

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// ErrNotFound is returned by Store methods for a registration that does
// not exist.
var ErrNotFound = errors.New("push: registration not found")

// Registration is one device's push registration (XEP-0357 §5): where its
// notifications go, and how the last ones went.
type Registration struct {
	Account  string // the user's bare JID
	Resource string // the resource that enabled it (the device's session)
	JID      string // the app server's JID
	Node     string // the app server's node for this device
	// Options is the publish-options data form the client sent, serialized
	// (nil: none). It is opaque: echoed on every publish.
	Options []byte
	// EncryptKey is the AES-128-GCM key for encrypted notifications
	// (tigase:push:encrypt:0); nil: plain notifications.
	EncryptKey []byte
	// EncryptMaxSize caps an encrypted payload, in bytes (0: the default).
	EncryptMaxSize int
	Since          time.Time // when it was (last) enabled
	LastSuccess    time.Time // last accepted publish (zero: none yet)
	LastError      time.Time // last failed publish (zero: none)
	LastErrorText  string    // why it failed: the error condition
	Errors         int       // consecutive failed publishes
}

// LogValue keeps the node (often the device's push token) and the keys out
// of logs.
func (r Registration) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account", r.Account),
		slog.String("resource", r.Resource),
		slog.String("app_server", r.JID),
		slog.Int("node_len", len(r.Node)),
	)
}

// Outcome is the result of one publish, as Store.Record keeps it.
type Outcome struct {
	At  time.Time
	Err string // empty: success; else the error condition
}

// Store keeps push registrations. Account names are bare JID strings.
type Store interface {
	// Enable stores reg (Errors, LastSuccess, LastError are reset),
	// replacing the account's registration with the same JID and node.
	// Then, if the account has more than max registrations, the oldest
	// (by Since) are removed and returned. For an account that does not
	// exist it returns an error wrapping auth.ErrNotFound.
	Enable(ctx context.Context, reg Registration, max int) (removed []Registration, err error)
	// Disable removes the account's registrations at jid with node, or
	// every one at jid when node is empty, and returns them.
	Disable(ctx context.Context, account, jid, node string) ([]Registration, error)
	// Registrations returns the account's registrations, oldest first.
	Registrations(ctx context.Context, account string) ([]Registration, error)
	// Record keeps a publish outcome: a success sets LastSuccess and
	// clears Errors; an error sets LastError and LastErrorText and
	// increments Errors. ErrNotFound if the registration is gone.
	Record(ctx context.Context, account, jid, node string, o Outcome) error
}
