-- XEP-0198 sessions of a cluster's nodes (session.SMRecord): the server's
-- h of hibernated and ended sessions, so that another node answers a
-- <resume/> after the holding node died with the right h. Written only
-- when clustering is on.
CREATE TABLE sm_sessions (
	id      TEXT COLLATE "C" NOT NULL PRIMARY KEY, -- the SM-ID
	account TEXT COLLATE "C" NOT NULL,             -- bare JID
	node    TEXT NOT NULL,                         -- the node that wrote it (holds or held the session)
	h       BIGINT NOT NULL,
	live    BOOLEAN NOT NULL,                      -- the session has a connection, h unknown
	version BIGINT NOT NULL,                       -- a record replaces only a lower version
	expires TIMESTAMPTZ NOT NULL
);

CREATE INDEX sm_sessions_expires ON sm_sessions (expires);
