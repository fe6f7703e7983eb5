package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/push"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ push.Store = (*PushStore)(nil)

// PushStore implements push.Store.
//
// Enable for a user without an account fails with an error wrapping
// auth.ErrNotFound.
type PushStore struct{ db *DB }

// Push returns the push registration store.
func (db *DB) Push() *PushStore { return &PushStore{db: db} }

const pushColumns = `account, jid, node, resource, options, encrypt_key, encrypt_max,
	since, last_success, last_error, last_error_text, errors`

func scanPush(row pgx.CollectableRow) (push.Registration, error) {
	var r push.Registration
	var ok, bad *time.Time
	err := row.Scan(&r.Account, &r.JID, &r.Node, &r.Resource, &r.Options, &r.EncryptKey, &r.EncryptMaxSize,
		&r.Since, &ok, &bad, &r.LastErrorText, &r.Errors)
	r.Since = r.Since.UTC()
	if ok != nil {
		r.LastSuccess = ok.UTC()
	}
	if bad != nil {
		r.LastError = bad.UTC()
	}
	return r, err
}

func collectPush(rows pgx.Rows, err error) ([]push.Registration, error) {
	if err != nil {
		return nil, err
	}
	regs, err := pgx.CollectRows(rows, scanPush)
	if len(regs) == 0 {
		regs = nil
	}
	return regs, err
}

// Enable implements push.Store, in one transaction.
func (s *PushStore) Enable(ctx context.Context, reg push.Registration, max int) ([]push.Registration, error) {
	var removed []push.Registration
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO push_registrations
		(account, jid, node, resource, options, encrypt_key, encrypt_max, since)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (account, jid, node) DO UPDATE SET resource = excluded.resource,
			options = excluded.options, encrypt_key = excluded.encrypt_key,
			encrypt_max = excluded.encrypt_max, since = excluded.since,
			last_success = NULL, last_error = NULL, last_error_text = '', errors = 0`,
			reg.Account, reg.JID, reg.Node, reg.Resource, reg.Options, reg.EncryptKey, reg.EncryptMaxSize,
			norm.FloorMicro(norm.Stamp(reg.Since))); err != nil {
			return err
		}
		if max <= 0 {
			return nil
		}
		var err error
		removed, err = collectPush(tx.Query(ctx, `DELETE FROM push_registrations WHERE (account, jid, node) IN (
			SELECT account, jid, node FROM push_registrations
			WHERE account = $1 AND NOT (jid = $2 AND node = $3)
			ORDER BY since DESC, jid, node OFFSET $4
		) RETURNING `+pushColumns, reg.Account, reg.JID, reg.Node, max-1))
		return err
	})
	if err != nil {
		return nil, noAccount("push enable", reg.Account, err)
	}
	return removed, nil
}

// Disable implements push.Store.
func (s *PushStore) Disable(ctx context.Context, account, jid, node string) ([]push.Registration, error) {
	gone, err := collectPush(s.db.pool.Query(ctx, `DELETE FROM push_registrations
	WHERE account = $1 AND jid = $2 AND ($3 = '' OR node = $3) RETURNING `+pushColumns, account, jid, node))
	if err != nil {
		return nil, fmt.Errorf("postgres: push disable: %w", err)
	}
	return gone, nil
}

// Registrations implements push.Store.
func (s *PushStore) Registrations(ctx context.Context, account string) ([]push.Registration, error) {
	regs, err := collectPush(s.db.pool.Query(ctx, `SELECT `+pushColumns+` FROM push_registrations
	WHERE account = $1 ORDER BY since, jid, node`, account))
	if err != nil {
		return nil, fmt.Errorf("postgres: push registrations: %w", err)
	}
	return regs, nil
}

// Record implements push.Store.
func (s *PushStore) Record(ctx context.Context, account, jid, node string, o push.Outcome) error {
	at := norm.FloorMicro(norm.Stamp(o.At))
	var err error
	var n int64
	if o.Err == "" {
		tag, e := s.db.pool.Exec(ctx, `UPDATE push_registrations SET last_success = $1, errors = 0
		WHERE account = $2 AND jid = $3 AND node = $4`, at, account, jid, node)
		n, err = tag.RowsAffected(), e
	} else {
		tag, e := s.db.pool.Exec(ctx, `UPDATE push_registrations
		SET last_error = $1, last_error_text = $2, errors = errors + 1
		WHERE account = $3 AND jid = $4 AND node = $5`, at, o.Err, account, jid, node)
		n, err = tag.RowsAffected(), e
	}
	if err != nil {
		return fmt.Errorf("postgres: push record: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: push record %s: %w", account, push.ErrNotFound)
	}
	return nil
}
