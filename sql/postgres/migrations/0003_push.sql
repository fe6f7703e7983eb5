-- Push registrations (XEP-0357, server side): one row per device, keyed
-- by the app server's JID and node.
CREATE TABLE push_registrations (
	account         TEXT COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	jid             TEXT COLLATE "C" NOT NULL, -- the app server
	node            TEXT COLLATE "C" NOT NULL,
	resource        TEXT NOT NULL,             -- the resource that enabled it
	options         BYTEA,                     -- publish-options form (serialized), NULL if none
	encrypt_key     BYTEA,                     -- tigase:push:encrypt:0 AES-128-GCM key, NULL if none
	encrypt_max     INTEGER NOT NULL DEFAULT 0,
	since           TIMESTAMPTZ NOT NULL,
	last_success    TIMESTAMPTZ,
	last_error      TIMESTAMPTZ,
	last_error_text TEXT NOT NULL DEFAULT '',
	errors          INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account, jid, node)
);
