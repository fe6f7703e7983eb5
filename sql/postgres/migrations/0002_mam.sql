-- Message archive (XEP-0313). Each user's archive is ordered by id, which
-- the mam service assigns: time-ordered, unique per owner (a message
-- between two local users is archived twice with the same id, once in each
-- archive). The archive is append-only apart from retention and account
-- deletion.
CREATE TABLE archive (
	owner         TEXT COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	id            BIGINT      NOT NULL CHECK (id > 0),
	with_jid      TEXT COLLATE "C" NOT NULL,  -- bare JID of the other party
	with_resource TEXT COLLATE "C" NOT NULL DEFAULT '', -- its resource, '' if none
	stamp         TIMESTAMPTZ NOT NULL,
	outgoing      BOOLEAN     NOT NULL,
	origin_id     TEXT        NOT NULL DEFAULT '',
	body          TEXT        NOT NULL DEFAULT '', -- plain text, for full-text search
	stanza        BYTEA       NOT NULL,
	body_tsv      TSVECTOR    GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED,
	PRIMARY KEY (owner, id)
);

-- Paging by id is a range scan of the primary key; these keep every other
-- query shape a range scan too:
--   'with' filters (with_resource is checked on the rows of the range);
CREATE INDEX archive_with ON archive (owner, with_jid, id);
--   time ranges (turned into id bounds: stamps grow with ids) and
--   per-owner retention;
CREATE INDEX archive_owner_stamp ON archive (owner, stamp, id);
--   retention over all archives;
CREATE INDEX archive_stamp ON archive (stamp);
--   full-text search ('simple' configuration: case folding, no stemming,
--   no stop words, whatever the language).
CREATE INDEX archive_fulltext ON archive USING gin (body_tsv);

-- Archiving preferences (XEP-0441); no row means never set.
CREATE TABLE archive_prefs (
	owner        TEXT COLLATE "C" NOT NULL PRIMARY KEY
		REFERENCES accounts (name) ON DELETE CASCADE,
	default_mode TEXT   NOT NULL CHECK (default_mode IN ('always', 'roster', 'never')),
	always       TEXT[] NOT NULL DEFAULT '{}', -- sorted
	never        TEXT[] NOT NULL DEFAULT '{}'  -- sorted
);
