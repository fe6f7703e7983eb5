package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/sql/internal/norm"
)

var (
	_ mam.Store      = (*MAMStore)(nil)
	_ mam.BatchSizer = (*MAMStore)(nil)
)

// MAMStore implements mam.Store on the tables archive and archive_prefs.
// Full-text search uses the column body_tsv (to_tsvector('simple', body):
// case folding, no stemming, no stop words) and its GIN index; body_tsv
// is set for the archives of owners who have searched (see indexOwner).
//
// Stamps are kept with microsecond precision; a zero Stamp is stored as
// the current time. Every query is a range scan of an index: paging is
// keyset paging on the primary key (owner, id), never OFFSET; a 'with'
// filter scans (owner, with_jid, id); Start and End are turned into id
// bounds (an id holds its stamp's millisecond, see mam.Message.Stamp),
// and are also checked on each row, so results never hold a message
// outside the bounds. Full-text queries use the GIN
// index or scan the queried range, checking each row, depending on how
// many messages hold the words (see rareText).
//
// Query.Count costs a count(*) over the index range of the filters, done
// in the same statement as the page (one snapshot); it is proportional to
// the size of the whole result set, so the service should ask for it only
// when needed.
//
// Append and SetPrefs for a user without an account fail with an error
// wrapping auth.ErrNotFound.
type MAMStore struct{ db *DB }

// SupportsFullText implements mam.Store: PostgreSQL always supports it.
func (s *MAMStore) SupportsFullText() bool { return true }

// groupCommit is MaxBatch's answer: measured with bench/archived.sh
// (2026-12-07, bench/notes.md), a COPY of 1,024 rows cost Dormouse about
// 20% less CPU per message than one of 256 (mam.DefaultMaxBatch, which
// SQLite keeps: larger commits saved it nothing measurable).
const groupCommit = 1024

// MaxBatch implements mam.BatchSizer.
func (s *MAMStore) MaxBatch() int { return groupCommit }

// archiveCopyColumns are the columns Append writes, in order.
var archiveCopyColumns = []string{"owner", "id", "with_jid", "with_resource", "stamp", "outgoing", "origin_id", "body", "stanza"}

// Append implements mam.Store. A single message is one INSERT; a batch is
// one COPY (CopyFrom). Each is one statement, hence atomic.
func (s *MAMStore) Append(ctx context.Context, msgs []mam.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	for _, m := range msgs {
		if m.ID <= 0 {
			return fmt.Errorf("postgres: mam append: message of %q: id %d is not positive", m.Owner, m.ID)
		}
	}
	row := func(m *mam.Message) []any {
		return []any{m.Owner, m.ID, m.With, m.WithResource, norm.Stamp(m.Stamp),
			m.Outgoing, m.OriginID, m.Body, norm.Bytes(m.Stanza)}
	}
	var err error
	if len(msgs) == 1 {
		_, err = s.db.pool.Exec(ctx, `INSERT INTO archive
		(owner, id, with_jid, with_resource, stamp, outgoing, origin_id, body, stanza)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, row(&msgs[0])...)
	} else {
		_, err = s.db.pool.CopyFrom(ctx, pgx.Identifier{"archive"}, archiveCopyColumns,
			pgx.CopyFromSlice(len(msgs), func(i int) ([]any, error) { return row(&msgs[i]), nil }))
	}
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			switch pe.Code {
			case "23505": // unique_violation
				return fmt.Errorf("postgres: mam append: %w", mam.ErrDuplicate)
			case "23503": // foreign_key_violation
				return fmt.Errorf("postgres: mam append: owner %s: %w", owners(msgs), auth.ErrNotFound)
			}
		}
		return fmt.Errorf("postgres: mam append: %w", err)
	}
	return nil
}

// owners lists the distinct owners of msgs, for error messages.
func owners(msgs []mam.Message) string {
	var names []string
	for _, m := range msgs {
		names = append(names, strconv.Quote(m.Owner))
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), " or ")
}

// archiveColumns are scanned by scanMessage, in this order.
const archiveColumns = `id, with_jid, with_resource, stamp, outgoing, origin_id, body, stanza`

// scanMessage scans archiveColumns (and, if count is not nil, one more
// column into it) into a message of owner.
func scanMessage(row pgx.Row, owner string, count *int) (mam.Message, error) {
	m := mam.Message{Owner: owner}
	dest := []any{&m.ID, &m.With, &m.WithResource, &m.Stamp, &m.Outgoing, &m.OriginID, &m.Body, &m.Stanza}
	if count != nil {
		dest = append(dest, count)
	}
	if err := row.Scan(dest...); err != nil {
		return mam.Message{}, err
	}
	m.Stamp = m.Stamp.UTC()
	return m, nil
}

// queryBuilder accumulates SQL text and its $n arguments.
type queryBuilder struct {
	sql  strings.Builder
	args []any
}

// arg adds an argument and returns its placeholder.
func (b *queryBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// Query implements mam.Store.
func (s *MAMStore) Query(ctx context.Context, q mam.Query) (mam.Page, error) {
	page := mam.Page{Count: -1}
	// none is the answer when nothing matches.
	none := func() (mam.Page, error) {
		page.Complete = true
		if q.Count {
			page.Count = 0
		}
		return page, nil
	}
	var words []string
	if q.Text != "" {
		if words = norm.FullTextWords(q.Text); len(words) == 0 {
			return none() // nothing to search for
		}
		if err := s.indexOwner(ctx, q.Owner); err != nil {
			return mam.Page{}, fmt.Errorf("postgres: mam query: %w", err)
		}
		ids, rare, err := s.rareText(ctx, q.Owner, words)
		if err != nil {
			return mam.Page{}, fmt.Errorf("postgres: mam query: %w", err)
		}
		if rare {
			// Query the ids of the hits instead.
			if len(q.IDs) > 0 {
				ids = slices.DeleteFunc(ids, func(id int64) bool { return !slices.Contains(q.IDs, id) })
			}
			if len(ids) == 0 {
				return none()
			}
			q.Text, q.IDs, words = "", ids, nil
		}
	}

	limit := max(q.Max, 0)
	aq := buildQuery(q, words, limit)
	rows, err := s.db.pool.Query(ctx, aq.page, aq.pageArgs...)
	if err != nil {
		return mam.Page{}, fmt.Errorf("postgres: mam query: %w", err)
	}
	var count *int
	if q.Count {
		count = &page.Count
	}
	page.Messages, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (mam.Message, error) {
		return scanMessage(r, q.Owner, count)
	})
	if err != nil {
		return mam.Page{}, fmt.Errorf("postgres: mam query: %w", err)
	}

	if fetched := norm.Page(&page, limit, q.Last); q.Count && fetched == 0 {
		// No row carried the count.
		if err := s.db.pool.QueryRow(ctx, aq.count, aq.countArgs...).Scan(&page.Count); err != nil {
			return mam.Page{}, fmt.Errorf("postgres: mam count: %w", err)
		}
	}
	return page, nil
}

// ftsIndexChunk is the most messages one statement of indexOwner indexes.
const ftsIndexChunk = 1000

// indexOwner makes sure owner's archive is all in the full-text index,
// which holds only the archives of owners who have searched (migration
// 0012). The first full-text query of an owner adds them to
// archive_fts_owners under a SHARE lock on archive (it waits for the
// writes under way, which did not see it, to commit; every later write
// sees it, and its trigger sets body_tsv), then sets the body_tsv of the
// owner's messages that have none, ftsIndexChunk at a time in id order,
// and marks the owner complete. Until then another query of theirs indexes
// too (the statements are idempotent). An owner without an account is left
// alone (their archive is empty).
func (s *MAMStore) indexOwner(ctx context.Context, owner string) error {
	var complete bool
	err := s.db.pool.QueryRow(ctx, `SELECT complete FROM archive_fts_owners WHERE owner = $1`, owner).Scan(&complete)
	switch {
	case err == nil && complete:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
			// The account first: a deletion of it under way (which
			// locks it, then archive) ends before, instead of
			// deadlocking with the lock below.
			if _, err := tx.Exec(ctx, `SELECT FROM accounts WHERE name = $1 FOR KEY SHARE`, owner); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `LOCK TABLE archive IN SHARE MODE`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO archive_fts_owners (owner) SELECT name FROM accounts WHERE name = $1 ON CONFLICT DO NOTHING`, owner)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("full-text index of %q: %w", owner, err)
	}
	for after := int64(0); ; {
		var last *int64
		if err := s.db.pool.QueryRow(ctx, `SELECT max(id) FROM (SELECT id FROM archive WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3) c`,
			owner, after, ftsIndexChunk).Scan(&last); err != nil {
			return fmt.Errorf("full-text index of %q: %w", owner, err)
		}
		if last == nil {
			break
		}
		if _, err := s.db.pool.Exec(ctx, `UPDATE archive SET body_tsv = to_tsvector('simple', body)
			WHERE owner = $1 AND id > $2 AND id <= $3 AND body_tsv IS NULL`, owner, after, *last); err != nil {
			return fmt.Errorf("full-text index of %q: %w", owner, err)
		}
		after = *last
	}
	if _, err := s.db.pool.Exec(ctx, `UPDATE archive_fts_owners SET complete = true WHERE owner = $1`, owner); err != nil {
		return fmt.Errorf("full-text index of %q: %w", owner, err)
	}
	return nil
}

// rareHits is the most messages (in all archives) matching a full-text
// query for which Query looks the hits up first; see rareText.
const rareHits = 1000

// rareTextQuery returns the first hits of a full-text query in all
// archives, saying which are owner's ($1).
const rareTextQuery = `SELECT owner = $1, id FROM archive
	WHERE body_tsv @@ plainto_tsquery('simple', $2) LIMIT $3`

// rareText finds out whether the full-text query of words is rare, that
// is matches at most rareHits messages in all archives, and if so returns
// the ids of those in owner's archive.
//
// This is how Query plans full-text queries. The planner estimates the
// number of hits from the column's statistics, which know the frequent
// words only; for the others it assumes a fixed selectivity (half the
// least frequent word's), and, to fill a page ordered by id, tends to
// scan the archive by id checking each row: fine for common words, which
// fill the page quickly, but for a word in a handful of messages a scan of
// the whole archive (half a second for a million messages). So Query
// first reads at most rareHits+1 hits from the GIN index alone (index and
// sequential scans disabled for that statement): if there are no more, it
// queries their ids (a lookup each in the primary key); otherwise the
// planner's choice is sound, and Query keeps the full-text condition.
func (s *MAMStore) rareText(ctx context.Context, owner string, words []string) (ids []int64, rare bool, err error) {
	err = pgx.BeginTxFunc(ctx, s.db.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, rareTextQuery, owner, strings.Join(words, " "), rareHits+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		hits := 0
		for rows.Next() {
			var (
				mine bool
				id   int64
			)
			if err := rows.Scan(&mine, &id); err != nil {
				return err
			}
			hits++
			if mine {
				ids = append(ids, id)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rare = hits <= rareHits
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("full-text hits: %w", err)
	}
	if !rare {
		return nil, false, nil
	}
	return ids, true, nil
}

// archiveQuery is the SQL of a Query.
type archiveQuery struct {
	page      string // the page: archiveColumns (and the count if asked for)
	pageArgs  []any
	count     string // the count alone
	countArgs []any
}

// buildQuery returns the statements answering q, with the full-text words
// of q.Text and at most limit+1 rows (one more than the page, to learn
// whether it is complete).
func buildQuery(q mam.Query, words []string, limit int) archiveQuery {
	var b queryBuilder
	// filters writes the WHERE conditions the count shares with the page.
	// Placeholders are numbered on, so each use adds its own arguments.
	filters := func() {
		owner := b.arg(q.Owner)
		b.sql.WriteString(`owner = ` + owner)
		if q.With != "" {
			b.sql.WriteString(` AND with_jid = ` + b.arg(q.With))
			if q.WithResource != "" {
				b.sql.WriteString(` AND with_resource = ` + b.arg(q.WithResource))
			}
		}
		// Time bounds become id bounds (an id holds its stamp's
		// millisecond, see mam.Message.Stamp), a range of the primary
		// key; the stamp is checked on the rows of the bound's own
		// millisecond only, which also keeps the planner's estimate of
		// the range sound (a check on every row would make it guess
		// that few rows remain, and sort them rather than read the
		// index in order).
		if !q.Start.IsZero() {
			start := norm.CeilMicro(q.Start)
			first, last := b.arg(mam.FirstIDAt(start)), b.arg(mam.LastIDAt(start))
			b.sql.WriteString(` AND id >= ` + first + ` AND (id > ` + last + ` OR stamp >= ` + b.arg(start) + `)`)
		}
		if !q.End.IsZero() {
			end := norm.FloorMicro(q.End)
			first, last := b.arg(mam.FirstIDAt(end)), b.arg(mam.LastIDAt(end))
			b.sql.WriteString(` AND id <= ` + last + ` AND (id < ` + first + ` OR stamp <= ` + b.arg(end) + `)`)
		}
		if len(q.IDs) > 0 {
			b.sql.WriteString(` AND id = ANY(` + b.arg(q.IDs) + `::bigint[])`)
		}
		if len(words) > 0 {
			b.sql.WriteString(` AND body_tsv @@ plainto_tsquery('simple', ` + b.arg(strings.Join(words, " ")) + `)`)
		}
	}

	var aq archiveQuery
	b.sql.WriteString(`SELECT count(*)::int FROM archive WHERE `)
	filters()
	aq.count, aq.countArgs = b.sql.String(), b.args

	b = queryBuilder{}
	b.sql.WriteString(`SELECT ` + archiveColumns)
	if q.Count {
		b.sql.WriteString(`, (SELECT count(*)::int FROM archive WHERE `)
		filters()
		b.sql.WriteString(`)`)
	}
	b.sql.WriteString(` FROM archive WHERE `)
	filters()
	if q.AfterID != 0 {
		b.sql.WriteString(` AND id > ` + b.arg(q.AfterID))
	}
	if q.BeforeID != 0 {
		b.sql.WriteString(` AND id < ` + b.arg(q.BeforeID))
	}
	if q.Last {
		b.sql.WriteString(` ORDER BY id DESC`)
	} else {
		b.sql.WriteString(` ORDER BY id`)
	}
	b.sql.WriteString(` LIMIT ` + b.arg(limit+1))
	aq.page, aq.pageArgs = b.sql.String(), b.args
	return aq
}

// Bounds implements mam.Store. Both ends are read in one statement (one
// snapshot), without their stanzas.
func (s *MAMStore) Bounds(ctx context.Context, owner string) (first, last mam.Message, err error) {
	const cols = `id, with_jid, with_resource, stamp, outgoing, origin_id, body, ''::bytea`
	rows, err := s.db.pool.Query(ctx, `(SELECT `+cols+` FROM archive WHERE owner = $1 ORDER BY id LIMIT 1)
	UNION ALL
	(SELECT `+cols+` FROM archive WHERE owner = $1 ORDER BY id DESC LIMIT 1)`, owner)
	if err != nil {
		return first, last, fmt.Errorf("postgres: mam bounds: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mam.Message, error) {
		m, err := scanMessage(r, owner, nil)
		m.Stanza = nil
		return m, err
	})
	if err != nil {
		return first, last, fmt.Errorf("postgres: mam bounds: %w", err)
	}
	if len(ms) == 0 {
		return first, last, fmt.Errorf("postgres: mam bounds of %q: %w", owner, mam.ErrNotFound)
	}
	slices.SortFunc(ms, func(a, b mam.Message) int { return cmp.Compare(a.ID, b.ID) })
	return ms[0], ms[len(ms)-1], nil
}

// Has implements mam.Store.
func (s *MAMStore) Has(ctx context.Context, owner string, id int64) (bool, error) {
	var ok bool
	if err := s.db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM archive WHERE owner = $1 AND id = $2)`, owner, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("postgres: mam has: %w", err)
	}
	return ok, nil
}

// Prefs implements mam.Store. The lists come back sorted.
func (s *MAMStore) Prefs(ctx context.Context, owner string) (mam.Prefs, error) {
	var p mam.Prefs
	err := s.db.pool.QueryRow(ctx, `SELECT default_mode, always, never FROM archive_prefs WHERE owner = $1`, owner).Scan(&p.Default, &p.Always, &p.Never)
	if errors.Is(err, pgx.ErrNoRows) {
		return mam.Prefs{}, fmt.Errorf("postgres: mam prefs of %q: %w", owner, mam.ErrNotFound)
	}
	if err != nil {
		return mam.Prefs{}, fmt.Errorf("postgres: mam prefs: %w", err)
	}
	return norm.ReadMAMPrefs(p), nil
}

// SetPrefs implements mam.Store. The lists are stored sorted and without
// duplicates; a Default other than "", "always", "roster" and "never" is
// an error.
func (s *MAMStore) SetPrefs(ctx context.Context, owner string, p mam.Prefs) error {
	if p.Default == "" {
		if _, err := s.db.pool.Exec(ctx, `DELETE FROM archive_prefs WHERE owner = $1`, owner); err != nil {
			return fmt.Errorf("postgres: mam set prefs: %w", err)
		}
		return nil
	}
	p, err := norm.MAMPrefs(p)
	if err != nil {
		return fmt.Errorf("postgres: mam set prefs: %w", err)
	}
	if _, err := s.db.pool.Exec(ctx, `INSERT INTO archive_prefs (owner, default_mode, always, never)
	VALUES ($1, $2, $3, $4)
	ON CONFLICT (owner) DO UPDATE SET
	default_mode = excluded.default_mode, always = excluded.always, never = excluded.never`,
		owner, p.Default, norm.Strings(p.Always), norm.Strings(p.Never)); err != nil {
		return noAccount("mam set prefs", owner, err)
	}
	return nil
}

// DeleteBefore implements mam.Store: one statement, deleting the oldest
// matching messages first, found in (stamp) or, for one owner, in the
// primary key (owner, id) up to the last id of the millisecond before
// 'before' (see mam.Message.Stamp).
func (s *MAMStore) DeleteBefore(ctx context.Context, before time.Time, owner string, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("postgres: mam delete before: limit %d is not positive", limit)
	}
	b := norm.CeilMicro(before)
	var (
		tag pgconn.CommandTag
		err error
	)
	if owner == "" {
		tag, err = s.db.pool.Exec(ctx, `DELETE FROM archive WHERE (owner, id) IN
		(SELECT owner, id FROM archive WHERE stamp < $1 ORDER BY stamp LIMIT $2)`, b, limit)
	} else {
		tag, err = s.db.pool.Exec(ctx, `DELETE FROM archive WHERE owner = $1 AND id IN
		(SELECT id FROM archive WHERE owner = $1 AND id <= $2 AND (stamp + interval '0') < $3 ORDER BY id LIMIT $4)`,
			owner, mam.LastIDAt(b.Add(-time.Microsecond)), b, limit)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: mam delete before: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
