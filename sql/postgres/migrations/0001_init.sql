-- Initial schema. Every per-user table references accounts(name) with
-- ON DELETE CASCADE, so deleting an account removes all its data in the
-- same statement (and transaction). Later feature tables must do the same.
--
-- JIDs use COLLATE "C" so that ORDER BY sorts them bytewise, like Go's
-- sort.Strings and the SQLite backend, whatever the database's locale.

CREATE TABLE accounts (
	name          TEXT COLLATE "C" NOT NULL PRIMARY KEY, -- canonical bare JID
	domain        TEXT COLLATE "C" NOT NULL,             -- the JID's domainpart
	sha1_salt     BYTEA   NOT NULL,
	sha1_iter     INTEGER NOT NULL,
	sha1_stored   BYTEA   NOT NULL,
	sha1_server   BYTEA   NOT NULL,
	sha256_salt   BYTEA   NOT NULL,
	sha256_iter   INTEGER NOT NULL,
	sha256_stored BYTEA   NOT NULL,
	sha256_server BYTEA   NOT NULL,
	created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX accounts_domain ON accounts (domain, name);

-- The current roster version of each user who ever had a roster change.
CREATE TABLE roster_versions (
	account TEXT COLLATE "C" NOT NULL PRIMARY KEY
		REFERENCES accounts (name) ON DELETE CASCADE,
	version BIGINT NOT NULL
);

-- Roster items; removed rows are tombstones kept for XEP-0237 diffs.
CREATE TABLE roster_items (
	account      TEXT COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	contact      TEXT COLLATE "C" NOT NULL,
	name         TEXT    NOT NULL DEFAULT '',
	groups       TEXT[]  NOT NULL DEFAULT '{}', -- sorted
	subscription TEXT    NOT NULL DEFAULT 'none'
		CHECK (subscription IN ('none', 'to', 'from', 'both')),
	ask          BOOLEAN NOT NULL DEFAULT false,
	version      BIGINT  NOT NULL,
	removed      BOOLEAN NOT NULL DEFAULT false,
	PRIMARY KEY (account, contact)
);

CREATE INDEX roster_items_version ON roster_items (account, version);

-- Inbound subscription requests not yet answered; seq orders them by arrival.
CREATE TABLE roster_pending (
	account TEXT COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	contact TEXT COLLATE "C" NOT NULL,
	stanza  BYTEA     NOT NULL,
	seq     BIGSERIAL NOT NULL,
	PRIMARY KEY (account, contact)
);

CREATE INDEX roster_pending_seq ON roster_pending (account, seq);

-- Offline messages (XEP-0160).
CREATE TABLE offline_messages (
	id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account TEXT COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	stamp   TIMESTAMPTZ NOT NULL,
	stanza  BYTEA       NOT NULL
);

CREATE INDEX offline_messages_account ON offline_messages (account, id);

-- vcard-temp (XEP-0054), one serialized element per user.
CREATE TABLE vcards (
	account TEXT COLLATE "C" NOT NULL PRIMARY KEY
		REFERENCES accounts (name) ON DELETE CASCADE,
	card    BYTEA NOT NULL
);

-- Block lists (XEP-0191).
CREATE TABLE blocklist (
	account TEXT COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	jid     TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (account, jid)
);
