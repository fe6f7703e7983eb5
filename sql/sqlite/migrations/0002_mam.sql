-- Message archive (XEP-0313). Each user's archive is ordered by id, which
-- the mam service assigns: time-ordered, unique per owner (a message
-- between two local users is archived twice with the same id, once in each
-- archive). The archive is append-only apart from retention and account
-- deletion.
--
-- seq is an explicit rowid alias, so that rowids are stable (VACUUM may
-- renumber implicit rowids) and can key the external-content full-text
-- index. (owner, id) is the logical primary key.
CREATE TABLE archive (
	seq           INTEGER PRIMARY KEY,
	owner         TEXT    NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	id            INTEGER NOT NULL CHECK (id > 0),
	with_jid      TEXT    NOT NULL,             -- bare JID of the other party
	with_resource TEXT    NOT NULL DEFAULT '',  -- its resource, '' if none
	stamp         INTEGER NOT NULL,             -- Unix microseconds, UTC
	outgoing      INTEGER NOT NULL CHECK (outgoing IN (0, 1)),
	origin_id     TEXT    NOT NULL DEFAULT '',
	body          TEXT    NOT NULL DEFAULT '',  -- plain text, for full-text search
	stanza        BLOB    NOT NULL,
	UNIQUE (owner, id)
) STRICT;

-- Paging by id is a range scan of the (owner, id) index above; these keep
-- every other query shape a range scan too:
--   'with' filters (with_resource is checked on the rows of the range);
CREATE INDEX archive_with ON archive (owner, with_jid, id);
--   time ranges (turned into id bounds: stamps grow with ids) and
--   per-owner retention;
CREATE INDEX archive_owner_stamp ON archive (owner, stamp, id);
--   retention over all archives.
CREATE INDEX archive_stamp ON archive (stamp);

-- Full-text index of the bodies (FTS5, external content: the text is
-- read from archive, not stored twice), kept in sync by the triggers
-- below, which also run for the deletions cascaded from accounts. Every
-- row is indexed, even with an empty body, so that the index mirrors the
-- table exactly (and passes FTS5's 'integrity-check' against it). The
-- tokenizer folds case but keeps diacritics, like PostgreSQL's 'simple'
-- configuration.
CREATE VIRTUAL TABLE archive_fts USING fts5 (
	body,
	content = 'archive',
	content_rowid = 'seq',
	tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TRIGGER archive_fts_insert AFTER INSERT ON archive BEGIN
	INSERT INTO archive_fts (rowid, body) VALUES (new.seq, new.body);
END;

CREATE TRIGGER archive_fts_delete AFTER DELETE ON archive BEGIN
	INSERT INTO archive_fts (archive_fts, rowid, body) VALUES ('delete', old.seq, old.body);
END;

CREATE TRIGGER archive_fts_update AFTER UPDATE OF body ON archive BEGIN
	INSERT INTO archive_fts (archive_fts, rowid, body) VALUES ('delete', old.seq, old.body);
	INSERT INTO archive_fts (rowid, body) VALUES (new.seq, new.body);
END;

-- Archiving preferences (XEP-0441); no row means never set.
CREATE TABLE archive_prefs (
	owner        TEXT NOT NULL PRIMARY KEY REFERENCES accounts (name) ON DELETE CASCADE,
	default_mode TEXT NOT NULL CHECK (default_mode IN ('always', 'roster', 'never')),
	always       TEXT NOT NULL DEFAULT '[]', -- JSON array of JIDs, sorted
	never        TEXT NOT NULL DEFAULT '[]'  -- JSON array of JIDs, sorted
) STRICT;
