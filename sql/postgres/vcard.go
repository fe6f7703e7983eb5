package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/sql/internal/norm"
	"dormouse.im/dormouse/vcard"
)

var _ vcard.Store = (*VCardStore)(nil)

// VCardStore implements vcard.Store.
//
// SetVCard for a user without an account fails with an error wrapping
// auth.ErrNotFound.
type VCardStore struct{ db *DB }

// VCard implements vcard.Store.
func (s *VCardStore) VCard(ctx context.Context, user string) ([]byte, error) {
	var card []byte
	err := s.db.pool.QueryRow(ctx, `SELECT card FROM vcards WHERE account = $1`, user).Scan(&card)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: vcard of %q: %w", user, vcard.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: vcard: %w", err)
	}
	return card, nil
}

// SetVCard implements vcard.Store.
func (s *VCardStore) SetVCard(ctx context.Context, user string, card []byte) error {
	if _, err := s.db.pool.Exec(ctx, `INSERT INTO vcards (account, card) VALUES ($1, $2)
	ON CONFLICT (account) DO UPDATE SET card = excluded.card`, user, norm.Bytes(card)); err != nil {
		return noAccount("set vcard", user, err)
	}
	return nil
}
