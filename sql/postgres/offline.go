package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ offline.Store = (*OfflineStore)(nil)

// OfflineStore implements offline.Store. Stamps are kept with microsecond
// precision; a zero Stamp is stored as the current time.
//
// Store for a user without an account fails with an error wrapping
// auth.ErrNotFound.
type OfflineStore struct{ db *DB }

// Store implements offline.Store. With a limit, it locks the user's account
// row before counting, so concurrent Stores for one user are serialized and
// the limit is never exceeded.
func (s *OfflineStore) Store(ctx context.Context, user string, m offline.Message, limit int) error {
	stamp := norm.Stamp(m.Stamp)
	stanza := norm.Bytes(m.Stanza)
	if limit <= 0 {
		if _, err := s.db.pool.Exec(ctx, `INSERT INTO offline_messages (account, stamp, stanza)
		VALUES ($1, $2, $3)`, user, stamp, stanza); err != nil {
			return noAccount("offline store", user, err)
		}
		return nil
	}
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE name = $1 FOR NO KEY UPDATE`, user).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("user %q: %w", user, auth.ErrNotFound)
		}
		if err != nil {
			return err
		}
		// A new statement, hence (in READ COMMITTED) a snapshot taken after
		// the lock was granted: the count includes every earlier Store.
		tag, err := tx.Exec(ctx, `INSERT INTO offline_messages (account, stamp, stanza)
		SELECT $1, $2, $3
		WHERE (SELECT count(*) FROM offline_messages WHERE account = $1) < $4`,
			user, stamp, stanza, limit)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %q: %w", user, offline.ErrFull)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: offline store: %w", err)
	}
	return nil
}

// Messages implements offline.Store.
func (s *OfflineStore) Messages(ctx context.Context, user string, max int) ([]offline.Message, error) {
	var limit *int64 // NULL: no limit
	if max > 0 {
		l := int64(max)
		limit = &l
	}
	rows, err := s.db.pool.Query(ctx, `SELECT id, stamp, stanza FROM offline_messages
	WHERE account = $1 ORDER BY id LIMIT $2`, user, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: offline messages: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (offline.Message, error) {
		var m offline.Message
		err := r.Scan(&m.ID, &m.Stamp, &m.Stanza)
		m.Stamp = m.Stamp.UTC()
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: offline messages: %w", err)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return ms, nil
}

// Delete implements offline.Store. Ids of other users' messages are ignored.
func (s *OfflineStore) Delete(ctx context.Context, user string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM offline_messages
	WHERE account = $1 AND id = ANY($2)`, user, ids); err != nil {
		return fmt.Errorf("postgres: offline delete: %w", err)
	}
	return nil
}

// Count implements offline.Store.
func (s *OfflineStore) Count(ctx context.Context, user string) (int, error) {
	var n int
	if err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM offline_messages WHERE account = $1`, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: offline count: %w", err)
	}
	return n, nil
}
