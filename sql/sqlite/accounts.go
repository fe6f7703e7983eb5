package sqlite

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ auth.Store = (*AccountStore)(nil)

// AccountStore implements auth.Store.
type AccountStore struct{ db *DB }

// CreateAccount implements auth.Store.
func (s *AccountStore) CreateAccount(ctx context.Context, account string, c auth.Credentials) error {
	res, err := s.db.w.ExecContext(ctx, `INSERT INTO accounts
	(name, domain, sha1_salt, sha1_iter, sha1_stored, sha1_server, sha256_salt, sha256_iter, sha256_stored, sha256_server)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (name) DO NOTHING`,
		account, norm.Domain(account),
		norm.Bytes(c.SHA1.Salt), c.SHA1.Iter, norm.Bytes(c.SHA1.StoredKey), norm.Bytes(c.SHA1.ServerKey),
		norm.Bytes(c.SHA256.Salt), c.SHA256.Iter, norm.Bytes(c.SHA256.StoredKey), norm.Bytes(c.SHA256.ServerKey))
	if err != nil {
		return fmt.Errorf("sqlite: create account: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: create account: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create account %q: %w", account, auth.ErrExists)
	}
	return nil
}

// credentialsQuery reads an account's credentials.
const credentialsQuery = `SELECT
	sha1_salt, sha1_iter, sha1_stored, sha1_server, sha256_salt, sha256_iter, sha256_stored, sha256_server
	FROM accounts WHERE name = ?`

// Credentials implements auth.Store. It runs at every login, with a
// statement prepared once.
func (s *AccountStore) Credentials(ctx context.Context, account string) (auth.Credentials, error) {
	stmt, err := s.db.rs.prepared(ctx, s.db.r, credentialsQuery)
	if err != nil {
		return auth.Credentials{}, fmt.Errorf("sqlite: credentials: %w", err)
	}
	var c auth.Credentials
	err = stmt.QueryRowContext(ctx, account).Scan(
		&c.SHA1.Salt, &c.SHA1.Iter, &c.SHA1.StoredKey, &c.SHA1.ServerKey,
		&c.SHA256.Salt, &c.SHA256.Iter, &c.SHA256.StoredKey, &c.SHA256.ServerKey)
	if errors.Is(err, dbsql.ErrNoRows) {
		return auth.Credentials{}, fmt.Errorf("sqlite: credentials %q: %w", account, auth.ErrNotFound)
	}
	if err != nil {
		return auth.Credentials{}, fmt.Errorf("sqlite: credentials: %w", err)
	}
	return c, nil
}

// SetCredentials implements auth.Store.
func (s *AccountStore) SetCredentials(ctx context.Context, account string, c auth.Credentials) error {
	res, err := s.db.w.ExecContext(ctx, `UPDATE accounts SET
	sha1_salt = ?, sha1_iter = ?, sha1_stored = ?, sha1_server = ?,
	sha256_salt = ?, sha256_iter = ?, sha256_stored = ?, sha256_server = ?
	WHERE name = ?`,
		norm.Bytes(c.SHA1.Salt), c.SHA1.Iter, norm.Bytes(c.SHA1.StoredKey), norm.Bytes(c.SHA1.ServerKey),
		norm.Bytes(c.SHA256.Salt), c.SHA256.Iter, norm.Bytes(c.SHA256.StoredKey), norm.Bytes(c.SHA256.ServerKey),
		account)
	if err != nil {
		return fmt.Errorf("sqlite: set credentials: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: set credentials: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: set credentials %q: %w", account, auth.ErrNotFound)
	}
	return nil
}

// DeleteAccount implements auth.Store. The foreign keys of every per-user
// table cascade, so the single DELETE removes all of the user's data
// atomically.
func (s *AccountStore) DeleteAccount(ctx context.Context, account string) error {
	res, err := s.db.w.ExecContext(ctx, `DELETE FROM accounts WHERE name = ?`, account)
	if err != nil {
		return fmt.Errorf("sqlite: delete account: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: delete account: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: delete account %q: %w", account, auth.ErrNotFound)
	}
	return nil
}

// Accounts implements auth.Store. Names sort bytewise.
func (s *AccountStore) Accounts(ctx context.Context, domain string) ([]string, error) {
	var (
		rows *dbsql.Rows
		err  error
	)
	if domain == "" {
		rows, err = s.db.r.QueryContext(ctx, `SELECT name FROM accounts ORDER BY name`)
	} else {
		rows, err = s.db.r.QueryContext(ctx, `SELECT name FROM accounts WHERE domain = ? ORDER BY name`, domain)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("sqlite: list accounts: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	return names, nil
}
