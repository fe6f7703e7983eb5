package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ roster.Store = (*RosterStore)(nil)

// RosterStore implements roster.Store. Groups are kept in a text[] column.
//
// Writes for a user without an account fail with an error wrapping
// auth.ErrNotFound.
type RosterStore struct{ db *DB }

// itemColumns are scanned by scanItems, in this order, after the version.
const itemColumns = `coalesce(i.contact, ''), coalesce(i.name, ''), coalesce(i.groups, '{}'),
	coalesce(i.subscription, 'none'), coalesce(i.ask, false), coalesce(i.version, 0), coalesce(i.removed, false)`

// Roster implements roster.Store. Items and version are read in one
// statement, so they are consistent.
func (s *RosterStore) Roster(ctx context.Context, user string) ([]roster.Item, int64, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT v.version, `+itemColumns+`
	FROM roster_versions v
	LEFT JOIN roster_items i ON i.account = v.account AND NOT i.removed
	WHERE v.account = $1
	ORDER BY i.contact`, user)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: roster: %w", err)
	}
	items, ver, err := scanItems(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: roster: %w", err)
	}
	return items, ver, nil
}

// Changes implements roster.Store.
func (s *RosterStore) Changes(ctx context.Context, user string, since int64) ([]roster.Item, int64, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT v.version, `+itemColumns+`
	FROM roster_versions v
	LEFT JOIN roster_items i ON i.account = v.account AND i.version > $2
	WHERE v.account = $1
	ORDER BY i.version`, user, since)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: roster changes: %w", err)
	}
	items, ver, err := scanItems(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: roster changes: %w", err)
	}
	return items, ver, nil
}

// scanItems reads rows of (roster version, itemColumns) from a LEFT JOIN:
// a row with an empty contact stands for "no items", and no rows at all
// for "version 0". It closes rows.
func scanItems(rows pgx.Rows) ([]roster.Item, int64, error) {
	defer rows.Close()
	var (
		items []roster.Item
		ver   int64
	)
	for rows.Next() {
		var it roster.Item
		if err := rows.Scan(&ver, &it.Contact, &it.Name, &it.Groups, &it.Subscription, &it.Ask, &it.Version, &it.Removed); err != nil {
			return nil, 0, err
		}
		if it.Contact == "" {
			continue
		}
		if len(it.Groups) == 0 {
			it.Groups = nil
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return items, ver, nil
}

// Item implements roster.Store.
func (s *RosterStore) Item(ctx context.Context, user, contact string) (roster.Item, error) {
	it := roster.Item{Contact: contact}
	err := s.db.pool.QueryRow(ctx, `SELECT name, groups, subscription, ask, version
	FROM roster_items WHERE account = $1 AND contact = $2 AND NOT removed`, user, contact).Scan(
		&it.Name, &it.Groups, &it.Subscription, &it.Ask, &it.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return roster.Item{}, fmt.Errorf("postgres: roster item %q: %w", contact, roster.ErrNotFound)
	}
	if err != nil {
		return roster.Item{}, fmt.Errorf("postgres: roster item: %w", err)
	}
	if len(it.Groups) == 0 {
		it.Groups = nil
	}
	return it, nil
}

// Put implements roster.Store. Groups are stored sorted and without
// duplicates; an empty Subscription means roster.SubNone. The version bump
// and the upsert are one statement.
func (s *RosterStore) Put(ctx context.Context, user string, it roster.Item) (int64, error) {
	sub, err := norm.Subscription(it.Subscription)
	if err != nil {
		return 0, fmt.Errorf("postgres: roster put: %w", err)
	}
	groups := norm.Groups(it.Groups)
	if groups == nil {
		groups = []string{} // NOT NULL
	}
	var ver int64
	err = s.db.pool.QueryRow(ctx, `WITH v AS (
		INSERT INTO roster_versions (account, version) VALUES ($1, 1)
		ON CONFLICT (account) DO UPDATE SET version = roster_versions.version + 1
		RETURNING version
	)
	INSERT INTO roster_items (account, contact, name, groups, subscription, ask, version, removed)
	SELECT $1, $2, $3, $4, $5, $6, v.version, false FROM v
	ON CONFLICT (account, contact) DO UPDATE SET
	name = excluded.name, groups = excluded.groups, subscription = excluded.subscription,
	ask = excluded.ask, version = excluded.version, removed = false
	RETURNING version`, user, it.Contact, it.Name, groups, sub, it.Ask).Scan(&ver)
	if err != nil {
		return 0, noAccount("roster put", user, err)
	}
	return ver, nil
}

// Delete implements roster.Store. The row stays as a tombstone (removed,
// with name, groups, subscription and ask cleared). Like Put, it locks the
// version row before the item row, so the two cannot deadlock.
func (s *RosterStore) Delete(ctx context.Context, user, contact string) (int64, error) {
	var ver int64
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT version FROM roster_versions WHERE account = $1 FOR UPDATE`, user).Scan(&ver)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("roster item %q: %w", contact, roster.ErrNotFound)
		}
		if err != nil {
			return err
		}
		ver++
		tag, err := tx.Exec(ctx, `UPDATE roster_items
		SET removed = true, version = $3, name = '', groups = '{}', subscription = 'none', ask = false
		WHERE account = $1 AND contact = $2 AND NOT removed`, user, contact, ver)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("roster item %q: %w", contact, roster.ErrNotFound)
		}
		_, err = tx.Exec(ctx, `UPDATE roster_versions SET version = $2 WHERE account = $1`, user, ver)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: roster delete: %w", err)
	}
	return ver, nil
}

// Count implements roster.Store.
func (s *RosterStore) Count(ctx context.Context, user string) (int, error) {
	var n int
	if err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM roster_items
	WHERE account = $1 AND NOT removed`, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: roster count: %w", err)
	}
	return n, nil
}

// AddPending implements roster.Store. A replaced request moves to the end:
// the order is that of each contact's latest request.
func (s *RosterStore) AddPending(ctx context.Context, user string, p roster.Pending) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO roster_pending (account, contact, stanza)
	VALUES ($1, $2, $3)
	ON CONFLICT (account, contact) DO UPDATE SET stanza = excluded.stanza, seq = excluded.seq`,
		user, p.Contact, norm.Bytes(p.Stanza))
	if err != nil {
		return noAccount("roster add pending", user, err)
	}
	return nil
}

// PendingRequests implements roster.Store.
func (s *RosterStore) PendingRequests(ctx context.Context, user string) ([]roster.Pending, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT contact, stanza FROM roster_pending
	WHERE account = $1 ORDER BY seq`, user)
	if err != nil {
		return nil, fmt.Errorf("postgres: roster pending: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (roster.Pending, error) {
		var p roster.Pending
		err := r.Scan(&p.Contact, &p.Stanza)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: roster pending: %w", err)
	}
	if len(ps) == 0 {
		return nil, nil
	}
	return ps, nil
}

// RemovePending implements roster.Store.
func (s *RosterStore) RemovePending(ctx context.Context, user, contact string) error {
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM roster_pending WHERE account = $1 AND contact = $2`, user, contact); err != nil {
		return fmt.Errorf("postgres: roster remove pending: %w", err)
	}
	return nil
}
