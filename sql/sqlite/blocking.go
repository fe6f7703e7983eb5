package sqlite

import (
	"context"
	dbsql "database/sql"
	"fmt"

	"dormouse.im/dormouse/blocking"
)

var _ blocking.Store = (*BlockingStore)(nil)

// BlockingStore implements blocking.Store.
//
// Block for a user without an account fails with an error wrapping
// auth.ErrNotFound.
type BlockingStore struct{ db *DB }

// BlockList implements blocking.Store. JIDs sort bytewise.
func (s *BlockingStore) BlockList(ctx context.Context, user string) ([]string, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT jid FROM blocklist WHERE account = ? ORDER BY jid`, user)
	if err != nil {
		return nil, fmt.Errorf("sqlite: block list: %w", err)
	}
	defer rows.Close()
	var jids []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			return nil, fmt.Errorf("sqlite: block list: %w", err)
		}
		jids = append(jids, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: block list: %w", err)
	}
	return jids, nil
}

// Block implements blocking.Store. All JIDs are added in one transaction.
func (s *BlockingStore) Block(ctx context.Context, user string, jids []string) error {
	if len(jids) == 0 {
		return nil
	}
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO blocklist (account, jid) VALUES (?, ?)
		ON CONFLICT (account, jid) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, j := range jids {
			if _, err := stmt.ExecContext(ctx, user, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return noAccount("block", user, err)
	}
	return nil
}

// Unblock implements blocking.Store. All JIDs are removed in one
// transaction.
func (s *BlockingStore) Unblock(ctx context.Context, user string, jids []string) error {
	if len(jids) == 0 {
		if _, err := s.db.w.ExecContext(ctx, `DELETE FROM blocklist WHERE account = ?`, user); err != nil {
			return fmt.Errorf("sqlite: unblock all: %w", err)
		}
		return nil
	}
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `DELETE FROM blocklist WHERE account = ? AND jid = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, j := range jids {
			if _, err := stmt.ExecContext(ctx, user, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: unblock: %w", err)
	}
	return nil
}
