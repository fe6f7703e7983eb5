package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"dormouse.im/dormouse/muc"
	"dormouse.im/dormouse/sql/internal/norm"
)

var _ muc.Store = (*MUCStore)(nil)

// MUCStore implements muc.Store: tables muc_rooms, muc_affiliations and
// muc_archive.
type MUCStore struct{ db *DB }

// MUC returns the multi-user chat store.
func (db *DB) MUC() *MUCStore { return &MUCStore{db: db} }

// Rooms implements muc.Store.
func (s *MUCStore) Rooms(ctx context.Context) ([]muc.StoredRoom, error) {
	rows, err := s.db.pool.Query(ctx, norm.MUCRoomsQuery)
	if err != nil {
		return nil, fmt.Errorf("postgres: muc rooms: %w", err)
	}
	out, err := norm.ScanMUCRooms(rows)
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	rows, err = s.db.pool.Query(ctx, norm.MUCAffiliationsQuery)
	if err != nil {
		return nil, fmt.Errorf("postgres: muc affiliations: %w", err)
	}
	defer rows.Close()
	if err := norm.AddMUCAffiliations(out, rows); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return out, nil
}

// SaveRoom implements muc.Store.
func (s *MUCStore) SaveRoom(ctx context.Context, r muc.StoredRoom) error {
	row, err := norm.MUCRoom(r)
	if err != nil {
		return fmt.Errorf("postgres: save room: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO muc_rooms (jid, config, subject, subject_nick, subject_stamp, created)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (jid) DO UPDATE SET config = excluded.config, subject = excluded.subject,
		subject_nick = excluded.subject_nick, subject_stamp = excluded.subject_stamp`,
			row.JID, row.Config, row.Subject, row.SubjectNick, row.SubjectStamp, row.Created); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM muc_affiliations WHERE room = $1`, row.JID); err != nil {
			return err
		}
		var b pgx.Batch
		for _, a := range r.Affiliations {
			b.Queue(`INSERT INTO muc_affiliations (room, jid, affiliation, nick, reason) VALUES ($1, $2, $3, $4, $5)`,
				row.JID, a.JID, string(a.Affiliation), a.Nick, a.Reason)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: save room %s: %w", r.JID, err)
	}
	return nil
}

// DeleteRoom implements muc.Store.
func (s *MUCStore) DeleteRoom(ctx context.Context, room string) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM muc_rooms WHERE jid = $1`, room); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM muc_archive WHERE room = $1`, room)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete room %s: %w", room, err)
	}
	return nil
}

// Archive implements muc.Store.
func (s *MUCStore) Archive(ctx context.Context, m muc.ArchivedMessage) error {
	if _, err := s.db.pool.Exec(ctx, `INSERT INTO muc_archive (room, id, stamp, nick, sender, body, stanza) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		m.Room, m.ID, norm.Stamp(m.Stamp).UnixMicro(), m.Nick, m.Sender, m.Body, norm.Bytes(m.Stanza)); err != nil {
		return fmt.Errorf("postgres: muc archive: %w", err)
	}
	return nil
}

// QueryArchive implements muc.Store.
func (s *MUCStore) QueryArchive(ctx context.Context, q muc.ArchiveQuery) (muc.ArchivePage, error) {
	query, args := norm.MUCArchiveQuery(q, func(i int) string { return "$" + strconv.Itoa(i) })
	rows, err := s.db.pool.Query(ctx, query, args...)
	if err != nil {
		return muc.ArchivePage{}, fmt.Errorf("postgres: muc archive query: %w", err)
	}
	defer rows.Close()
	page, err := norm.ScanMUCArchive(rows, q)
	if err != nil {
		return page, fmt.Errorf("postgres: %w", err)
	}
	return page, nil
}

var _ muc.OwnerStore = (*MUCStore)(nil)

// RoomOwner implements muc.OwnerStore.
func (s *MUCStore) RoomOwner(ctx context.Context, room string) (muc.RoomOwner, bool, error) {
	var o muc.RoomOwner
	err := s.db.pool.QueryRow(ctx, `SELECT node, epoch FROM muc_room_owner WHERE room = $1`, room).Scan(&o.Node, &o.Epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return muc.RoomOwner{}, false, nil
	}
	if err != nil {
		return muc.RoomOwner{}, false, fmt.Errorf("postgres: muc room owner: %w", err)
	}
	return o, true, nil
}

// ClaimRoom implements muc.OwnerStore: an insert that does nothing if a
// row exists, or an update conditional on the previous owner.
func (s *MUCStore) ClaimRoom(ctx context.Context, room string, prev *muc.RoomOwner, owner muc.RoomOwner) (bool, error) {
	var (
		tag pgconn.CommandTag
		err error
	)
	if prev == nil {
		tag, err = s.db.pool.Exec(ctx, `INSERT INTO muc_room_owner (room, node, epoch, claimed_at) VALUES ($1, $2, $3, now())
		ON CONFLICT (room) DO NOTHING`, room, owner.Node, owner.Epoch)
	} else {
		tag, err = s.db.pool.Exec(ctx, `UPDATE muc_room_owner SET node = $2, epoch = $3, claimed_at = now()
		WHERE room = $1 AND node = $4 AND epoch = $5`, room, owner.Node, owner.Epoch, prev.Node, prev.Epoch)
	}
	if err != nil {
		return false, fmt.Errorf("postgres: claim room %s: %w", room, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseRoom implements muc.OwnerStore.
func (s *MUCStore) ReleaseRoom(ctx context.Context, room string, owner muc.RoomOwner) error {
	if _, err := s.db.pool.Exec(ctx, `DELETE FROM muc_room_owner WHERE room = $1 AND node = $2 AND epoch = $3`,
		room, owner.Node, owner.Epoch); err != nil {
		return fmt.Errorf("postgres: release room %s: %w", room, err)
	}
	return nil
}

// Room implements muc.OwnerStore.
func (s *MUCStore) Room(ctx context.Context, room string) (muc.StoredRoom, error) {
	qr, qa := norm.MUCRoomQueries("$1")
	rows, err := s.db.pool.Query(ctx, qr, room)
	if err != nil {
		return muc.StoredRoom{}, fmt.Errorf("postgres: muc room: %w", err)
	}
	out, err := norm.ScanMUCRooms(rows)
	rows.Close()
	if err != nil {
		return muc.StoredRoom{}, fmt.Errorf("postgres: %w", err)
	}
	if len(out) == 0 {
		return muc.StoredRoom{}, fmt.Errorf("postgres: room %s: %w", room, muc.ErrNotFound)
	}
	rows, err = s.db.pool.Query(ctx, qa, room)
	if err != nil {
		return muc.StoredRoom{}, fmt.Errorf("postgres: muc affiliations: %w", err)
	}
	defer rows.Close()
	if err := norm.AddMUCAffiliations(out, rows); err != nil {
		return muc.StoredRoom{}, fmt.Errorf("postgres: %w", err)
	}
	return out[0], nil
}
