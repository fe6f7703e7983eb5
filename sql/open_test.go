package sql

import (
	"context"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ url, backend, arg string }{
		{"sqlite:dormouse.db", SQLite, "dormouse.db"},
		{"sqlite:/var/lib/dormouse/db.sqlite", SQLite, "/var/lib/dormouse/db.sqlite"},
		{"sqlite://data/dormouse.db", SQLite, "data/dormouse.db"},
		{"sqlite:///var/lib/dormouse/db.sqlite", SQLite, "/var/lib/dormouse/db.sqlite"},
		{"file:dormouse.db", SQLite, "dormouse.db"},
		{"file:///var/lib/dormouse/db.sqlite", SQLite, "/var/lib/dormouse/db.sqlite"},
		{"postgres://u@h/db?sslmode=disable", Postgres, "postgres://u@h/db?sslmode=disable"},
		{"postgresql://u:p@h:5433/db?search_path=xmpp", Postgres, "postgresql://u:p@h:5433/db?search_path=xmpp"},
	} {
		backend, arg, err := parseURL(tc.url)
		if err != nil || backend != tc.backend || arg != tc.arg {
			t.Errorf("parseURL(%q) = %q, %q, %v; want %q, %q", tc.url, backend, arg, err, tc.backend, tc.arg)
		}
	}
	for _, url := range []string{"", "dormouse.db", "/var/lib/dormouse.db", "sqlite:", "sqlite://", "file:", "mysql://u:secret@h/db", "postgres:db", "SQLITE:x", "C:\\x"} {
		_, _, err := parseURL(url)
		if err == nil {
			t.Errorf("parseURL(%q) succeeded", url)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("parseURL(%q): error reveals the password: %v", url, err)
		}
		if msg := err.Error(); strings.Contains(msg, "scheme") && !strings.Contains(msg, `"sqlite:PATH"`) {
			t.Errorf("parseURL(%q): error %q does not name the accepted forms", url, msg)
		}
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	_, err := Open(context.Background(), "mysql://root@localhost/x", nil)
	if err == nil || !strings.Contains(err.Error(), "postgres://") || !strings.Contains(err.Error(), "sqlite:") {
		t.Errorf("Open with an unknown scheme: %v", err)
	}
	if _, err := Migrate(context.Background(), "redis://localhost", nil); err == nil {
		t.Errorf("Migrate with an unknown scheme succeeded")
	}
}
