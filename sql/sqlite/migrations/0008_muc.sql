-- Multi-user chat (XEP-0045): persistent rooms, their affiliations, and
-- room archives (XEP-0313 at the room JID). Rooms are not per-user data:
-- deleting an account leaves its affiliations (an owner stays listed).
CREATE TABLE muc_rooms (
	jid           TEXT PRIMARY KEY,
	config        TEXT NOT NULL,             -- muc.RoomConfig as JSON
	subject       TEXT NOT NULL DEFAULT '',
	subject_nick  TEXT NOT NULL DEFAULT '',
	subject_stamp INTEGER NOT NULL DEFAULT 0, -- Unix microseconds, 0: never set
	created       INTEGER NOT NULL            -- Unix microseconds
);

CREATE TABLE muc_affiliations (
	room        TEXT NOT NULL REFERENCES muc_rooms (jid) ON DELETE CASCADE,
	jid         TEXT NOT NULL,
	affiliation TEXT NOT NULL,
	nick        TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (room, jid)
);

-- A room's archive, also of temporary rooms (deleted with the room).
-- Paging is keyset paging on (room, id); time bounds become id bounds.
CREATE TABLE muc_archive (
	room   TEXT NOT NULL,
	id     INTEGER NOT NULL,
	stamp  INTEGER NOT NULL, -- Unix microseconds
	nick   TEXT NOT NULL,
	sender TEXT NOT NULL,    -- real bare JID
	body   TEXT NOT NULL,
	stanza BLOB NOT NULL,
	PRIMARY KEY (room, id)
) WITHOUT ROWID;

CREATE INDEX muc_archive_sender ON muc_archive (room, sender, id);
