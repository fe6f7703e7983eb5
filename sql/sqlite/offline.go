package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ offline.Store = (*OfflineStore)(nil)

// OfflineStore implements offline.Store. Stamps are kept in microseconds;
// a zero Stamp is stored as the current time.
//
// Store for a user without an account fails with an error wrapping
// auth.ErrNotFound.
type OfflineStore struct{ db *DB }

// Store implements offline.Store. The limit check and the insert are one
// statement, hence atomic.
func (s *OfflineStore) Store(ctx context.Context, user string, m offline.Message, limit int) error {
	stamp := norm.Stamp(m.Stamp).UnixMicro()
	stanza := norm.Bytes(m.Stanza)
	if limit <= 0 {
		if _, err := s.db.w.ExecContext(ctx, `INSERT INTO offline_messages (account, stamp, stanza)
		VALUES (?, ?, ?)`, user, stamp, stanza); err != nil {
			return noAccount("offline store", user, err)
		}
		return nil
	}
	res, err := s.db.w.ExecContext(ctx, `INSERT INTO offline_messages (account, stamp, stanza)
	SELECT ?, ?, ?
	WHERE (SELECT count(*) FROM offline_messages WHERE account = ?) < ?`,
		user, stamp, stanza, user, limit)
	if err != nil {
		return noAccount("offline store", user, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: offline store: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: offline store for %q: %w", user, offline.ErrFull)
	}
	return nil
}

// Messages implements offline.Store.
func (s *OfflineStore) Messages(ctx context.Context, user string, max int) ([]offline.Message, error) {
	limit := int64(max)
	if max <= 0 {
		limit = -1 // no limit
	}
	rows, err := s.db.r.QueryContext(ctx, `SELECT id, stamp, stanza FROM offline_messages
	WHERE account = ? ORDER BY id LIMIT ?`, user, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: offline messages: %w", err)
	}
	defer rows.Close()
	var ms []offline.Message
	for rows.Next() {
		var (
			m     offline.Message
			stamp int64
		)
		if err := rows.Scan(&m.ID, &stamp, &m.Stanza); err != nil {
			return nil, fmt.Errorf("sqlite: offline messages: %w", err)
		}
		m.Stamp = time.UnixMicro(stamp).UTC()
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: offline messages: %w", err)
	}
	return ms, nil
}

// Delete implements offline.Store. Ids of other users' messages are ignored.
func (s *OfflineStore) Delete(ctx context.Context, user string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("sqlite: offline delete: %w", err)
	}
	if _, err := s.db.w.ExecContext(ctx, `DELETE FROM offline_messages
	WHERE account = ? AND id IN (SELECT value FROM json_each(?))`, user, string(list)); err != nil {
		return fmt.Errorf("sqlite: offline delete: %w", err)
	}
	return nil
}

// Count implements offline.Store.
func (s *OfflineStore) Count(ctx context.Context, user string) (int, error) {
	var n int
	if err := s.db.r.QueryRowContext(ctx, `SELECT count(*) FROM offline_messages WHERE account = ?`, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: offline count: %w", err)
	}
	return n, nil
}
