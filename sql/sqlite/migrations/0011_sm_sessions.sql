-- XEP-0198 sessions of a cluster's nodes (session.SMRecord): the server's
-- h of hibernated and ended sessions, so that another node answers a
-- <resume/> after the holding node died with the right h. Written only
-- when clustering is on (SQLite never is: a cluster needs PostgreSQL; the
-- table keeps the two schemas alike).
CREATE TABLE sm_sessions (
	id      TEXT    NOT NULL PRIMARY KEY, -- the SM-ID
	account TEXT    NOT NULL,             -- bare JID
	node    TEXT    NOT NULL,             -- the node that wrote it (holds or held the session)
	h       INTEGER NOT NULL,
	live    INTEGER NOT NULL,             -- 1: the session has a connection, h unknown
	version INTEGER NOT NULL,             -- a record replaces only a lower version
	expires INTEGER NOT NULL              -- Unix milliseconds
) STRICT, WITHOUT ROWID;

CREATE INDEX sm_sessions_expires ON sm_sessions (expires);
