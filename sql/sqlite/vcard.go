package sqlite

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"

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
	err := s.db.r.QueryRowContext(ctx, `SELECT card FROM vcards WHERE account = ?`, user).Scan(&card)
	if errors.Is(err, dbsql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: vcard of %q: %w", user, vcard.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: vcard: %w", err)
	}
	return card, nil
}

// SetVCard implements vcard.Store.
func (s *VCardStore) SetVCard(ctx context.Context, user string, card []byte) error {
	if _, err := s.db.w.ExecContext(ctx, `INSERT INTO vcards (account, card) VALUES (?, ?)
	ON CONFLICT (account) DO UPDATE SET card = excluded.card`, user, norm.Bytes(card)); err != nil {
		return noAccount("set vcard", user, err)
	}
	return nil
}
