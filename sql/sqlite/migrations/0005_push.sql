-- Push registrations (XEP-0357, server side): one row per device, keyed
-- by the app server's JID and node.
CREATE TABLE push_registrations (
	account         TEXT    NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	jid             TEXT    NOT NULL, -- the app server
	node            TEXT    NOT NULL,
	resource        TEXT    NOT NULL, -- the resource that enabled it
	options         BLOB,             -- publish-options form (serialized), NULL if none
	encrypt_key     BLOB,             -- tigase:push:encrypt:0 AES-128-GCM key, NULL if none
	encrypt_max     INTEGER NOT NULL DEFAULT 0,
	since           INTEGER NOT NULL, -- Unix microseconds, UTC
	last_success    INTEGER NOT NULL DEFAULT 0, -- Unix microseconds, 0: never
	last_error      INTEGER NOT NULL DEFAULT 0,
	last_error_text TEXT    NOT NULL DEFAULT '',
	errors          INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account, jid, node)
) STRICT, WITHOUT ROWID;
