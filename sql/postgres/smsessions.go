package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/session"
)

var _ session.SMStore = (*SMStore)(nil)

// SMStore implements session.SMStore.
type SMStore struct{ db *DB }

// SM returns the store of XEP-0198 session records.
func (db *DB) SM() *SMStore { return &SMStore{db: db} }

// PutSM implements session.SMStore with one conditional upsert.
func (s *SMStore) PutSM(ctx context.Context, r session.SMRecord) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO sm_sessions (id, account, node, h, live, version, expires)
	VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (id) DO UPDATE SET account = excluded.account, node = excluded.node, h = excluded.h, live = excluded.live,
		version = excluded.version, expires = excluded.expires
	WHERE sm_sessions.version < excluded.version`,
		r.ID, r.Account, r.Node, int64(r.H), r.Live, int64(r.Version), r.Expires)
	if err != nil {
		return fmt.Errorf("postgres: put sm session: %w", err)
	}
	return nil
}

// LostSM implements session.SMStore.
func (s *SMStore) LostSM(ctx context.Context, id, account string, now time.Time) (session.SMRecord, bool, error) {
	r := session.SMRecord{ID: id, Account: account}
	var h, version int64
	err := s.db.pool.QueryRow(ctx, `SELECT node, h, live, version, expires FROM sm_sessions
	WHERE id = $1 AND account = $2 AND expires > $3`, id, account, now).Scan(&r.Node, &h, &r.Live, &version, &r.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return session.SMRecord{}, false, nil
	}
	if err != nil {
		return session.SMRecord{}, false, fmt.Errorf("postgres: sm session: %w", err)
	}
	r.H, r.Version = uint32(h), uint64(version)
	return r, true, nil
}

// PurgeSM implements session.SMStore.
func (s *SMStore) PurgeSM(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM sm_sessions WHERE expires <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge sm sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
