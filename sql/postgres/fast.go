package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	_, err := s.db.pool.Exec(ctx, `INSERT INTO fast_tokens
	(hash, account, user_agent, mechanism, nonce, created, expiry) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.Hash, t.Account, t.UserAgent, string(t.Mechanism), t.Nonce, t.Created, t.Expiry)
	if err != nil {
		return noAccount("put fast token", t.Account, err)
	}
	return nil
}

// Tokens implements auth.TokenStore.
func (s *TokenStore) Tokens(ctx context.Context, account, userAgent string) ([]auth.FastToken, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT hash, mechanism, nonce, created, expiry, coalesce(count, 0)
	FROM fast_tokens WHERE account = $1 AND user_agent = $2 ORDER BY created DESC, hash`, account, userAgent)
	if err != nil {
		return nil, fmt.Errorf("postgres: fast tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.FastToken, error) {
		t := auth.FastToken{Account: account, UserAgent: userAgent}
		var mech string
		var created, expiry time.Time
		var count int64
		err := r.Scan(&t.Hash, &mech, &t.Nonce, &created, &expiry, &count)
		t.Mechanism = auth.Mechanism(mech)
		t.Created, t.Expiry, t.Count = created, expiry, uint32(count)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: fast tokens: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// UseToken implements auth.TokenStore with one conditional UPDATE.
func (s *TokenStore) UseToken(ctx context.Context, account string, hash []byte, count uint32, hasCount bool) (bool, error) {
	if !hasCount {
		return s.exists(ctx, account, hash)
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE fast_tokens SET count = $1
	WHERE hash = $2 AND account = $3 AND (count IS NULL OR count < $1)`, int64(count), hash, account)
	if err != nil {
		return false, fmt.Errorf("postgres: use fast token: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteToken implements auth.TokenStore.
func (s *TokenStore) DeleteToken(ctx context.Context, account string, hash []byte) error {
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM fast_tokens WHERE hash = $1 AND account = $2`, hash, account); err != nil {
		return fmt.Errorf("postgres: delete fast token: %w", err)
	}
	return nil
}

// DeleteTokens implements auth.TokenStore.
func (s *TokenStore) DeleteTokens(ctx context.Context, account, userAgent string) error {
	var err error
	if userAgent == "" {
		_, err = s.db.pool.Exec(ctx, `DELETE FROM fast_tokens WHERE account = $1`, account)
	} else {
		_, err = s.db.pool.Exec(ctx, `DELETE FROM fast_tokens WHERE account = $1 AND user_agent = $2`, account, userAgent)
	}
	if err != nil {
		return fmt.Errorf("postgres: delete fast tokens: %w", err)
	}
	return nil
}

// exists reports whether the account has the token.
func (s *TokenStore) exists(ctx context.Context, account string, hash []byte) (bool, error) {
	var n int
	if err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM fast_tokens WHERE hash = $1 AND account = $2`, hash, account).Scan(&n); err != nil {
		return false, fmt.Errorf("postgres: use fast token: %w", err)
	}
	return n == 1, nil
}
