// Package authtest provides an in-memory auth.Store for tests of packages
// that authenticate or manage accounts without a database.
package authtest

import (
	"context"
	"slices"
	"strings"
	"sync"

	"dormouse.im/dormouse/auth"
)

// MemStore is an in-memory auth.Store, safe for concurrent use. The zero
// value is empty and ready.
type MemStore struct {
	mu    sync.Mutex
	creds map[string]auth.Credentials
	fail  error
}

var _ auth.Store = (*MemStore)(nil)

// FailWrites makes every later write (create, set, delete) return err
// (nil: writes succeed again), to test storage failures.
func (m *MemStore) FailWrites(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

// CreateAccount implements auth.Store.
func (m *MemStore) CreateAccount(_ context.Context, account string, c auth.Credentials) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.creds[account]; ok {
		return auth.ErrExists
	}
	if m.creds == nil {
		m.creds = map[string]auth.Credentials{}
	}
	m.creds[account] = c
	return nil
}

// Credentials implements auth.Store.
func (m *MemStore) Credentials(_ context.Context, account string) (auth.Credentials, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[account]
	if !ok {
		return auth.Credentials{}, auth.ErrNotFound
	}
	return c, nil
}

// SetCredentials implements auth.Store.
func (m *MemStore) SetCredentials(_ context.Context, account string, c auth.Credentials) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.creds[account]; !ok {
		return auth.ErrNotFound
	}
	m.creds[account] = c
	return nil
}

// DeleteAccount implements auth.Store.
func (m *MemStore) DeleteAccount(_ context.Context, account string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.creds[account]; !ok {
		return auth.ErrNotFound
	}
	delete(m.creds, account)
	return nil
}

// Accounts implements auth.Store: the accounts of domain ("" = all),
// sorted.
func (m *MemStore) Accounts(_ context.Context, domain string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for a := range m.creds {
		if domain == "" || strings.HasSuffix(a, "@"+domain) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out, nil
}
