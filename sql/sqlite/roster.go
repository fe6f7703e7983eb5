package sqlite

import (
	"context"
	dbsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ roster.Store = (*RosterStore)(nil)

// RosterStore implements roster.Store. Groups are kept as a JSON array.
//
// Writes for a user without an account fail with an error wrapping
// auth.ErrNotFound.
type RosterStore struct{ db *DB }

// itemColumns are scanned by scanItems, in this order, after the version.
const itemColumns = `coalesce(i.contact, ''), coalesce(i.name, ''), coalesce(i.groups, '[]'),
	coalesce(i.subscription, 'none'), coalesce(i.ask, 0), coalesce(i.version, 0), coalesce(i.removed, 0)`

// Roster implements roster.Store. Items and version are read in one
// statement, so they are consistent.
func (s *RosterStore) Roster(ctx context.Context, user string) ([]roster.Item, int64, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT v.version, `+itemColumns+`
	FROM roster_versions v
	LEFT JOIN roster_items i ON i.account = v.account AND i.removed = 0
	WHERE v.account = ?
	ORDER BY i.contact`, user)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: roster: %w", err)
	}
	items, ver, err := scanItems(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: roster: %w", err)
	}
	return items, ver, nil
}

// Changes implements roster.Store.
func (s *RosterStore) Changes(ctx context.Context, user string, since int64) ([]roster.Item, int64, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT v.version, `+itemColumns+`
	FROM roster_versions v
	LEFT JOIN roster_items i ON i.account = v.account AND i.version > ?
	WHERE v.account = ?
	ORDER BY i.version`, since, user)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: roster changes: %w", err)
	}
	items, ver, err := scanItems(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: roster changes: %w", err)
	}
	return items, ver, nil
}

// scanItems reads rows of (roster version, itemColumns) from a LEFT JOIN:
// a row with an empty contact stands for "no items", and no rows at all
// for "version 0". It closes rows.
func scanItems(rows *dbsql.Rows) ([]roster.Item, int64, error) {
	defer rows.Close()
	var (
		items []roster.Item
		ver   int64
	)
	for rows.Next() {
		var (
			it     roster.Item
			groups string
		)
		if err := rows.Scan(&ver, &it.Contact, &it.Name, &groups, &it.Subscription, &it.Ask, &it.Version, &it.Removed); err != nil {
			return nil, 0, err
		}
		if it.Contact == "" {
			continue
		}
		if err := decodeGroups(groups, &it.Groups); err != nil {
			return nil, 0, err
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return items, ver, nil
}

func decodeGroups(s string, g *[]string) error {
	if s == "[]" || s == "" {
		*g = nil
		return nil
	}
	if err := json.Unmarshal([]byte(s), g); err != nil {
		return fmt.Errorf("decode groups: %w", err)
	}
	return nil
}

// Item implements roster.Store.
func (s *RosterStore) Item(ctx context.Context, user, contact string) (roster.Item, error) {
	it := roster.Item{Contact: contact}
	var groups string
	err := s.db.r.QueryRowContext(ctx, `SELECT name, groups, subscription, ask, version
	FROM roster_items WHERE account = ? AND contact = ? AND removed = 0`, user, contact).Scan(
		&it.Name, &groups, &it.Subscription, &it.Ask, &it.Version)
	if errors.Is(err, dbsql.ErrNoRows) {
		return roster.Item{}, fmt.Errorf("sqlite: roster item %q: %w", contact, roster.ErrNotFound)
	}
	if err != nil {
		return roster.Item{}, fmt.Errorf("sqlite: roster item: %w", err)
	}
	if err := decodeGroups(groups, &it.Groups); err != nil {
		return roster.Item{}, fmt.Errorf("sqlite: roster item: %w", err)
	}
	return it, nil
}

// bumpVersion increments the user's roster version and returns it.
func bumpVersion(ctx context.Context, tx *dbsql.Tx, user string) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `INSERT INTO roster_versions (account, version) VALUES (?, 1)
	ON CONFLICT (account) DO UPDATE SET version = version + 1
	RETURNING version`, user).Scan(&v)
	return v, err
}

// Put implements roster.Store. Groups are stored sorted and without
// duplicates; an empty Subscription means roster.SubNone.
func (s *RosterStore) Put(ctx context.Context, user string, it roster.Item) (int64, error) {
	sub, err := norm.Subscription(it.Subscription)
	if err != nil {
		return 0, fmt.Errorf("sqlite: roster put: %w", err)
	}
	groups := "[]"
	if g := norm.Groups(it.Groups); g != nil {
		b, err := json.Marshal(g)
		if err != nil {
			return 0, fmt.Errorf("sqlite: roster put: %w", err)
		}
		groups = string(b)
	}
	var ver int64
	err = s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		var err error
		if ver, err = bumpVersion(ctx, tx, user); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO roster_items
		(account, contact, name, groups, subscription, ask, version, removed)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0)
		ON CONFLICT (account, contact) DO UPDATE SET
		name = excluded.name, groups = excluded.groups, subscription = excluded.subscription,
		ask = excluded.ask, version = excluded.version, removed = 0`,
			user, it.Contact, it.Name, groups, sub, it.Ask, ver)
		return err
	})
	if err != nil {
		return 0, noAccount("roster put", user, err)
	}
	return ver, nil
}

// Delete implements roster.Store. The row stays as a tombstone (removed,
// with name, groups, subscription and ask cleared).
func (s *RosterStore) Delete(ctx context.Context, user, contact string) (int64, error) {
	var ver int64
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM roster_items
		WHERE account = ? AND contact = ? AND removed = 0`, user, contact).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("roster item %q: %w", contact, roster.ErrNotFound)
		}
		var err error
		if ver, err = bumpVersion(ctx, tx, user); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE roster_items
		SET removed = 1, version = ?, name = '', groups = '[]', subscription = 'none', ask = 0
		WHERE account = ? AND contact = ?`, ver, user, contact)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: roster delete: %w", err)
	}
	return ver, nil
}

// Count implements roster.Store.
func (s *RosterStore) Count(ctx context.Context, user string) (int, error) {
	var n int
	if err := s.db.r.QueryRowContext(ctx, `SELECT count(*) FROM roster_items
	WHERE account = ? AND removed = 0`, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: roster count: %w", err)
	}
	return n, nil
}

// AddPending implements roster.Store. A replaced request moves to the end:
// the order is that of each contact's latest request.
func (s *RosterStore) AddPending(ctx context.Context, user string, p roster.Pending) error {
	_, err := s.db.w.ExecContext(ctx, `INSERT INTO roster_pending (account, contact, stanza, seq)
	VALUES (?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM roster_pending WHERE account = ?))
	ON CONFLICT (account, contact) DO UPDATE SET stanza = excluded.stanza, seq = excluded.seq`,
		user, p.Contact, norm.Bytes(p.Stanza), user)
	if err != nil {
		return noAccount("roster add pending", user, err)
	}
	return nil
}

// PendingRequests implements roster.Store.
func (s *RosterStore) PendingRequests(ctx context.Context, user string) ([]roster.Pending, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT contact, stanza FROM roster_pending
	WHERE account = ? ORDER BY seq`, user)
	if err != nil {
		return nil, fmt.Errorf("sqlite: roster pending: %w", err)
	}
	defer rows.Close()
	var ps []roster.Pending
	for rows.Next() {
		var p roster.Pending
		if err := rows.Scan(&p.Contact, &p.Stanza); err != nil {
			return nil, fmt.Errorf("sqlite: roster pending: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: roster pending: %w", err)
	}
	return ps, nil
}

// RemovePending implements roster.Store.
func (s *RosterStore) RemovePending(ctx context.Context, user, contact string) error {
	if _, err := s.db.w.ExecContext(ctx, `DELETE FROM roster_pending WHERE account = ? AND contact = ?`, user, contact); err != nil {
		return fmt.Errorf("sqlite: roster remove pending: %w", err)
	}
	return nil
}
