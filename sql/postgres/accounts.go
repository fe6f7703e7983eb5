package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ auth.Store = (*AccountStore)(nil)

// AccountStore implements auth.Store.
type AccountStore struct{ db *DB }

// CreateAccount implements auth.Store.
func (s *AccountStore) CreateAccount(ctx context.Context, account string, c auth.Credentials) error {
	tag, err := s.db.pool.Exec(ctx, `INSERT INTO accounts
	(name, domain, sha1_salt, sha1_iter, sha1_stored, sha1_server, sha256_salt, sha256_iter, sha256_stored, sha256_server)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
	ON CONFLICT (name) DO NOTHING`,
		account, norm.Domain(account),
		norm.Bytes(c.SHA1.Salt), c.SHA1.Iter, norm.Bytes(c.SHA1.StoredKey), norm.Bytes(c.SHA1.ServerKey),
		norm.Bytes(c.SHA256.Salt), c.SHA256.Iter, norm.Bytes(c.SHA256.StoredKey), norm.Bytes(c.SHA256.ServerKey))
	if err != nil {
		return fmt.Errorf("postgres: create account: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create account %q: %w", account, auth.ErrExists)
	}
	return nil
}

// Credentials implements auth.Store.
func (s *AccountStore) Credentials(ctx context.Context, account string) (auth.Credentials, error) {
	var c auth.Credentials
	err := s.db.pool.QueryRow(ctx, `SELECT
	sha1_salt, sha1_iter, sha1_stored, sha1_server, sha256_salt, sha256_iter, sha256_stored, sha256_server
	FROM accounts WHERE name = $1`, account).Scan(
		&c.SHA1.Salt, &c.SHA1.Iter, &c.SHA1.StoredKey, &c.SHA1.ServerKey,
		&c.SHA256.Salt, &c.SHA256.Iter, &c.SHA256.StoredKey, &c.SHA256.ServerKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Credentials{}, fmt.Errorf("postgres: credentials %q: %w", account, auth.ErrNotFound)
	}
	if err != nil {
		return auth.Credentials{}, fmt.Errorf("postgres: credentials: %w", err)
	}
	return c, nil
}

// SetCredentials implements auth.Store.
func (s *AccountStore) SetCredentials(ctx context.Context, account string, c auth.Credentials) error {
	tag, err := s.db.pool.Exec(ctx, `UPDATE accounts SET
	sha1_salt = $1, sha1_iter = $2, sha1_stored = $3, sha1_server = $4,
	sha256_salt = $5, sha256_iter = $6, sha256_stored = $7, sha256_server = $8
	WHERE name = $9`,
		norm.Bytes(c.SHA1.Salt), c.SHA1.Iter, norm.Bytes(c.SHA1.StoredKey), norm.Bytes(c.SHA1.ServerKey),
		norm.Bytes(c.SHA256.Salt), c.SHA256.Iter, norm.Bytes(c.SHA256.StoredKey), norm.Bytes(c.SHA256.ServerKey),
		account)
	if err != nil {
		return fmt.Errorf("postgres: set credentials: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: set credentials %q: %w", account, auth.ErrNotFound)
	}
	return nil
}

// DeleteAccount implements auth.Store. The foreign keys of every per-user
// table cascade, so the single DELETE removes all of the user's data
// atomically.
func (s *AccountStore) DeleteAccount(ctx context.Context, account string) error {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM accounts WHERE name = $1`, account)
	if err != nil {
		return fmt.Errorf("postgres: delete account: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete account %q: %w", account, auth.ErrNotFound)
	}
	return nil
}

// Accounts implements auth.Store. Names sort bytewise (COLLATE "C").
func (s *AccountStore) Accounts(ctx context.Context, domain string) ([]string, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if domain == "" {
		rows, err = s.db.pool.Query(ctx, `SELECT name FROM accounts ORDER BY name`)
	} else {
		rows, err = s.db.pool.Query(ctx, `SELECT name FROM accounts WHERE domain = $1 ORDER BY name`, domain)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: list accounts: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: list accounts: %w", err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	return names, nil
}
