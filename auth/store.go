package auth

import (
	"context"
	"errors"
)

// Sentinel errors of account storage.
var (
	ErrNotFound = errors.New("auth: account not found")
	ErrExists   = errors.New("auth: account exists")
)

// Keys are the SCRAM (RFC 5802) verifier for one hash function: everything
// the server needs to check a SCRAM or PLAIN login, and nothing that lets a
// reader of the database log in as the user (the password and the salted
// password are never stored).
type Keys struct {
	Salt      []byte
	Iter      int
	StoredKey []byte // H(ClientKey)
	ServerKey []byte // HMAC(SaltedPassword, "Server Key")
}

// Credentials are an account's stored login verifiers.
type Credentials struct {
	SHA1   Keys
	SHA256 Keys
}

// Store keeps accounts. Account names are canonical bare JIDs
// ("alice@example.org"), as produced by mellium.im/xmpp/jid.
//
// DeleteAccount removes the account and every piece of data any feature
// stores for it (roster, offline messages, vCard, block list, archive ...).
type Store interface {
	CreateAccount(ctx context.Context, account string, c Credentials) error  // ErrExists
	Credentials(ctx context.Context, account string) (Credentials, error)    // ErrNotFound
	SetCredentials(ctx context.Context, account string, c Credentials) error // ErrNotFound
	DeleteAccount(ctx context.Context, account string) error                 // ErrNotFound
	// Accounts lists the accounts of a domain ("" = all), sorted.
	Accounts(ctx context.Context, domain string) ([]string, error)
}
