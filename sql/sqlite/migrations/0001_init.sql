-- Initial schema. Every per-user table references accounts(name) with
-- ON DELETE CASCADE, so deleting an account removes all its data in the
-- same statement (and transaction). Later feature tables must do the same.

CREATE TABLE accounts (
	name          TEXT    NOT NULL PRIMARY KEY, -- canonical bare JID
	domain        TEXT    NOT NULL,             -- the JID's domainpart, for listing
	sha1_salt     BLOB    NOT NULL,
	sha1_iter     INTEGER NOT NULL,
	sha1_stored   BLOB    NOT NULL,
	sha1_server   BLOB    NOT NULL,
	sha256_salt   BLOB    NOT NULL,
	sha256_iter   INTEGER NOT NULL,
	sha256_stored BLOB    NOT NULL,
	sha256_server BLOB    NOT NULL,
	created_at    INTEGER NOT NULL DEFAULT (unixepoch()) -- Unix seconds
) STRICT;

CREATE INDEX accounts_domain ON accounts (domain, name);

-- The current roster version of each user who ever had a roster change.
CREATE TABLE roster_versions (
	account TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (name) ON DELETE CASCADE,
	version INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Roster items; removed = 1 rows are tombstones kept for XEP-0237 diffs.
CREATE TABLE roster_items (
	account      TEXT    NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	contact      TEXT    NOT NULL,
	name         TEXT    NOT NULL DEFAULT '',
	groups       TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings, sorted
	subscription TEXT    NOT NULL DEFAULT 'none'
		CHECK (subscription IN ('none', 'to', 'from', 'both')),
	ask          INTEGER NOT NULL DEFAULT 0 CHECK (ask IN (0, 1)),
	version      INTEGER NOT NULL,
	removed      INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
	PRIMARY KEY (account, contact)
) STRICT, WITHOUT ROWID;

CREATE INDEX roster_items_version ON roster_items (account, version);

-- Inbound subscription requests not yet answered; seq orders them by arrival.
CREATE TABLE roster_pending (
	account TEXT    NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	contact TEXT    NOT NULL,
	stanza  BLOB    NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (account, contact)
) STRICT, WITHOUT ROWID;

CREATE INDEX roster_pending_seq ON roster_pending (account, seq);

-- Offline messages (XEP-0160). AUTOINCREMENT: ids are never reused, so they
-- grow in insertion order even after deletions.
CREATE TABLE offline_messages (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	account TEXT    NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	stamp   INTEGER NOT NULL, -- Unix microseconds, UTC
	stanza  BLOB    NOT NULL
) STRICT;

CREATE INDEX offline_messages_account ON offline_messages (account, id);

-- vcard-temp (XEP-0054), one serialized element per user.
CREATE TABLE vcards (
	account TEXT NOT NULL PRIMARY KEY REFERENCES accounts (name) ON DELETE CASCADE,
	card    BLOB NOT NULL
) STRICT;

-- Block lists (XEP-0191).
CREATE TABLE blocklist (
	account TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	jid     TEXT NOT NULL,
	PRIMARY KEY (account, jid)
) STRICT, WITHOUT ROWID;
