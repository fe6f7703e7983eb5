package sqlite

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"strings"

	"dormouse.im/dormouse/pep"
)

var _ pep.Store = (*PEPStore)(nil)

// PEPStore implements pep.Store.
//
// CreateNode for a user without an account fails with an error wrapping
// auth.ErrNotFound.
type PEPStore struct{ db *DB }

const pepNodeColumns = `access_model, persist_items, max_items, send_last, notify_retract, notify_delete`

type scanner interface{ Scan(...any) error }

func scanConfig(row scanner, extra ...any) (pep.NodeConfig, error) {
	var c pep.NodeConfig
	err := row.Scan(append(extra, &c.Access, &c.PersistItems, &c.MaxItems, &c.SendLast, &c.NotifyRetract, &c.NotifyDelete)...)
	return c, err
}

// The hot reads (a login fetches many contacts' nodes) use statements
// prepared once.
const (
	pepNodeQuery   = `SELECT ` + pepNodeColumns + ` FROM pep_nodes WHERE account = ? AND node = ?`
	pepExistsQuery = `SELECT 1 FROM pep_nodes WHERE account = ? AND node = ?`
	pepItemsQuery  = `SELECT id, payload FROM (SELECT id, payload, seq FROM pep_items
	WHERE account = ? AND node = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq`
)

// nodeExists returns pep.ErrNotFound unless the node exists; q is a
// transaction, or nil for the read pool.
func (s *PEPStore) nodeExists(ctx context.Context, tx *dbsql.Tx, owner, node string) error {
	var row *dbsql.Row
	if tx != nil {
		row = tx.QueryRowContext(ctx, pepExistsQuery, owner, node)
	} else {
		stmt, err := s.db.rs.prepared(ctx, s.db.r, pepExistsQuery)
		if err != nil {
			return err
		}
		row = stmt.QueryRowContext(ctx, owner, node)
	}
	var one int
	err := row.Scan(&one)
	if errors.Is(err, dbsql.ErrNoRows) {
		return pep.ErrNotFound
	}
	return err
}

// Node implements pep.Store.
func (s *PEPStore) Node(ctx context.Context, owner, node string) (pep.NodeConfig, error) {
	stmt, err := s.db.rs.prepared(ctx, s.db.r, pepNodeQuery)
	if err != nil {
		return pep.NodeConfig{}, fmt.Errorf("sqlite: pep node: %w", err)
	}
	c, err := scanConfig(stmt.QueryRowContext(ctx, owner, node))
	if errors.Is(err, dbsql.ErrNoRows) {
		return c, fmt.Errorf("sqlite: pep node %q of %q: %w", node, owner, pep.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("sqlite: pep node: %w", err)
	}
	return c, nil
}

// Nodes implements pep.Store.
func (s *PEPStore) Nodes(ctx context.Context, owner string) ([]pep.Node, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT node, `+pepNodeColumns+` FROM pep_nodes
	WHERE account = ? ORDER BY node`, owner)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pep nodes: %w", err)
	}
	defer rows.Close()
	var out []pep.Node
	for rows.Next() {
		var n pep.Node
		if n.Config, err = scanConfig(rows, &n.Name); err != nil {
			return nil, fmt.Errorf("sqlite: pep nodes: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: pep nodes: %w", err)
	}
	return out, nil
}

// CreateNode implements pep.Store.
func (s *PEPStore) CreateNode(ctx context.Context, owner, node string, c pep.NodeConfig) error {
	res, err := s.db.w.ExecContext(ctx, `INSERT INTO pep_nodes (account, node, `+pepNodeColumns+`)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, node) DO NOTHING`,
		owner, node, c.Access, c.PersistItems, c.MaxItems, c.SendLast, c.NotifyRetract, c.NotifyDelete)
	if err != nil {
		return noAccount("create pep node", owner, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: pep node %q of %q: %w", node, owner, pep.ErrExists)
	}
	return nil
}

// trim deletes all but the newest keep items of a node.
func trim(ctx context.Context, tx *dbsql.Tx, owner, node string, keep int) error {
	if keep <= 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM pep_items WHERE account = ? AND node = ? AND seq <= (
		SELECT seq FROM pep_items WHERE account = ? AND node = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
		owner, node, owner, node, keep)
	return err
}

// ConfigureNode implements pep.Store.
func (s *PEPStore) ConfigureNode(ctx context.Context, owner, node string, c pep.NodeConfig, keep int) error {
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE pep_nodes SET access_model = ?, persist_items = ?,
		max_items = ?, send_last = ?, notify_retract = ?, notify_delete = ? WHERE account = ? AND node = ?`,
			c.Access, c.PersistItems, c.MaxItems, c.SendLast, c.NotifyRetract, c.NotifyDelete, owner, node)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return pep.ErrNotFound
		}
		return trim(ctx, tx, owner, node, keep)
	})
	if err != nil {
		return fmt.Errorf("sqlite: configure pep node %q of %q: %w", node, owner, err)
	}
	return nil
}

// DeleteNode implements pep.Store.
func (s *PEPStore) DeleteNode(ctx context.Context, owner, node string) error {
	res, err := s.db.w.ExecContext(ctx, `DELETE FROM pep_nodes WHERE account = ? AND node = ?`, owner, node)
	if err != nil {
		return fmt.Errorf("sqlite: delete pep node: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: pep node %q of %q: %w", node, owner, pep.ErrNotFound)
	}
	return nil
}

// Publish implements pep.Store.
func (s *PEPStore) Publish(ctx context.Context, owner, node string, it pep.Item, keep int) error {
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		if err := s.nodeExists(ctx, tx, owner, node); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO pep_items (account, node, id, seq, payload)
		VALUES (?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM pep_items WHERE account = ? AND node = ?), ?)
		ON CONFLICT (account, node, id) DO UPDATE SET seq = excluded.seq, payload = excluded.payload`,
			owner, node, it.ID, owner, node, it.Payload); err != nil {
			return err
		}
		return trim(ctx, tx, owner, node, keep)
	})
	if err != nil {
		return fmt.Errorf("sqlite: publish to pep node %q of %q: %w", node, owner, err)
	}
	return nil
}

// items runs a query for items; without any, it tells an empty node from
// a missing one.
func (s *PEPStore) items(ctx context.Context, owner, node string, rows *dbsql.Rows, err error) ([]pep.Item, error) {
	if err != nil {
		return nil, fmt.Errorf("sqlite: pep items: %w", err)
	}
	defer rows.Close()
	var out []pep.Item
	for rows.Next() {
		var it pep.Item
		if err := rows.Scan(&it.ID, &it.Payload); err != nil {
			return nil, fmt.Errorf("sqlite: pep items: %w", err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: pep items: %w", err)
	}
	if len(out) == 0 {
		if err := s.nodeExists(ctx, nil, owner, node); err != nil {
			return nil, fmt.Errorf("sqlite: pep items of %q of %q: %w", node, owner, err)
		}
	}
	return out, nil
}

// Items implements pep.Store.
func (s *PEPStore) Items(ctx context.Context, owner, node string, max int) ([]pep.Item, error) {
	if max <= 0 {
		max = -1
	}
	stmt, err := s.db.rs.prepared(ctx, s.db.r, pepItemsQuery)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pep items: %w", err)
	}
	rows, err := stmt.QueryContext(ctx, owner, node, max)
	return s.items(ctx, owner, node, rows, err)
}

// ItemsByID implements pep.Store.
func (s *PEPStore) ItemsByID(ctx context.Context, owner, node string, ids []string) ([]pep.Item, error) {
	args := []any{owner, node}
	q := `SELECT id, payload FROM pep_items WHERE account = ? AND node = ? AND id IN (`
	for i, id := range ids {
		if i > 0 {
			q += ", "
		}
		q += "?"
		args = append(args, id)
	}
	if len(ids) == 0 {
		q += "NULL"
	}
	rows, err := s.db.r.QueryContext(ctx, q+`) ORDER BY seq`, args...)
	return s.items(ctx, owner, node, rows, err)
}

// Retract implements pep.Store.
func (s *PEPStore) Retract(ctx context.Context, owner, node, id string) error {
	res, err := s.db.w.ExecContext(ctx, `DELETE FROM pep_items WHERE account = ? AND node = ? AND id = ?`, owner, node, id)
	if err != nil {
		return fmt.Errorf("sqlite: retract pep item: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: pep item %q of %q of %q: %w", id, node, owner, pep.ErrNotFound)
	}
	return nil
}

// Purge implements pep.Store.
func (s *PEPStore) Purge(ctx context.Context, owner, node string) error {
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		if err := s.nodeExists(ctx, tx, owner, node); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM pep_items WHERE account = ? AND node = ?`, owner, node)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: purge pep node %q of %q: %w", node, owner, err)
	}
	return nil
}

// LastItems implements pep.Store.
func (s *PEPStore) LastItems(ctx context.Context, owner string) ([]pep.NodeItem, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT n.node, i.id, i.payload, `+pepNodeColumns+`
	FROM pep_nodes n JOIN pep_items i ON i.account = n.account AND i.node = n.node
	WHERE n.account = ? AND i.seq = (SELECT max(seq) FROM pep_items WHERE account = n.account AND node = n.node)
	ORDER BY n.node`, owner)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pep last items: %w", err)
	}
	defer rows.Close()
	var out []pep.NodeItem
	for rows.Next() {
		var ni pep.NodeItem
		if ni.Config, err = scanConfig(rows, &ni.Name, &ni.Item.ID, &ni.Item.Payload); err != nil {
			return nil, fmt.Errorf("sqlite: pep last items: %w", err)
		}
		out = append(out, ni)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: pep last items: %w", err)
	}
	return out, nil
}

// Caps implements pep.Store.
func (s *PEPStore) Caps(ctx context.Context, ver string) ([]byte, error) {
	var info []byte
	err := s.db.r.QueryRowContext(ctx, `SELECT info FROM pep_caps WHERE ver = ?`, ver).Scan(&info)
	if errors.Is(err, dbsql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: caps %q: %w", ver, pep.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: caps: %w", err)
	}
	return info, nil
}

// SetCaps implements pep.Store.
func (s *PEPStore) SetCaps(ctx context.Context, ver string, info []byte) error {
	if _, err := s.db.w.ExecContext(ctx, `INSERT INTO pep_caps (ver, info) VALUES (?, ?)
	ON CONFLICT (ver) DO UPDATE SET info = excluded.info`, ver, info); err != nil {
		return fmt.Errorf("sqlite: set caps: %w", err)
	}
	return nil
}

// PrivateXML implements pep.Store.
func (s *PEPStore) PrivateXML(ctx context.Context, owner, ns string) ([]byte, error) {
	var data []byte
	err := s.db.r.QueryRowContext(ctx, `SELECT data FROM private_xml WHERE account = ? AND ns = ?`, owner, ns).Scan(&data)
	if errors.Is(err, dbsql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: private xml %q of %q: %w", ns, owner, pep.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: private xml: %w", err)
	}
	return data, nil
}

// SetPrivateXML implements pep.Store.
func (s *PEPStore) SetPrivateXML(ctx context.Context, owner, ns string, data []byte) error {
	if _, err := s.db.w.ExecContext(ctx, `INSERT INTO private_xml (account, ns, data) VALUES (?, ?, ?)
	ON CONFLICT (account, ns) DO UPDATE SET data = excluded.data`, owner, ns, data); err != nil {
		return noAccount("set private xml", owner, err)
	}
	return nil
}

// Subscribe implements pep.Store.
func (s *PEPStore) Subscribe(ctx context.Context, owner, node, jid string) error {
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		if err := s.nodeExists(ctx, tx, owner, node); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO pep_subscriptions (account, node, jid) VALUES (?, ?, ?)
		ON CONFLICT (account, node, jid) DO NOTHING`, owner, node, jid)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: subscribe to pep node %q of %q: %w", node, owner, err)
	}
	return nil
}

// Unsubscribe implements pep.Store.
func (s *PEPStore) Unsubscribe(ctx context.Context, owner, node, jid string) error {
	res, err := s.db.w.ExecContext(ctx, `DELETE FROM pep_subscriptions WHERE account = ? AND node = ? AND jid = ?`, owner, node, jid)
	if err != nil {
		return fmt.Errorf("sqlite: unsubscribe: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: subscription of %q to %q of %q: %w", jid, node, owner, pep.ErrNotFound)
	}
	return nil
}

// NodeSubscribers implements pep.Store.
func (s *PEPStore) NodeSubscribers(ctx context.Context, owner, node string) ([]string, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT jid FROM pep_subscriptions WHERE account = ? AND node = ? ORDER BY jid`, owner, node)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pep subscribers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			return nil, fmt.Errorf("sqlite: pep subscribers: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: pep subscribers: %w", err)
	}
	return out, nil
}

// Subscriptions implements pep.Store.
func (s *PEPStore) Subscriptions(ctx context.Context, owner string, jids ...string) ([]pep.Subscription, error) {
	if len(jids) == 0 {
		return nil, nil
	}
	q := `SELECT node, jid FROM pep_subscriptions WHERE account = ? AND jid IN (?` + strings.Repeat(", ?", len(jids)-1) + `) ORDER BY node, jid`
	args := []any{owner}
	for _, j := range jids {
		args = append(args, j)
	}
	rows, err := s.db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pep subscriptions: %w", err)
	}
	defer rows.Close()
	var out []pep.Subscription
	for rows.Next() {
		var sub pep.Subscription
		if err := rows.Scan(&sub.Node, &sub.JID); err != nil {
			return nil, fmt.Errorf("sqlite: pep subscriptions: %w", err)
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: pep subscriptions: %w", err)
	}
	return out, nil
}

// Usage implements pep.Store.
func (s *PEPStore) Usage(ctx context.Context, owner, node, id string) (int64, error) {
	var n int64
	if err := s.db.r.QueryRowContext(ctx, `SELECT coalesce(sum(length(payload)), 0) FROM pep_items
	WHERE account = ? AND NOT (node = ? AND id = ?)`, owner, node, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: pep usage: %w", err)
	}
	return n, nil
}
