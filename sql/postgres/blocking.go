package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/blocking"
)

var _ blocking.Store = (*BlockingStore)(nil)

// BlockingStore implements blocking.Store.
//
// Block for a user without an account fails with an error wrapping
// auth.ErrNotFound.
type BlockingStore struct{ db *DB }

// BlockList implements blocking.Store. JIDs sort bytewise (COLLATE "C").
func (s *BlockingStore) BlockList(ctx context.Context, user string) ([]string, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT jid FROM blocklist WHERE account = $1 ORDER BY jid`, user)
	if err != nil {
		return nil, fmt.Errorf("postgres: block list: %w", err)
	}
	jids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: block list: %w", err)
	}
	if len(jids) == 0 {
		return nil, nil
	}
	return jids, nil
}

// Block implements blocking.Store. All JIDs are added in one statement.
func (s *BlockingStore) Block(ctx context.Context, user string, jids []string) error {
	if len(jids) == 0 {
		return nil
	}
	if _, err := s.db.pool.Exec(ctx, `INSERT INTO blocklist (account, jid)
	SELECT $1, j FROM unnest($2::text[]) AS j
	ON CONFLICT (account, jid) DO NOTHING`, user, jids); err != nil {
		return noAccount("block", user, err)
	}
	return nil
}

// Unblock implements blocking.Store. All JIDs are removed in one statement.
func (s *BlockingStore) Unblock(ctx context.Context, user string, jids []string) error {
	var err error
	if len(jids) == 0 {
		_, err = s.db.pool.Exec(ctx, `DELETE FROM blocklist WHERE account = $1`, user)
	} else {
		_, err = s.db.pool.Exec(ctx, `DELETE FROM blocklist WHERE account = $1 AND jid = ANY($2)`, user, jids)
	}
	if err != nil {
		return fmt.Errorf("postgres: unblock: %w", err)
	}
	return nil
}
