package sqlite

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"time"

	"dormouse.im/dormouse/session"
)

var _ session.SMStore = (*SMStore)(nil)

// SMStore implements session.SMStore.
type SMStore struct{ db *DB }

// SM returns the store of XEP-0198 session records.
func (db *DB) SM() *SMStore { return &SMStore{db: db} }

// PutSM implements session.SMStore with one conditional upsert.
func (s *SMStore) PutSM(ctx context.Context, r session.SMRecord) error {
	_, err := s.db.w.ExecContext(ctx, `INSERT INTO sm_sessions (id, account, node, h, live, version, expires)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET account = excluded.account, node = excluded.node, h = excluded.h, live = excluded.live,
		version = excluded.version, expires = excluded.expires
	WHERE sm_sessions.version < excluded.version`,
		r.ID, r.Account, r.Node, int64(r.H), r.Live, int64(r.Version), r.Expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("sqlite: put sm session: %w", err)
	}
	return nil
}

// LostSM implements session.SMStore.
func (s *SMStore) LostSM(ctx context.Context, id, account string, now time.Time) (session.SMRecord, bool, error) {
	r := session.SMRecord{ID: id, Account: account}
	var h, version, expires int64
	err := s.db.r.QueryRowContext(ctx, `SELECT node, h, live, version, expires FROM sm_sessions
	WHERE id = ? AND account = ? AND expires > ?`, id, account, now.UnixMilli()).Scan(&r.Node, &h, &r.Live, &version, &expires)
	if errors.Is(err, dbsql.ErrNoRows) {
		return session.SMRecord{}, false, nil
	}
	if err != nil {
		return session.SMRecord{}, false, fmt.Errorf("sqlite: sm session: %w", err)
	}
	r.H, r.Version, r.Expires = uint32(h), uint64(version), time.UnixMilli(expires)
	return r, true, nil
}

// PurgeSM implements session.SMStore.
func (s *SMStore) PurgeSM(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.w.ExecContext(ctx, `DELETE FROM sm_sessions WHERE expires <= ?`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge sm sessions: %w", err)
	}
	return res.RowsAffected()
}
