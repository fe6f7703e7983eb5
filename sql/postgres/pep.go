package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"dormouse.im/dormouse/pep"
)

var _ pep.Store = (*PEPStore)(nil)

// PEPStore implements pep.Store.
//
// CreateNode for a user without an account fails with an error wrapping
// auth.ErrNotFound. Writes to a node's items lock the node's row, so that
// concurrent publications to one node are ordered.
type PEPStore struct{ db *DB }

const pepNodeColumns = `access_model, persist_items, max_items, send_last, notify_retract, notify_delete`

func scanPEPConfig(row pgx.Row, extra ...any) (pep.NodeConfig, error) {
	var c pep.NodeConfig
	err := row.Scan(append(extra, &c.Access, &c.PersistItems, &c.MaxItems, &c.SendLast, &c.NotifyRetract, &c.NotifyDelete)...)
	return c, err
}

// lockNode locks a node's row for the transaction; pep.ErrNotFound if the
// node is missing.
func lockNode(ctx context.Context, tx pgx.Tx, owner, node string, share bool) error {
	mode := "UPDATE"
	if share {
		mode = "SHARE"
	}
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM pep_nodes WHERE account = $1 AND node = $2 FOR `+mode, owner, node).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return pep.ErrNotFound
	}
	return err
}

// Node implements pep.Store.
func (s *PEPStore) Node(ctx context.Context, owner, node string) (pep.NodeConfig, error) {
	c, err := scanPEPConfig(s.db.pool.QueryRow(ctx, `SELECT `+pepNodeColumns+` FROM pep_nodes
	WHERE account = $1 AND node = $2`, owner, node))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("postgres: pep node %q of %q: %w", node, owner, pep.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("postgres: pep node: %w", err)
	}
	return c, nil
}

// Nodes implements pep.Store.
func (s *PEPStore) Nodes(ctx context.Context, owner string) ([]pep.Node, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT node, `+pepNodeColumns+` FROM pep_nodes
	WHERE account = $1 ORDER BY node`, owner)
	if err != nil {
		return nil, fmt.Errorf("postgres: pep nodes: %w", err)
	}
	defer rows.Close()
	var out []pep.Node
	for rows.Next() {
		var n pep.Node
		if n.Config, err = scanPEPConfig(rows, &n.Name); err != nil {
			return nil, fmt.Errorf("postgres: pep nodes: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: pep nodes: %w", err)
	}
	return out, nil
}

// CreateNode implements pep.Store.
func (s *PEPStore) CreateNode(ctx context.Context, owner, node string, c pep.NodeConfig) error {
	tag, err := s.db.pool.Exec(ctx, `INSERT INTO pep_nodes (account, node, `+pepNodeColumns+`)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (account, node) DO NOTHING`,
		owner, node, c.Access, c.PersistItems, c.MaxItems, c.SendLast, c.NotifyRetract, c.NotifyDelete)
	if err != nil {
		return noAccount("create pep node", owner, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: pep node %q of %q: %w", node, owner, pep.ErrExists)
	}
	return nil
}

// trimPEP deletes all but the newest keep items of a node.
func trimPEP(ctx context.Context, tx pgx.Tx, owner, node string, keep int) error {
	if keep <= 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `DELETE FROM pep_items WHERE account = $1 AND node = $2 AND seq <= (
		SELECT seq FROM pep_items WHERE account = $1 AND node = $2 ORDER BY seq DESC LIMIT 1 OFFSET $3)`,
		owner, node, keep)
	return err
}

// ConfigureNode implements pep.Store.
func (s *PEPStore) ConfigureNode(ctx context.Context, owner, node string, c pep.NodeConfig, keep int) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE pep_nodes SET access_model = $1, persist_items = $2,
		max_items = $3, send_last = $4, notify_retract = $5, notify_delete = $6 WHERE account = $7 AND node = $8`,
			c.Access, c.PersistItems, c.MaxItems, c.SendLast, c.NotifyRetract, c.NotifyDelete, owner, node)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pep.ErrNotFound
		}
		return trimPEP(ctx, tx, owner, node, keep)
	})
	if err != nil {
		return fmt.Errorf("postgres: configure pep node %q of %q: %w", node, owner, err)
	}
	return nil
}

// DeleteNode implements pep.Store.
func (s *PEPStore) DeleteNode(ctx context.Context, owner, node string) error {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM pep_nodes WHERE account = $1 AND node = $2`, owner, node)
	if err != nil {
		return fmt.Errorf("postgres: delete pep node: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: pep node %q of %q: %w", node, owner, pep.ErrNotFound)
	}
	return nil
}

// Publish implements pep.Store.
func (s *PEPStore) Publish(ctx context.Context, owner, node string, it pep.Item, keep int) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if err := lockNode(ctx, tx, owner, node, false); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pep_items (account, node, id, seq, payload)
		VALUES ($1, $2, $3, (SELECT coalesce(max(seq), 0) + 1 FROM pep_items WHERE account = $1 AND node = $2), $4)
		ON CONFLICT (account, node, id) DO UPDATE SET seq = excluded.seq, payload = excluded.payload`,
			owner, node, it.ID, it.Payload); err != nil {
			return err
		}
		return trimPEP(ctx, tx, owner, node, keep)
	})
	if err != nil {
		return fmt.Errorf("postgres: publish to pep node %q of %q: %w", node, owner, err)
	}
	return nil
}

// items runs a query for items; without any, it tells an empty node from
// a missing one.
func (s *PEPStore) items(ctx context.Context, owner, node, query string, args ...any) ([]pep.Item, error) {
	rows, err := s.db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: pep items: %w", err)
	}
	var out []pep.Item
	for rows.Next() {
		var it pep.Item
		if err := rows.Scan(&it.ID, &it.Payload); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: pep items: %w", err)
		}
		out = append(out, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: pep items: %w", err)
	}
	if len(out) == 0 {
		var one int
		err := s.db.pool.QueryRow(ctx, `SELECT 1 FROM pep_nodes WHERE account = $1 AND node = $2`, owner, node).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("postgres: pep items of %q of %q: %w", node, owner, pep.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: pep items: %w", err)
		}
	}
	return out, nil
}

// Items implements pep.Store.
func (s *PEPStore) Items(ctx context.Context, owner, node string, max int) ([]pep.Item, error) {
	var limit *int
	if max > 0 {
		limit = &max
	}
	return s.items(ctx, owner, node, `SELECT id, payload FROM (SELECT id, payload, seq FROM pep_items
	WHERE account = $1 AND node = $2 ORDER BY seq DESC LIMIT $3) t ORDER BY seq`, owner, node, limit)
}

// ItemsByID implements pep.Store.
func (s *PEPStore) ItemsByID(ctx context.Context, owner, node string, ids []string) ([]pep.Item, error) {
	return s.items(ctx, owner, node, `SELECT id, payload FROM pep_items
	WHERE account = $1 AND node = $2 AND id = ANY($3) ORDER BY seq`, owner, node, ids)
}

// Retract implements pep.Store.
func (s *PEPStore) Retract(ctx context.Context, owner, node, id string) error {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM pep_items WHERE account = $1 AND node = $2 AND id = $3`, owner, node, id)
	if err != nil {
		return fmt.Errorf("postgres: retract pep item: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: pep item %q of %q of %q: %w", id, node, owner, pep.ErrNotFound)
	}
	return nil
}

// Purge implements pep.Store.
func (s *PEPStore) Purge(ctx context.Context, owner, node string) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if err := lockNode(ctx, tx, owner, node, false); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM pep_items WHERE account = $1 AND node = $2`, owner, node)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: purge pep node %q of %q: %w", node, owner, err)
	}
	return nil
}

// LastItems implements pep.Store.
func (s *PEPStore) LastItems(ctx context.Context, owner string) ([]pep.NodeItem, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT DISTINCT ON (n.node) n.node, i.id, i.payload, `+pepNodeColumns+`
	FROM pep_nodes n JOIN pep_items i ON i.account = n.account AND i.node = n.node
	WHERE n.account = $1 ORDER BY n.node, i.seq DESC`, owner)
	if err != nil {
		return nil, fmt.Errorf("postgres: pep last items: %w", err)
	}
	defer rows.Close()
	var out []pep.NodeItem
	for rows.Next() {
		var ni pep.NodeItem
		if ni.Config, err = scanPEPConfig(rows, &ni.Name, &ni.Item.ID, &ni.Item.Payload); err != nil {
			return nil, fmt.Errorf("postgres: pep last items: %w", err)
		}
		out = append(out, ni)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: pep last items: %w", err)
	}
	return out, nil
}

// Caps implements pep.Store.
func (s *PEPStore) Caps(ctx context.Context, ver string) ([]byte, error) {
	var info []byte
	err := s.db.pool.QueryRow(ctx, `SELECT info FROM pep_caps WHERE ver = $1`, ver).Scan(&info)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: caps %q: %w", ver, pep.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: caps: %w", err)
	}
	return info, nil
}

// SetCaps implements pep.Store.
func (s *PEPStore) SetCaps(ctx context.Context, ver string, info []byte) error {
	if _, err := s.db.pool.Exec(ctx, `INSERT INTO pep_caps (ver, info) VALUES ($1, $2)
	ON CONFLICT (ver) DO UPDATE SET info = excluded.info`, ver, info); err != nil {
		return fmt.Errorf("postgres: set caps: %w", err)
	}
	return nil
}

// PrivateXML implements pep.Store.
func (s *PEPStore) PrivateXML(ctx context.Context, owner, ns string) ([]byte, error) {
	var data []byte
	err := s.db.pool.QueryRow(ctx, `SELECT data FROM private_xml WHERE account = $1 AND ns = $2`, owner, ns).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: private xml %q of %q: %w", ns, owner, pep.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: private xml: %w", err)
	}
	return data, nil
}

// SetPrivateXML implements pep.Store.
func (s *PEPStore) SetPrivateXML(ctx context.Context, owner, ns string, data []byte) error {
	if _, err := s.db.pool.Exec(ctx, `INSERT INTO private_xml (account, ns, data) VALUES ($1, $2, $3)
	ON CONFLICT (account, ns) DO UPDATE SET data = excluded.data`, owner, ns, data); err != nil {
		return noAccount("set private xml", owner, err)
	}
	return nil
}

// Subscribe implements pep.Store.
func (s *PEPStore) Subscribe(ctx context.Context, owner, node, jid string) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if err := lockNode(ctx, tx, owner, node, true); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO pep_subscriptions (account, node, jid) VALUES ($1, $2, $3)
		ON CONFLICT (account, node, jid) DO NOTHING`, owner, node, jid)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: subscribe to pep node %q of %q: %w", node, owner, err)
	}
	return nil
}

// Unsubscribe implements pep.Store.
func (s *PEPStore) Unsubscribe(ctx context.Context, owner, node, jid string) error {
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM pep_subscriptions WHERE account = $1 AND node = $2 AND jid = $3`, owner, node, jid)
	if err != nil {
		return fmt.Errorf("postgres: unsubscribe: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: subscription of %q to %q of %q: %w", jid, node, owner, pep.ErrNotFound)
	}
	return nil
}

// NodeSubscribers implements pep.Store.
func (s *PEPStore) NodeSubscribers(ctx context.Context, owner, node string) ([]string, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT jid FROM pep_subscriptions WHERE account = $1 AND node = $2 ORDER BY jid`, owner, node)
	if err != nil {
		return nil, fmt.Errorf("postgres: pep subscribers: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: pep subscribers: %w", err)
	}
	return out, nil
}

// Subscriptions implements pep.Store.
func (s *PEPStore) Subscriptions(ctx context.Context, owner string, jids ...string) ([]pep.Subscription, error) {
	if len(jids) == 0 {
		return nil, nil
	}
	rows, err := s.db.pool.Query(ctx, `SELECT node, jid FROM pep_subscriptions WHERE account = $1 AND jid = ANY($2) ORDER BY node, jid`, owner, jids)
	if err != nil {
		return nil, fmt.Errorf("postgres: pep subscriptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pep.Subscription])
	if err != nil {
		return nil, fmt.Errorf("postgres: pep subscriptions: %w", err)
	}
	return out, nil
}

// Usage implements pep.Store.
func (s *PEPStore) Usage(ctx context.Context, owner, node, id string) (int64, error) {
	var n int64
	if err := s.db.pool.QueryRow(ctx, `SELECT coalesce(sum(length(payload)), 0)::bigint FROM pep_items
	WHERE account = $1 AND NOT (node = $2 AND id = $3)`, owner, node, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: pep usage: %w", err)
	}
	return n, nil
}
