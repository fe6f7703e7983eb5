package sqlite

import (
	"context"
	dbsql "database/sql"
	"fmt"
	"time"

	"dormouse.im/dormouse/push"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ push.Store = (*PushStore)(nil)

// PushStore implements push.Store. Times are kept as Unix microseconds.
//
// Enable for a user without an account fails with an error wrapping
// auth.ErrNotFound.
type PushStore struct{ db *DB }

// Push returns the push registration store.
func (db *DB) Push() *PushStore { return &PushStore{db: db} }

const pushColumns = `account, jid, node, resource, options, encrypt_key, encrypt_max,
	since, last_success, last_error, last_error_text, errors`

func scanPush(sc interface{ Scan(...any) error }) (push.Registration, error) {
	var r push.Registration
	var since, ok, bad int64
	err := sc.Scan(&r.Account, &r.JID, &r.Node, &r.Resource, &r.Options, &r.EncryptKey, &r.EncryptMaxSize,
		&since, &ok, &bad, &r.LastErrorText, &r.Errors)
	r.Since = time.UnixMicro(since).UTC()
	r.LastSuccess, r.LastError = microOrZero(ok), microOrZero(bad)
	return r, err
}

func microOrZero(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func queryPush(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*dbsql.Rows, error)
}, query string, args ...any) ([]push.Registration, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []push.Registration
	for rows.Next() {
		r, err := scanPush(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Enable implements push.Store, in one transaction.
func (s *PushStore) Enable(ctx context.Context, reg push.Registration, max int) ([]push.Registration, error) {
	var removed []push.Registration
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO push_registrations
		(account, jid, node, resource, options, encrypt_key, encrypt_max, since)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account, jid, node) DO UPDATE SET resource = excluded.resource,
			options = excluded.options, encrypt_key = excluded.encrypt_key,
			encrypt_max = excluded.encrypt_max, since = excluded.since,
			last_success = 0, last_error = 0, last_error_text = '', errors = 0`,
			reg.Account, reg.JID, reg.Node, reg.Resource, reg.Options, reg.EncryptKey, reg.EncryptMaxSize,
			norm.Stamp(reg.Since).UnixMicro()); err != nil {
			return err
		}
		if max <= 0 {
			return nil
		}
		var err error
		removed, err = queryPush(ctx, tx, `SELECT `+pushColumns+` FROM push_registrations
		WHERE account = ? AND NOT (jid = ? AND node = ?)
		ORDER BY since DESC, jid, node LIMIT -1 OFFSET ?`, reg.Account, reg.JID, reg.Node, max-1)
		if err != nil {
			return err
		}
		for _, r := range removed {
			if _, err := tx.ExecContext(ctx, `DELETE FROM push_registrations WHERE account = ? AND jid = ? AND node = ?`,
				r.Account, r.JID, r.Node); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, noAccount("push enable", reg.Account, err)
	}
	return removed, nil
}

// Disable implements push.Store.
func (s *PushStore) Disable(ctx context.Context, account, jid, node string) ([]push.Registration, error) {
	query := `DELETE FROM push_registrations WHERE account = ? AND jid = ? AND (? = '' OR node = ?) RETURNING ` + pushColumns
	gone, err := queryPush(ctx, s.db.w, query, account, jid, node, node)
	if err != nil {
		return nil, fmt.Errorf("sqlite: push disable: %w", err)
	}
	return gone, nil
}

// Registrations implements push.Store.
func (s *PushStore) Registrations(ctx context.Context, account string) ([]push.Registration, error) {
	regs, err := queryPush(ctx, s.db.r, `SELECT `+pushColumns+` FROM push_registrations
	WHERE account = ? ORDER BY since, jid, node`, account)
	if err != nil {
		return nil, fmt.Errorf("sqlite: push registrations: %w", err)
	}
	return regs, nil
}

// Record implements push.Store.
func (s *PushStore) Record(ctx context.Context, account, jid, node string, o push.Outcome) error {
	at := norm.Stamp(o.At).UnixMicro()
	var res dbsql.Result
	var err error
	if o.Err == "" {
		res, err = s.db.w.ExecContext(ctx, `UPDATE push_registrations SET last_success = ?, errors = 0
		WHERE account = ? AND jid = ? AND node = ?`, at, account, jid, node)
	} else {
		res, err = s.db.w.ExecContext(ctx, `UPDATE push_registrations
		SET last_error = ?, last_error_text = ?, errors = errors + 1
		WHERE account = ? AND jid = ? AND node = ?`, at, o.Err, account, jid, node)
	}
	if err != nil {
		return fmt.Errorf("sqlite: push record: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("sqlite: push record %s: %w", account, push.ErrNotFound)
	}
	return nil
}
