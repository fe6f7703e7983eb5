package sqlite

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ appserver.Store = (*PushAppStore)(nil)

// PushAppStore implements appserver.Store (the built-in push app server's
// apps and device registrations). Times are stored as Unix microseconds.
type PushAppStore struct{ db *DB }

// Register implements appserver.Store.
func (s *PushAppStore) Register(ctx context.Context, r appserver.Registration) (appserver.Registration, error) {
	row := s.db.w.QueryRowContext(ctx, `INSERT INTO push_devices (node, secret, app, device, token, domain, account, created, last_used)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (app, device) DO UPDATE SET token = excluded.token, domain = excluded.domain,
		account = excluded.account, last_used = excluded.last_used
	RETURNING `+norm.PushDeviceColumns,
		r.Node, r.Secret, r.App, r.Device, r.Token, r.Domain, r.Account, norm.Micros(r.Created), norm.Micros(r.LastUsed))
	got, err := norm.ScanPushDevice(row.Scan)
	if err != nil {
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			return got, fmt.Errorf("sqlite: push register: app %q: %w", r.App, appserver.ErrNotFound)
		}
		return got, fmt.Errorf("sqlite: push register: %w", err)
	}
	return got, nil
}

// Registration implements appserver.Store.
func (s *PushAppStore) Registration(ctx context.Context, node string) (appserver.Registration, error) {
	r, err := norm.ScanPushDevice(s.db.r.QueryRowContext(ctx, `SELECT `+norm.PushDeviceColumns+` FROM push_devices WHERE node = ?`, node).Scan)
	if errors.Is(err, dbsql.ErrNoRows) {
		return r, fmt.Errorf("sqlite: push node: %w", appserver.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("sqlite: push node: %w", err)
	}
	return r, nil
}

// Unregister implements appserver.Store.
func (s *PushAppStore) Unregister(ctx context.Context, device string) (int, error) {
	res, err := s.db.w.ExecContext(ctx, `DELETE FROM push_devices WHERE device = ?`, device)
	if err != nil {
		return 0, fmt.Errorf("sqlite: push unregister: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteRegistration implements appserver.Store.
func (s *PushAppStore) DeleteRegistration(ctx context.Context, node string) error {
	if _, err := s.db.w.ExecContext(ctx, `DELETE FROM push_devices WHERE node = ?`, node); err != nil {
		return fmt.Errorf("sqlite: push delete: %w", err)
	}
	return nil
}

// RecordResult implements appserver.Store.
func (s *PushAppStore) RecordResult(ctx context.Context, node string, at time.Time, errText string) error {
	q := `UPDATE push_devices SET last_used = ?, last_success = ? WHERE node = ?`
	args := []any{norm.Micros(at), norm.Micros(at), node}
	if errText != "" {
		q = `UPDATE push_devices SET last_used = ?, last_error = ?, last_error_text = ? WHERE node = ?`
		args = []any{norm.Micros(at), norm.Micros(at), errText, node}
	}
	if _, err := s.db.w.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("sqlite: push record: %w", err)
	}
	return nil
}

// Registrations implements appserver.Store.
func (s *PushAppStore) Registrations(ctx context.Context, app string) ([]appserver.Registration, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT `+norm.PushDeviceColumns+` FROM push_devices
	WHERE ? = '' OR app = ? ORDER BY node`, app, app)
	if err != nil {
		return nil, fmt.Errorf("sqlite: push registrations: %w", err)
	}
	defer rows.Close()
	var out []appserver.Registration
	for rows.Next() {
		r, err := norm.ScanPushDevice(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("sqlite: push registrations: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: push registrations: %w", err)
	}
	return out, nil
}

// CountRegistrations implements appserver.Store.
func (s *PushAppStore) CountRegistrations(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT app, count(*) FROM push_devices GROUP BY app`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: push count: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var app string
		var n int
		if err := rows.Scan(&app, &n); err != nil {
			return nil, fmt.Errorf("sqlite: push count: %w", err)
		}
		out[app] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: push count: %w", err)
	}
	return out, nil
}

// ForgetUnused implements appserver.Store.
func (s *PushAppStore) ForgetUnused(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.w.ExecContext(ctx, `DELETE FROM push_devices WHERE last_used < ?`, norm.Micros(t))
	if err != nil {
		return 0, fmt.Errorf("sqlite: push forget: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// PutApp implements appserver.Store.
func (s *PushAppStore) PutApp(ctx context.Context, a appserver.StoredApp) error {
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO push_apps (name, platform, credentials, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET platform = excluded.platform, credentials = excluded.credentials, updated = excluded.updated`,
			a.Name, string(a.Platform), a.Credentials, norm.Micros(a.Updated)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE push_apps_generation SET gen = gen + 1`)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: push put app: %w", err)
	}
	return nil
}

// DeleteApp implements appserver.Store.
func (s *PushAppStore) DeleteApp(ctx context.Context, name string) error {
	var n int64
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM push_apps WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE push_apps_generation SET gen = gen + 1`)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: push delete app: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: push app %q: %w", name, appserver.ErrNotFound)
	}
	return nil
}

// Apps implements appserver.Store.
func (s *PushAppStore) Apps(ctx context.Context) ([]appserver.StoredApp, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT name, platform, credentials, updated FROM push_apps ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: push apps: %w", err)
	}
	defer rows.Close()
	var out []appserver.StoredApp
	for rows.Next() {
		var a appserver.StoredApp
		var platform string
		var updated int64
		if err := rows.Scan(&a.Name, &platform, &a.Credentials, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: push apps: %w", err)
		}
		a.Platform, a.Updated = appserver.Platform(platform), norm.FromMicros(updated)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: push apps: %w", err)
	}
	return out, nil
}

// AppsGeneration implements appserver.Store.
func (s *PushAppStore) AppsGeneration(ctx context.Context) (int64, error) {
	var g int64
	if err := s.db.r.QueryRowContext(ctx, `SELECT gen FROM push_apps_generation`).Scan(&g); err != nil {
		return 0, fmt.Errorf("sqlite: push apps generation: %w", err)
	}
	return g, nil
}
