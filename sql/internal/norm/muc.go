package norm

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"dormouse.im/dormouse/muc"
)

// MUCRoomRow is a muc.StoredRoom as both backends write its muc_rooms row.
type MUCRoomRow struct {
	JID, Config, Subject, SubjectNick string
	SubjectStamp, Created             int64 // Unix microseconds; 0 for a zero time
}

// MUCRoom turns a room into its row.
func MUCRoom(r muc.StoredRoom) (MUCRoomRow, error) {
	cfg, err := json.Marshal(r.Config)
	if err != nil {
		return MUCRoomRow{}, fmt.Errorf("muc config: %w", err)
	}
	return MUCRoomRow{JID: r.JID, Config: string(cfg), Subject: r.Subject, SubjectNick: r.SubjectNick,
		SubjectStamp: micro(r.SubjectStamp), Created: micro(r.Created)}, nil
}

// Room turns a row back into a room (without its affiliations).
func (row MUCRoomRow) Room() (muc.StoredRoom, error) {
	r := muc.StoredRoom{JID: row.JID, Subject: row.Subject, SubjectNick: row.SubjectNick,
		SubjectStamp: fromMicro(row.SubjectStamp), Created: fromMicro(row.Created)}
	if err := json.Unmarshal([]byte(row.Config), &r.Config); err != nil {
		return r, fmt.Errorf("muc config of %s: %w", row.JID, err)
	}
	return r, nil
}

func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// MUCArchiveQuery returns the SELECT of one page of a room archive (columns
// id, stamp, nick, sender, body, stanza; one row more than q.Max, newest
// first for q.Last), with placeholders written by ph(1), ph(2), ...
func MUCArchiveQuery(q muc.ArchiveQuery, ph func(int) string) (string, []any) {
	var b strings.Builder
	args := []any{q.Room}
	b.WriteString(`SELECT id, stamp, nick, sender, body, stanza FROM muc_archive WHERE room = ` + ph(1))
	cond := func(c string, v any) {
		args = append(args, v)
		b.WriteString(" AND " + c + " " + ph(len(args)))
	}
	// Ids hold their stamp's millisecond (muc's id layout): time bounds
	// are id bounds first, then exact stamps.
	if !q.Start.IsZero() {
		cond("id >=", CeilMicro(q.Start).UnixMilli()<<20)
		cond("stamp >=", CeilMicro(q.Start).UnixMicro())
	}
	if !q.End.IsZero() {
		cond("id <", (FloorMicro(q.End).UnixMilli()+1)<<20)
		cond("stamp <=", FloorMicro(q.End).UnixMicro())
	}
	if q.AfterID != 0 {
		cond("id >", q.AfterID)
	}
	if q.BeforeID != 0 {
		cond("id <", q.BeforeID)
	}
	if q.Sender != "" {
		cond("sender =", q.Sender)
	}
	if len(q.IDs) > 0 {
		b.WriteString(" AND id IN (")
		for i, id := range q.IDs {
			if i > 0 {
				b.WriteString(", ")
			}
			args = append(args, id)
			b.WriteString(ph(len(args)))
		}
		b.WriteString(")")
	}
	if q.Last {
		b.WriteString(" ORDER BY id DESC")
	} else {
		b.WriteString(" ORDER BY id")
	}
	b.WriteString(" LIMIT " + strconv.Itoa(max(q.Max, 0)+1))
	return b.String(), args
}

// Rows is what both drivers' result sets offer (*database/sql.Rows,
// pgx.Rows), for the scans both backends share.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// MUCRoomsQuery and MUCAffiliationsQuery read every stored room and
// affiliation, in the order ScanMUCRooms expects.
const (
	MUCRoomsQuery        = `SELECT jid, config, subject, subject_nick, subject_stamp, created FROM muc_rooms ORDER BY jid`
	MUCAffiliationsQuery = `SELECT room, jid, affiliation, nick, reason FROM muc_affiliations ORDER BY room, jid`
)

// ScanMUCRooms reads the rows of MUCRoomsQuery. The caller closes them,
// then adds the affiliations with AddMUCAffiliations.
func ScanMUCRooms(rows Rows) ([]muc.StoredRoom, error) {
	var out []muc.StoredRoom
	for rows.Next() {
		var row MUCRoomRow
		if err := rows.Scan(&row.JID, &row.Config, &row.Subject, &row.SubjectNick, &row.SubjectStamp, &row.Created); err != nil {
			return nil, fmt.Errorf("muc rooms: %w", err)
		}
		r, err := row.Room()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("muc rooms: %w", err)
	}
	return out, nil
}

// AddMUCAffiliations reads the rows of MUCAffiliationsQuery into rooms
// (those of rooms not in the list are skipped). The caller closes them.
func AddMUCAffiliations(rooms []muc.StoredRoom, rows Rows) error {
	byJID := make(map[string]int, len(rooms))
	for i, r := range rooms {
		byJID[r.JID] = i
	}
	for rows.Next() {
		var room, aff string
		var a muc.AffiliationItem
		if err := rows.Scan(&room, &a.JID, &aff, &a.Nick, &a.Reason); err != nil {
			return fmt.Errorf("muc affiliations: %w", err)
		}
		a.Affiliation = muc.Affiliation(aff)
		if i, ok := byJID[room]; ok {
			rooms[i].Affiliations = append(rooms[i].Affiliations, a)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("muc affiliations: %w", err)
	}
	return nil
}

// ScanMUCArchive reads the rows of a MUCArchiveQuery into its page.
func ScanMUCArchive(rows Rows, q muc.ArchiveQuery) (muc.ArchivePage, error) {
	var msgs []muc.ArchivedMessage
	for rows.Next() {
		m := muc.ArchivedMessage{Room: q.Room}
		var stamp int64
		if err := rows.Scan(&m.ID, &stamp, &m.Nick, &m.Sender, &m.Body, &m.Stanza); err != nil {
			return muc.ArchivePage{}, fmt.Errorf("muc archive query: %w", err)
		}
		m.Stamp = fromMicro(stamp)
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return muc.ArchivePage{}, fmt.Errorf("muc archive query: %w", err)
	}
	return MUCPage(msgs, q), nil
}

// MUCPage finishes a page fetched by MUCArchiveQuery.
func MUCPage(msgs []muc.ArchivedMessage, q muc.ArchiveQuery) muc.ArchivePage {
	limit := max(q.Max, 0)
	p := muc.ArchivePage{Complete: len(msgs) <= limit}
	if !p.Complete {
		msgs = msgs[:limit]
	}
	if len(msgs) > 0 {
		p.Messages = msgs
		if q.Last {
			slices.Reverse(p.Messages)
		}
	}
	return p
}
