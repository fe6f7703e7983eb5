package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ appserver.Store = (*PushAppStore)(nil)

// PushAppStore implements appserver.Store (the built-in push app server's
// apps and device registrations). Times are stored as Unix microseconds.
type PushAppStore struct{ db *DB }

// Register implements appserver.Store.
func (s *PushAppStore) Register(ctx context.Context, r appserver.Registration) (appserver.Registration, error) {
	row := s.db.pool.QueryRow(ctx, `INSERT INTO push_devices (node, secret, app, device, token, domain, account, created, last_used)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
	ON CONFLICT (app, device) DO UPDATE SET token = excluded.token, domain = excluded.domain,
		account = excluded.account, last_used = excluded.last_used
	RETURNING `+norm.PushDeviceColumns,
		r.Node, r.Secret, r.App, r.Device, r.Token, r.Domain, r.Account, norm.Micros(r.Created), norm.Micros(r.LastUsed))
	got, err := norm.ScanPushDevice(row.Scan)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
			return got, fmt.Errorf("postgres: push register: app %q: %w", r.App, appserver.ErrNotFound)
		}
		return got, fmt.Errorf("postgres: push register: %w", err)
	}
	return got, nil
}

// Registration implements appserver.Store.
func (s *PushAppStore) Registration(ctx context.Context, node string) (appserver.Registration, error) {
	r, err := norm.ScanPushDevice(s.db.pool.QueryRow(ctx, `SELECT `+norm.PushDeviceColumns+` FROM push_devices WHERE node = $1`, node).Scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("postgres: push node: %w", appserver.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("postgres: push node: %w", err)
	}
	return r, nil
}

// Unregister implements appserver.Store.
func (s *PushAppStore) Unregister(ctx context.Context, device string) (int, error) {
	res, err := s.db.pool.Exec(ctx, `DELETE FROM push_devices WHERE device = $1`, device)
	if err != nil {
		return 0, fmt.Errorf("postgres: push unregister: %w", err)
	}
	return int(res.RowsAffected()), nil
}

// DeleteRegistration implements appserver.Store.
func (s *PushAppStore) DeleteRegistration(ctx context.Context, node string) error {
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM push_devices WHERE node = $1`, node); err != nil {
		return fmt.Errorf("postgres: push delete: %w", err)
	}
	return nil
}

// RecordResult implements appserver.Store.
func (s *PushAppStore) RecordResult(ctx context.Context, node string, at time.Time, errText string) error {
	q := `UPDATE push_devices SET last_used = $1, last_success = $2 WHERE node = $3`
	args := []any{norm.Micros(at), norm.Micros(at), node}
	if errText != "" {
		q = `UPDATE push_devices SET last_used = $1, last_error = $2, last_error_text = $3 WHERE node = $4`
		args = []any{norm.Micros(at), norm.Micros(at), errText, node}
	}
	if _, err := s.db.pool.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("postgres: push record: %w", err)
	}
	return nil
}

// Registrations implements appserver.Store.
func (s *PushAppStore) Registrations(ctx context.Context, app string) ([]appserver.Registration, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+norm.PushDeviceColumns+` FROM push_devices
	WHERE $1 = '' OR app = $1 ORDER BY node`, app)
	if err != nil {
		return nil, fmt.Errorf("postgres: push registrations: %w", err)
	}
	defer rows.Close()
	var out []appserver.Registration
	for rows.Next() {
		r, err := norm.ScanPushDevice(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("postgres: push registrations: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: push registrations: %w", err)
	}
	return out, nil
}

// CountRegistrations implements appserver.Store.
func (s *PushAppStore) CountRegistrations(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT app, count(*) FROM push_devices GROUP BY app`)
	if err != nil {
		return nil, fmt.Errorf("postgres: push count: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var app string
		var n int
		if err := rows.Scan(&app, &n); err != nil {
			return nil, fmt.Errorf("postgres: push count: %w", err)
		}
		out[app] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: push count: %w", err)
	}
	return out, nil
}

// ForgetUnused implements appserver.Store.
func (s *PushAppStore) ForgetUnused(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.pool.Exec(ctx, `DELETE FROM push_devices WHERE last_used < $1`, norm.Micros(t))
	if err != nil {
		return 0, fmt.Errorf("postgres: push forget: %w", err)
	}
	return res.RowsAffected(), nil
}

// PutApp implements appserver.Store.
func (s *PushAppStore) PutApp(ctx context.Context, a appserver.StoredApp) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO push_apps (name, platform, credentials, updated) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET platform = excluded.platform, credentials = excluded.credentials, updated = excluded.updated`,
			a.Name, string(a.Platform), a.Credentials, norm.Micros(a.Updated)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE push_apps_generation SET gen = gen + 1`)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: push put app: %w", err)
	}
	return nil
}

// DeleteApp implements appserver.Store.
func (s *PushAppStore) DeleteApp(ctx context.Context, name string) error {
	var n int64
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM push_apps WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if n = res.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE push_apps_generation SET gen = gen + 1`)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: push delete app: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: push app %q: %w", name, appserver.ErrNotFound)
	}
	return nil
}

// Apps implements appserver.Store.
func (s *PushAppStore) Apps(ctx context.Context) ([]appserver.StoredApp, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT name, platform, credentials, updated FROM push_apps ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("postgres: push apps: %w", err)
	}
	defer rows.Close()
	var out []appserver.StoredApp
	for rows.Next() {
		var a appserver.StoredApp
		var platform string
		var updated int64
		if err := rows.Scan(&a.Name, &platform, &a.Credentials, &updated); err != nil {
			return nil, fmt.Errorf("postgres: push apps: %w", err)
		}
		a.Platform, a.Updated = appserver.Platform(platform), norm.FromMicros(updated)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: push apps: %w", err)
	}
	return out, nil
}

// AppsGeneration implements appserver.Store.
func (s *PushAppStore) AppsGeneration(ctx context.Context) (int64, error) {
	var g int64
	if err := s.db.pool.QueryRow(ctx, `SELECT gen FROM push_apps_generation`).Scan(&g); err != nil {
		return 0, fmt.Errorf("postgres: push apps generation: %w", err)
	}
	return g, nil
}
