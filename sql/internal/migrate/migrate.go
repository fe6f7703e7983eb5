// Package migrate reads the numbered SQL migration files that each storage
// backend embeds. Applying them is backend-specific (locking and transaction
// handling differ), so this package only finds, orders and validates them.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change: the file NNNN_name.sql.
type Migration struct {
	Version int    // NNNN, the order of application; unique and > 0
	Name    string // the file name, for logs and errors
	SQL     string // the statements, executed as one script
}

// Load returns the migrations in the root directory of fsys (files named
// NNNN_description.sql), ordered by version. Other files are ignored.
// Duplicate or missing version numbers are an error, so a mistake in a
// migration's file name is caught by the first test run.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrate: read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migrate: %s: file name is not NNNN_description.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migrate: %s: file name is not NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrate: %s: expected version %d (versions must be 1, 2, 3 ... without gaps or duplicates)", m.Name, i+1)
		}
	}
	return ms, nil
}
