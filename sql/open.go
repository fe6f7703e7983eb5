package sql

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/blocking"
	"dormouse.im/dormouse/internal/cronjob"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/offline"
	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/push"
	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/roster"
	"dormouse.im/dormouse/session"
	"dormouse.im/dormouse/sql/postgres"
	"dormouse.im/dormouse/sql/sqlite"
	"dormouse.im/dormouse/vcard"
)

// Backend names, as in [Stores.Backend].
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Stores is every feature's store, backed by one database. The stores are
// safe for concurrent use, and valid until Close.
type Stores struct {
	Accounts auth.Store
	Roster   roster.Store
	Offline  offline.Store
	VCard    vcard.Store
	Blocking blocking.Store
	MAM      mam.Store
	PEP      pep.Store
	MUC      muc.Store
	Push     push.Store
	PushApps appserver.Store // the built-in push app server
	Tokens   auth.TokenStore // XEP-0484 FAST tokens
	SM       session.SMStore // XEP-0198 session records (written in a cluster only)
	// Jobs lets one node of a cluster run each pass of a scheduled job
	// (PostgreSQL advisory lock); nil on SQLite, which serves one node.
	Jobs cronjob.Locker

	Backend  string // "sqlite" or "postgres"
	Location string // human-readable: file path or DSN without password

	close func() error
}

// Close closes the database. Calling it again does nothing; it must not be
// called concurrently with itself.
func (s *Stores) Close() error {
	if s.close == nil {
		return nil
	}
	err := s.close()
	s.close = nil
	return err
}

// Open opens the storage named by url, applies pending migrations, and
// returns its stores. url is "sqlite:PATH" (also accepted: "sqlite://PATH",
// "file:PATH" and "file://PATH") or "postgres://..." / "postgresql://...";
// see the package documentation. An unknown scheme is an error that names
// the accepted forms. log may be nil.
func Open(ctx context.Context, url string, log *slog.Logger) (*Stores, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backend, arg, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	s, db, err := open(ctx, backend, arg)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx, log); err != nil {
		s.Close()
		return nil, err
	}
	log.Debug("storage opened", "backend", s.Backend, "location", s.Location)
	return s, nil
}

// Migrate applies pending migrations to the storage named by url (as for
// [Open]) without returning stores, for "dormouse db migrate"; it reports
// how many were applied. log may be nil.
func Migrate(ctx context.Context, url string, log *slog.Logger) (applied int, err error) {
	backend, arg, err := parseURL(url)
	if err != nil {
		return 0, err
	}
	s, db, err := open(ctx, backend, arg)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	return db.Migrate(ctx, log)
}

// migrator is what Open and Migrate need of a backend's database.
type migrator interface {
	Migrate(context.Context, *slog.Logger) (int, error)
}

// open opens the database of backend (as parseURL returns it) without
// migrating it.
func open(ctx context.Context, backend, arg string) (*Stores, migrator, error) {
	switch backend {
	case SQLite:
		db, err := sqlite.Open(ctx, arg)
		if err != nil {
			return nil, nil, err
		}
		return &Stores{
			Accounts: db.Accounts(), Roster: db.Roster(), Offline: db.Offline(),
			VCard: db.VCard(), Blocking: db.Blocking(), MAM: db.MAM(), MUC: db.MUC(), PEP: db.PEP(), Push: db.Push(),
			PushApps: db.PushApps(), Tokens: db.Tokens(), SM: db.SM(),
			Backend: SQLite, Location: db.Path(), close: db.Close,
		}, db, nil
	case Postgres:
		db, err := postgres.Open(ctx, arg)
		if err != nil {
			return nil, nil, err
		}
		return &Stores{
			Accounts: db.Accounts(), Roster: db.Roster(), Offline: db.Offline(),
			VCard: db.VCard(), Blocking: db.Blocking(), MAM: db.MAM(), MUC: db.MUC(), PEP: db.PEP(), Push: db.Push(),
			PushApps: db.PushApps(), Tokens: db.Tokens(), SM: db.SM(), Jobs: db.Jobs(),
			Backend: Postgres, Location: db.Location(), close: db.Close,
		}, db, nil
	}
	return nil, nil, fmt.Errorf("sql: unknown backend %q", backend)
}

// acceptedForms is the list of URL forms, for error messages.
const acceptedForms = `"sqlite:PATH", "sqlite://PATH", "file:PATH", "postgres://..." or "postgresql://..."`

// parseURL returns the backend named by url and what to pass to its Open:
// a file path or a DSN. Error messages never repeat url, which may hold a
// password.
func parseURL(url string) (backend, arg string, err error) {
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/\\") {
		return "", "", fmt.Errorf("sql: storage URL has no scheme: want %s", acceptedForms)
	}
	switch scheme {
	case "sqlite", "file":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return "", "", fmt.Errorf("sql: storage URL %q has no file path", url)
		}
		return SQLite, path, nil
	case "postgres", "postgresql":
		if !strings.HasPrefix(rest, "//") {
			return "", "", fmt.Errorf("sql: PostgreSQL storage URL must start with %s://", scheme)
		}
		return Postgres, url, nil
	}
	return "", "", fmt.Errorf("sql: unknown storage URL scheme %q: want %s", scheme, acceptedForms)
}
