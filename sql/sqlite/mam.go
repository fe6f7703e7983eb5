package sqlite

import (
	"cmp"
	"context"
	dbsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/sql/internal/norm"
)

var (
	_ mam.Store      = (*MAMStore)(nil)
	_ mam.BatchSizer = (*MAMStore)(nil)
)

// MAMStore implements mam.Store on the tables archive and archive_prefs,
// with an FTS5 index (archive_fts) of the bodies in the archives of owners
// who have searched (see indexOwner).
//
// Stamps are kept in Unix microseconds; a zero Stamp is stored as the
// current time. Every query is a range scan of an index: paging is keyset
// paging on (owner, id), never OFFSET; a 'with' filter scans (owner,
// with_jid, id); Start and End are turned into id bounds (stamps grow with
// ids; an id holds its stamp's millisecond, see mam.Message.Stamp), and
// are also checked on each row, so results never hold a message outside
// the bounds. Full-text queries look the words up in archive_fts (every
// word must occur; case is folded, diacritics kept, no stemming) and keep
// the hits in the queried range, starting from the hits when they are few
// and from the range otherwise (see buildQuery).
//
// Query.Count costs a count(*) over the index range of the filters, done
// in the same statement as the page (one snapshot); it is proportional to
// the size of the whole result set, so the service should ask for it only
// when needed.
//
// Append and SetPrefs for a user without an account fail with an error
// wrapping auth.ErrNotFound.
type MAMStore struct {
	db *DB

	fullText atomic.Bool // archive_fts answered a query
}

// newMAMStore returns the archive store of db.
func newMAMStore(db *DB) *MAMStore { return &MAMStore{db: db} }

// SupportsFullText implements mam.Store: it reports whether the FTS5 index
// answers queries. The migration creating it needs FTS5, which
// modernc.org/sqlite includes, so this is true on a migrated database. A
// success is remembered; a failure is checked again on the next call.
func (s *MAMStore) SupportsFullText() bool {
	if s.fullText.Load() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	err := s.db.r.QueryRowContext(ctx, `SELECT count(*) FROM archive_fts WHERE archive_fts MATCH '"dormouse"' AND rowid < 0`).Scan(&n)
	if err != nil {
		return false
	}
	s.fullText.Store(true)
	return true
}

// groupCommit is MaxBatch's answer: appendChunk rows, one statement (the
// pages a commit writes are mostly one leaf per archive in each of the two
// per-owner indexes, whatever the number of rows). Measured with
// bench/archived.sh (2026-12-07, bench/notes.md), 3 alternated runs each:
// 19,463 (18,449–22,602) archived msgs/s against 17,961 (17,006–19,629)
// with 256 rows, at 12% less server CPU per message.
const groupCommit = appendChunk

// MaxBatch implements mam.BatchSizer.
func (s *MAMStore) MaxBatch() int { return groupCommit }

// appendChunk is the most messages one INSERT statement of Append
// carries: 9 parameters each, well under SQLite's limit of 32,766.
const appendChunk = 512

// ftsAutomerge sets FTS5's automerge setting of archive_fts, which is
// stored in the database (and transactional): 0, merges left to the
// background merger, outside large Appends; ftsBulkAutomerge, FTS5's
// default, within them.
const ftsAutomerge = `INSERT INTO archive_fts (archive_fts, rank) VALUES ('automerge', ?)`

// ftsBulkAutomerge is the automerge setting of archive_fts during a large
// (chunked) Append.
const ftsBulkAutomerge = 4

// archiveInsert returns the statement inserting up to n messages: n rows
// of parameters, of which those with a NULL owner are skipped. Append pads
// its messages to a power of two with such rows, so that a few statements
// (one per power of two up to appendChunk), each parsed once, serve every
// batch size.
func archiveInsert(n int) string {
	const (
		head = `INSERT INTO archive (owner, id, with_jid, with_resource, stamp, outgoing, origin_id, body, stanza) SELECT * FROM (VALUES `
		row  = `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
		tail = `) WHERE column1 IS NOT NULL`
	)
	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+1) + len(tail))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// padded returns the number of rows of the statement inserting n
// messages: the next power of two.
func padded(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// Append implements mam.Store. The messages are inserted with one
// multi-row INSERT statement per appendChunk messages, on the writer
// connection; one statement is atomic, so a batch of up to appendChunk
// messages needs no explicit transaction, and a larger one is one BEGIN
// IMMEDIATE transaction.
//
// One statement per batch, not one per message, matters: inside a
// transaction every statement that fires the full-text trigger opens a
// statement savepoint, at which FTS5 flushes its pending terms to a new
// segment on disk, and those segments must then be merged. A statement
// (or an autocommit transaction) flushes once. The merges are not done in
// the commit (the index has automerge off) but by the DB's background
// merger, which every successful Append and DeleteBefore notifies.
func (s *MAMStore) Append(ctx context.Context, msgs []mam.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	for _, m := range msgs {
		if m.ID <= 0 {
			return fmt.Errorf("sqlite: mam append: message of %q: id %d is not positive", m.Owner, m.ID)
		}
	}
	// The statements are prepared (or found in the cache) before any
	// transaction, which would hold the writer's only connection.
	stmt := func(n int) (*dbsql.Stmt, error) {
		return s.db.ws.prepared(ctx, s.db.w, archiveInsert(padded(n)))
	}
	insert := func(ctx context.Context, stmt *dbsql.Stmt, msgs []mam.Message) error {
		args := make([]any, 9*padded(len(msgs))) // the padding rows stay nil: NULL owner
		for i := range msgs {
			m := &msgs[i]
			a := args[9*i : 9*i+9]
			a[0], a[1], a[2], a[3], a[4] = m.Owner, m.ID, m.With, m.WithResource, norm.Stamp(m.Stamp).UnixMicro()
			a[5], a[6], a[7], a[8] = m.Outgoing, m.OriginID, m.Body, norm.Bytes(m.Stanza)
		}
		_, err := stmt.ExecContext(ctx, args...)
		return err
	}
	var err error
	if len(msgs) <= appendChunk {
		var st *dbsql.Stmt
		if st, err = stmt(len(msgs)); err == nil {
			err = insert(ctx, st, msgs)
		}
	} else {
		var full, last *dbsql.Stmt
		full, err = stmt(appendChunk)
		if err == nil {
			last, err = stmt((len(msgs)-1)%appendChunk + 1)
		}
		if err == nil {
			err = s.db.inTx(ctx, func(tx *dbsql.Tx) error {
				// A bulk write merges its own segments as it goes, as
				// FTS5 does by default, instead of leaving that to the
				// background merger (see ftsMerger): latency matters
				// less here than leaving no merge debt behind.
				if _, err := tx.ExecContext(ctx, ftsAutomerge, ftsBulkAutomerge); err != nil {
					return err
				}
				for chunk := range slices.Chunk(msgs, appendChunk) {
					st := full
					if len(chunk) < appendChunk {
						st = last
					}
					txst := tx.StmtContext(ctx, st)
					err := insert(ctx, txst, chunk)
					txst.Close()
					if err != nil {
						return err
					}
				}
				_, err := tx.ExecContext(ctx, ftsAutomerge, 0)
				return err
			})
		}
	}
	if err != nil {
		return appendError(msgs, err)
	}
	// Each statement added a segment to archive_fts if it held a message
	// of an owner who has searched (migration 0012). Otherwise the merger,
	// woken every ftsMergeEvery of them, finds no work in one short step:
	// knowing which would cost a query per commit.
	s.db.merger.written(int64((len(msgs) + appendChunk - 1) / appendChunk))
	s.db.ckpt.written()
	return nil
}

// appendError translates the errors of an archive insert: a primary key
// violation into one wrapping mam.ErrDuplicate, a foreign key violation
// into one wrapping auth.ErrNotFound.
func appendError(msgs []mam.Message, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: mam append: %w", mam.ErrDuplicate)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: mam append: owner %s: %w", owners(msgs), auth.ErrNotFound)
		}
	}
	return fmt.Errorf("sqlite: mam append: %w", err)
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

// ftsIndexChunk is the most messages one transaction of indexOwner adds
// to the full-text index: each holds the writer for about 10 ms (100,000
// messages took 0.87 s in TestMAMLarge), so archive writes interleave with
// a large archive's first indexing.
const ftsIndexChunk = 1000

// The statements of indexOwner adding rows of archive that archive_fts
// does not hold yet to it: an owner's rows in a range of ids, or above an
// id (ranges of the (owner, id) index), and an owner's rows above a seq (a
// range of rowids: +owner keeps the planner off the owner's whole index).
const (
	ftsIndexRows = `INSERT INTO archive_fts (rowid, body) SELECT seq, body FROM archive
	WHERE NOT EXISTS (SELECT 1 FROM archive_fts_docsize d WHERE d.id = archive.seq) AND `
	ftsIndexIDs   = ftsIndexRows + `owner = ? AND id > ? AND id <= ?`
	ftsIndexAfter = ftsIndexRows + `owner = ? AND id > ?`
	ftsIndexAbove = ftsIndexRows + `+owner = ? AND seq > ?`
)

// indexOwner makes sure owner's archive is all in the full-text index,
// which holds only the archives of owners who have searched (migration
// 0012): the first full-text query of an owner indexes their archive, in
// chunks of ftsIndexChunk messages in id order, then, in the transaction
// that adds them to archive_fts_owners (after which the insert trigger
// indexes their new messages), the messages archived meanwhile: those
// after the last chunk's ids, and any other archived since indexing began
// (one with an earlier id, say, from a clock set back).
// An owner without an account is left alone (their archive is empty).
func (s *MAMStore) indexOwner(ctx context.Context, owner string) error {
	var on bool
	if err := s.db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM archive_fts_owners WHERE owner = ?)`, owner).Scan(&on); err != nil {
		return fmt.Errorf("full-text index of %q: %w", owner, err)
	}
	if on {
		return nil
	}
	var top int64 // messages archived after it are indexed by the last step
	if err := s.db.w.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM archive`).Scan(&top); err != nil {
		return fmt.Errorf("full-text index of %q: %w", owner, err)
	}
	var after int64 // id
	for {
		var last dbsql.NullInt64
		err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
			if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM (SELECT id FROM archive WHERE owner = ? AND id > ? ORDER BY id LIMIT ?)`,
				owner, after, ftsIndexChunk).Scan(&last); err != nil || !last.Valid {
				return err
			}
			_, err := tx.ExecContext(ctx, ftsIndexIDs, owner, after, last.Int64)
			return err
		})
		if err != nil {
			return fmt.Errorf("full-text index of %q: %w", owner, err)
		}
		if !last.Valid {
			break
		}
		after = last.Int64
		s.db.merger.written(1)
	}
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		if _, err := tx.ExecContext(ctx, ftsIndexAfter, owner, after); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, ftsIndexAbove, owner, top); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO archive_fts_owners (owner) SELECT name FROM accounts WHERE name = ? ON CONFLICT DO NOTHING`, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("full-text index of %q: %w", owner, err)
	}
	s.db.merger.written(1)
	s.db.ckpt.written()
	return nil
}

// archiveColumns are scanned by scanMessage, in this order.
const archiveColumns = `id, with_jid, with_resource, stamp, outgoing, origin_id, body, stanza`

// scanMessage scans archiveColumns (and, if count is not nil, one more
// column into it) into a message of owner.
func scanMessage(sc interface{ Scan(...any) error }, owner string, count *int) (mam.Message, error) {
	m := mam.Message{Owner: owner}
	var stamp int64
	dest := []any{&m.ID, &m.With, &m.WithResource, &stamp, &m.Outgoing, &m.OriginID, &m.Body, &m.Stanza}
	if count != nil {
		dest = append(dest, count)
	}
	if err := sc.Scan(dest...); err != nil {
		return mam.Message{}, err
	}
	m.Stamp = time.UnixMicro(stamp).UTC()
	return m, nil
}

// Query implements mam.Store.
func (s *MAMStore) Query(ctx context.Context, q mam.Query) (mam.Page, error) {
	page := mam.Page{Count: -1}
	var words []string
	if q.Text != "" {
		if !s.SupportsFullText() {
			return mam.Page{}, fmt.Errorf("sqlite: mam query: %w", mam.ErrFullTextUnsupported)
		}
		if words = norm.FullTextWords(q.Text); len(words) == 0 {
			// Nothing to search for: nothing matches.
			page.Complete = true
			if q.Count {
				page.Count = 0
			}
			return page, nil
		}
	}

	rare := false
	if len(words) > 0 {
		if err := s.indexOwner(ctx, q.Owner); err != nil {
			return mam.Page{}, fmt.Errorf("sqlite: mam query: %w", err)
		}
		var hits int
		if err := s.db.r.QueryRowContext(ctx, `SELECT count(*) FROM
		(SELECT 1 FROM archive_fts WHERE archive_fts MATCH ? LIMIT ?)`, ftsQuery(words), rareHits+1).Scan(&hits); err != nil {
			return mam.Page{}, fmt.Errorf("sqlite: mam query: full-text probe: %w", err)
		}
		rare = hits <= rareHits
	}
	limit := max(q.Max, 0)
	sq, err := buildQuery(q, words, rare, limit)
	if err != nil {
		return mam.Page{}, fmt.Errorf("sqlite: mam query: %w", err)
	}
	rows, err := s.db.r.QueryContext(ctx, sq.page, sq.pageArgs...)
	if err != nil {
		return mam.Page{}, fmt.Errorf("sqlite: mam query: %w", err)
	}
	defer rows.Close()
	var count *int
	if q.Count {
		count = &page.Count
	}
	for rows.Next() {
		m, err := scanMessage(rows, q.Owner, count)
		if err != nil {
			return mam.Page{}, fmt.Errorf("sqlite: mam query: %w", err)
		}
		page.Messages = append(page.Messages, m)
	}
	if err := rows.Err(); err != nil {
		return mam.Page{}, fmt.Errorf("sqlite: mam query: %w", err)
	}
	rows.Close()

	if fetched := norm.Page(&page, limit, q.Last); q.Count && fetched == 0 {
		// No row carried the count.
		if err := s.db.r.QueryRowContext(ctx, sq.count, sq.countArgs...).Scan(&page.Count); err != nil {
			return mam.Page{}, fmt.Errorf("sqlite: mam count: %w", err)
		}
	}
	return page, nil
}

// archiveQuery is the SQL of a Query.
type archiveQuery struct {
	page      string // the page: archiveColumns (and the count if asked for)
	pageArgs  []any
	count     string // the count alone
	countArgs []any
}

// rareHits is the most messages (in all archives) matching a full-text
// query for which Query starts from the full-text index; see buildQuery.
const rareHits = 1000

// buildQuery returns the statements answering q, with the full-text words
// of q.Text and at most limit+1 rows (one more than the page, to learn
// whether it is complete).
//
// A full-text query is planned one of two ways. If its words are rare
// (at most rareHits messages in all archives hold them, which Query
// learns first from the index at the cost of reading at most that many
// entries), the hits drive the query: each is looked up by rowid and the
// few found sorted by id. Otherwise the usual index range of the archive
// is scanned in id order, keeping the rows whose rowid is in the (then
// materialized) set of hits; that stops as soon as the page is full, but
// costs time proportional to the number of hits in all archives (about a
// quarter of a second for a million).
func buildQuery(q mam.Query, words []string, rare bool, limit int) (archiveQuery, error) {
	// The filters, which the count shares.
	var (
		where strings.Builder
		args  []any
	)
	where.WriteString(`owner = ?`)
	args = append(args, q.Owner)
	if q.With != "" {
		where.WriteString(` AND with_jid = ?`)
		args = append(args, q.With)
		if q.WithResource != "" {
			where.WriteString(` AND with_resource = ?`)
			args = append(args, q.WithResource)
		}
	}
	// Time bounds become id bounds (an id holds its stamp's millisecond,
	// see mam.Message.Stamp); the stamp is checked again on the rows of
	// that range, with a unary + so that the planner does not look for an
	// index on it.
	if !q.Start.IsZero() {
		start := norm.CeilMicro(q.Start)
		where.WriteString(` AND id >= ? AND +stamp >= ?`)
		args = append(args, mam.FirstIDAt(start), start.UnixMicro())
	}
	if !q.End.IsZero() {
		end := norm.FloorMicro(q.End)
		where.WriteString(` AND id <= ? AND +stamp <= ?`)
		args = append(args, mam.LastIDAt(end), end.UnixMicro())
	}
	if len(q.IDs) > 0 {
		list, err := json.Marshal(q.IDs)
		if err != nil {
			return archiveQuery{}, err
		}
		where.WriteString(` AND id IN (SELECT value FROM json_each(?))`)
		args = append(args, string(list))
	}
	from, index := `archive`, ``
	if q.With != "" {
		// Without statistics, the planner prefers the primary key when
		// there are id bounds (from Start and End, say), reading the
		// messages with everyone in the range.
		index = ` INDEXED BY archive_with`
	}
	if len(words) > 0 {
		if rare {
			// CROSS JOIN: the left table drives.
			from = `(SELECT rowid AS fts_rowid FROM archive_fts WHERE archive_fts MATCH ?) AS fts ` +
				`CROSS JOIN archive ON archive.seq = fts.fts_rowid`
			args = append([]any{ftsQuery(words)}, args...)
			index = ``
		} else {
			where.WriteString(` AND seq IN (SELECT rowid FROM archive_fts WHERE archive_fts MATCH ?)`)
			args = append(args, ftsQuery(words))
		}
	}
	filters := where.String()
	aq := archiveQuery{
		count:     `SELECT count(*) FROM ` + from + ` WHERE ` + filters,
		countArgs: args,
	}

	var sel strings.Builder
	sel.WriteString(`SELECT ` + archiveColumns)
	if q.Count {
		sel.WriteString(`, (` + aq.count + `)`)
		aq.pageArgs = append(aq.pageArgs, args...)
	}
	sel.WriteString(` FROM ` + from + index + ` WHERE ` + filters)
	aq.pageArgs = append(aq.pageArgs, args...)
	if q.AfterID != 0 {
		sel.WriteString(` AND id > ?`)
		aq.pageArgs = append(aq.pageArgs, q.AfterID)
	}
	if q.BeforeID != 0 {
		sel.WriteString(` AND id < ?`)
		aq.pageArgs = append(aq.pageArgs, q.BeforeID)
	}
	if q.Last {
		sel.WriteString(` ORDER BY id DESC`)
	} else {
		sel.WriteString(` ORDER BY id`)
	}
	sel.WriteString(` LIMIT ?`)
	aq.pageArgs = append(aq.pageArgs, limit+1)
	aq.page = sel.String()
	return aq, nil
}

// ftsQuery returns the FTS5 query matching rows holding every word: each
// is a quoted string (which FTS5 tokenizes like the indexed text), and
// juxtaposition means AND.
func ftsQuery(words []string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(w, `"`, `""`))
		b.WriteByte('"')
	}
	return b.String()
}

// Bounds implements mam.Store. Both ends are read in one statement (one
// snapshot), without their stanzas.
func (s *MAMStore) Bounds(ctx context.Context, owner string) (first, last mam.Message, err error) {
	const cols = `id, with_jid, with_resource, stamp, outgoing, origin_id, body, X'' AS stanza`
	rows, err := s.db.r.QueryContext(ctx, `SELECT * FROM (SELECT `+cols+` FROM archive WHERE owner = ? ORDER BY id LIMIT 1)
	UNION ALL
	SELECT * FROM (SELECT `+cols+` FROM archive WHERE owner = ? ORDER BY id DESC LIMIT 1)`, owner, owner)
	if err != nil {
		return first, last, fmt.Errorf("sqlite: mam bounds: %w", err)
	}
	defer rows.Close()
	var ms []mam.Message
	for rows.Next() {
		m, err := scanMessage(rows, owner, nil)
		if err != nil {
			return first, last, fmt.Errorf("sqlite: mam bounds: %w", err)
		}
		m.Stanza = nil
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return first, last, fmt.Errorf("sqlite: mam bounds: %w", err)
	}
	if len(ms) == 0 {
		return first, last, fmt.Errorf("sqlite: mam bounds of %q: %w", owner, mam.ErrNotFound)
	}
	slices.SortFunc(ms, func(a, b mam.Message) int { return cmp.Compare(a.ID, b.ID) })
	return ms[0], ms[len(ms)-1], nil
}

// Has implements mam.Store.
func (s *MAMStore) Has(ctx context.Context, owner string, id int64) (bool, error) {
	var ok bool
	if err := s.db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM archive WHERE owner = ? AND id = ?)`, owner, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("sqlite: mam has: %w", err)
	}
	return ok, nil
}

// Prefs implements mam.Store. The lists come back sorted.
func (s *MAMStore) Prefs(ctx context.Context, owner string) (mam.Prefs, error) {
	var (
		p             mam.Prefs
		always, never string
	)
	err := s.db.r.QueryRowContext(ctx, `SELECT default_mode, always, never FROM archive_prefs WHERE owner = ?`, owner).Scan(&p.Default, &always, &never)
	if errors.Is(err, dbsql.ErrNoRows) {
		return mam.Prefs{}, fmt.Errorf("sqlite: mam prefs of %q: %w", owner, mam.ErrNotFound)
	}
	if err != nil {
		return mam.Prefs{}, fmt.Errorf("sqlite: mam prefs: %w", err)
	}
	if err := json.Unmarshal([]byte(always), &p.Always); err != nil {
		return mam.Prefs{}, fmt.Errorf("sqlite: mam prefs: always list: %w", err)
	}
	if err := json.Unmarshal([]byte(never), &p.Never); err != nil {
		return mam.Prefs{}, fmt.Errorf("sqlite: mam prefs: never list: %w", err)
	}
	return norm.ReadMAMPrefs(p), nil
}

// SetPrefs implements mam.Store. The lists are stored sorted and without
// duplicates; a Default other than "", "always", "roster" and "never" is
// an error.
func (s *MAMStore) SetPrefs(ctx context.Context, owner string, p mam.Prefs) error {
	if p.Default == "" {
		if _, err := s.db.w.ExecContext(ctx, `DELETE FROM archive_prefs WHERE owner = ?`, owner); err != nil {
			return fmt.Errorf("sqlite: mam set prefs: %w", err)
		}
		return nil
	}
	p, err := norm.MAMPrefs(p)
	if err != nil {
		return fmt.Errorf("sqlite: mam set prefs: %w", err)
	}
	always, err := json.Marshal(norm.Strings(p.Always))
	if err != nil {
		return fmt.Errorf("sqlite: mam set prefs: %w", err)
	}
	never, err := json.Marshal(norm.Strings(p.Never))
	if err != nil {
		return fmt.Errorf("sqlite: mam set prefs: %w", err)
	}
	if _, err := s.db.w.ExecContext(ctx, `INSERT INTO archive_prefs (owner, default_mode, always, never)
	VALUES (?, ?, ?, ?)
	ON CONFLICT (owner) DO UPDATE SET
	default_mode = excluded.default_mode, always = excluded.always, never = excluded.never`,
		owner, p.Default, string(always), string(never)); err != nil {
		return noAccount("mam set prefs", owner, err)
	}
	return nil
}

// The statements of DeleteBefore, for all owners and for one.
const (
	deleteBeforeAll = `DELETE FROM archive WHERE seq IN
	(SELECT seq FROM archive WHERE stamp < ? ORDER BY stamp LIMIT ?)`
	deleteBeforeOwner = `DELETE FROM archive WHERE seq IN
	(SELECT seq FROM archive WHERE owner = ? AND id <= ? AND +stamp < ? ORDER BY id LIMIT ?)`
)

// DeleteBefore implements mam.Store: one statement, deleting the oldest
// matching messages first, found in (stamp) or, for one owner, in (owner,
// id) up to the last id of the millisecond before 'before' (see
// mam.Message.Stamp).
func (s *MAMStore) DeleteBefore(ctx context.Context, before time.Time, owner string, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("sqlite: mam delete before: limit %d is not positive", limit)
	}
	b := norm.CeilMicro(before).UnixMicro()
	var (
		res dbsql.Result
		err error
	)
	if owner == "" {
		res, err = s.db.w.ExecContext(ctx, deleteBeforeAll, b, limit)
	} else {
		res, err = s.db.w.ExecContext(ctx, deleteBeforeOwner, owner, mam.LastIDAt(time.UnixMicro(b-1)), b, limit)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: mam delete before: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: mam delete before: %w", err)
	}
	if n > 0 {
		s.db.merger.written(1)
	}
	return int(n), nil
}
