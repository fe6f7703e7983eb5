package sqlite

import (
	"context"
	"fmt"
	"time"

	"dormouse.im/dormouse/auth"
)

var _ auth.TokenStore = (*TokenStore)(nil)

// TokenStore implements auth.TokenStore (XEP-0484 FAST tokens).
//
// PutToken for an account that does not exist fails with an error wrapping
// auth.ErrNotFound.
type TokenStore struct{ db *DB }

// Tokens returns the FAST token store.
func (db *DB) Tokens() *TokenStore { return &TokenStore{db: db} }

// PutToken implements auth.TokenStore.
func (s *TokenStore) PutToken(ctx context.Context, t auth.FastToken) error {
	_, err := s.db.w.ExecContext(ctx, `INSERT INTO fast_tokens
	(hash, account, user_agent, mechanism, nonce, created, expiry) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Account, t.UserAgent, string(t.Mechanism), t.Nonce, t.Created.UnixMilli(), t.Expiry.UnixMilli())
	if err != nil {
		return noAccount("put fast token", t.Account, err)
	}
	return nil
}

// Tokens implements auth.TokenStore.
func (s *TokenStore) Tokens(ctx context.Context, account, userAgent string) ([]auth.FastToken, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT hash, mechanism, nonce, created, expiry, coalesce(count, 0)
	FROM fast_tokens WHERE account = ? AND user_agent = ? ORDER BY created DESC, hash`, account, userAgent)
	if err != nil {
		return nil, fmt.Errorf("sqlite: fast tokens: %w", err)
	}
	defer rows.Close()
	var out []auth.FastToken
	for rows.Next() {
		t := auth.FastToken{Account: account, UserAgent: userAgent}
		var mech string
		var created, expiry, count int64
		if err := rows.Scan(&t.Hash, &mech, &t.Nonce, &created, &expiry, &count); err != nil {
			return nil, fmt.Errorf("sqlite: fast tokens: %w", err)
		}
		t.Mechanism = auth.Mechanism(mech)
		t.Created, t.Expiry, t.Count = time.UnixMilli(created), time.UnixMilli(expiry), uint32(count)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: fast tokens: %w", err)
	}
	return out, nil
}

// UseToken implements auth.TokenStore with one conditional UPDATE.
func (s *TokenStore) UseToken(ctx context.Context, account string, hash []byte, count uint32, hasCount bool) (bool, error) {
	if !hasCount {
		return s.exists(ctx, account, hash)
	}
	res, err := s.db.w.ExecContext(ctx, `UPDATE fast_tokens SET count = ?
	WHERE hash = ? AND account = ? AND (count IS NULL OR count < ?)`, int64(count), hash, account, int64(count))
	if err != nil {
		return false, fmt.Errorf("sqlite: use fast token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: use fast token: %w", err)
	}
	return n == 1, nil
}

// DeleteToken implements auth.TokenStore.
func (s *TokenStore) DeleteToken(ctx context.Context, account string, hash []byte) error {
	if _, err := s.db.w.ExecContext(ctx, `DELETE FROM fast_tokens WHERE hash = ? AND account = ?`, hash, account); err != nil {
		return fmt.Errorf("sqlite: delete fast token: %w", err)
	}
	return nil
}

// DeleteTokens implements auth.TokenStore.
func (s *TokenStore) DeleteTokens(ctx context.Context, account, userAgent string) error {
	var err error
	if userAgent == "" {
		_, err = s.db.w.ExecContext(ctx, `DELETE FROM fast_tokens WHERE account = ?`, account)
	} else {
		_, err = s.db.w.ExecContext(ctx, `DELETE FROM fast_tokens WHERE account = ? AND user_agent = ?`, account, userAgent)
	}
	if err != nil {
		return fmt.Errorf("sqlite: delete fast tokens: %w", err)
	}
	return nil
}

// exists reports whether the account has the token.
func (s *TokenStore) exists(ctx context.Context, account string, hash []byte) (bool, error) {
	var n int
	if err := s.db.r.QueryRowContext(ctx, `SELECT count(*) FROM fast_tokens WHERE hash = ? AND account = ?`, hash, account).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlite: use fast token: %w", err)
	}
	return n == 1, nil
}
