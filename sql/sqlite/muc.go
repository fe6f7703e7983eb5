package sqlite

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"time"

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
	rows, err := s.db.r.QueryContext(ctx, norm.MUCRoomsQuery)
	if err != nil {
		return nil, fmt.Errorf("sqlite: muc rooms: %w", err)
	}
	out, err := norm.ScanMUCRooms(rows)
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	rows, err = s.db.r.QueryContext(ctx, norm.MUCAffiliationsQuery)
	if err != nil {
		return nil, fmt.Errorf("sqlite: muc affiliations: %w", err)
	}
	defer rows.Close()
	if err := norm.AddMUCAffiliations(out, rows); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return out, nil
}

// SaveRoom implements muc.Store.
func (s *MUCStore) SaveRoom(ctx context.Context, r muc.StoredRoom) error {
	row, err := norm.MUCRoom(r)
	if err != nil {
		return fmt.Errorf("sqlite: save room: %w", err)
	}
	err = s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO muc_rooms (jid, config, subject, subject_nick, subject_stamp, created)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (jid) DO UPDATE SET config = excluded.config, subject = excluded.subject,
		subject_nick = excluded.subject_nick, subject_stamp = excluded.subject_stamp`,
			row.JID, row.Config, row.Subject, row.SubjectNick, row.SubjectStamp, row.Created); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM muc_affiliations WHERE room = ?`, row.JID); err != nil {
			return err
		}
		for _, a := range r.Affiliations {
			if _, err := tx.ExecContext(ctx, `INSERT INTO muc_affiliations (room, jid, affiliation, nick, reason) VALUES (?, ?, ?, ?, ?)`,
				row.JID, a.JID, string(a.Affiliation), a.Nick, a.Reason); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: save room %s: %w", r.JID, err)
	}
	return nil
}

// DeleteRoom implements muc.Store.
func (s *MUCStore) DeleteRoom(ctx context.Context, room string) error {
	err := s.db.inTx(ctx, func(tx *dbsql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM muc_rooms WHERE jid = ?`, room); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM muc_archive WHERE room = ?`, room)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete room %s: %w", room, err)
	}
	return nil
}

// Archive implements muc.Store.
func (s *MUCStore) Archive(ctx context.Context, m muc.ArchivedMessage) error {
	if _, err := s.db.w.ExecContext(ctx, `INSERT INTO muc_archive (room, id, stamp, nick, sender, body, stanza) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		m.Room, m.ID, norm.Stamp(m.Stamp).UnixMicro(), m.Nick, m.Sender, m.Body, norm.Bytes(m.Stanza)); err != nil {
		return fmt.Errorf("sqlite: muc archive: %w", err)
	}
	return nil
}

// QueryArchive implements muc.Store.
func (s *MUCStore) QueryArchive(ctx context.Context, q muc.ArchiveQuery) (muc.ArchivePage, error) {
	query, args := norm.MUCArchiveQuery(q, func(int) string { return "?" })
	rows, err := s.db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return muc.ArchivePage{}, fmt.Errorf("sqlite: muc archive query: %w", err)
	}
	defer rows.Close()
	page, err := norm.ScanMUCArchive(rows, q)
	if err != nil {
		return page, fmt.Errorf("sqlite: %w", err)
	}
	return page, nil
}

var _ muc.OwnerStore = (*MUCStore)(nil)

// RoomOwner implements muc.OwnerStore.
func (s *MUCStore) RoomOwner(ctx context.Context, room string) (muc.RoomOwner, bool, error) {
	var o muc.RoomOwner
	err := s.db.r.QueryRowContext(ctx, `SELECT node, epoch FROM muc_room_owner WHERE room = ?`, room).Scan(&o.Node, &o.Epoch)
	if errors.Is(err, dbsql.ErrNoRows) {
		return muc.RoomOwner{}, false, nil
	}
	if err != nil {
		return muc.RoomOwner{}, false, fmt.Errorf("sqlite: muc room owner: %w", err)
	}
	return o, true, nil
}

// ClaimRoom implements muc.OwnerStore: an insert that does nothing if a
// row exists, or an update conditional on the previous owner.
func (s *MUCStore) ClaimRoom(ctx context.Context, room string, prev *muc.RoomOwner, owner muc.RoomOwner) (bool, error) {
	var (
		res dbsql.Result
		err error
	)
	now := time.Now().UnixMilli()
	if prev == nil {
		res, err = s.db.w.ExecContext(ctx, `INSERT INTO muc_room_owner (room, node, epoch, claimed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (room) DO NOTHING`, room, owner.Node, owner.Epoch, now)
	} else {
		res, err = s.db.w.ExecContext(ctx, `UPDATE muc_room_owner SET node = ?, epoch = ?, claimed_at = ?
		WHERE room = ? AND node = ? AND epoch = ?`, owner.Node, owner.Epoch, now, room, prev.Node, prev.Epoch)
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: claim room %s: %w", room, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: claim room %s: %w", room, err)
	}
	return n == 1, nil
}

// ReleaseRoom implements muc.OwnerStore.
func (s *MUCStore) ReleaseRoom(ctx context.Context, room string, owner muc.RoomOwner) error {
	if _, err := s.db.w.ExecContext(ctx, `DELETE FROM muc_room_owner WHERE room = ? AND node = ? AND epoch = ?`,
		room, owner.Node, owner.Epoch); err != nil {
		return fmt.Errorf("sqlite: release room %s: %w", room, err)
	}
	return nil
}

// Room implements muc.OwnerStore.
func (s *MUCStore) Room(ctx context.Context, room string) (muc.StoredRoom, error) {
	qr, qa := norm.MUCRoomQueries("?")
	rows, err := s.db.r.QueryContext(ctx, qr, room)
	if err != nil {
		return muc.StoredRoom{}, fmt.Errorf("sqlite: muc room: %w", err)
	}
	out, err := norm.ScanMUCRooms(rows)
	rows.Close()
	if err != nil {
		return muc.StoredRoom{}, fmt.Errorf("sqlite: %w", err)
	}
	if len(out) == 0 {
		return muc.StoredRoom{}, fmt.Errorf("sqlite: room %s: %w", room, muc.ErrNotFound)
	}
	rows, err = s.db.r.QueryContext(ctx, qa, room)
	if err != nil {
		return muc.StoredRoom{}, fmt.Errorf("sqlite: muc affiliations: %w", err)
	}
	defer rows.Close()
	if err := norm.AddMUCAffiliations(out, rows); err != nil {
		return muc.StoredRoom{}, fmt.Errorf("sqlite: %w", err)
	}
	return out[0], nil
}
