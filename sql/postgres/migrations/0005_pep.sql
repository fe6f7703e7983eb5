-- Personal eventing (XEP-0163): each account's nodes, their items, private
-- XML storage (XEP-0049), and the entity capabilities (XEP-0115) learnt
-- from clients.
CREATE TABLE pep_nodes (
	account        TEXT COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	node           TEXT COLLATE "C" NOT NULL,
	access_model   TEXT NOT NULL,
	persist_items  BOOLEAN NOT NULL,
	max_items      INTEGER NOT NULL, -- 0: max
	send_last      TEXT NOT NULL,
	notify_retract BOOLEAN NOT NULL,
	notify_delete  BOOLEAN NOT NULL,
	PRIMARY KEY (account, node)
);

-- seq orders a node's items by publication (the newest has the largest).
CREATE TABLE pep_items (
	account TEXT COLLATE "C" NOT NULL,
	node    TEXT COLLATE "C" NOT NULL,
	id      TEXT COLLATE "C" NOT NULL,
	seq     BIGINT NOT NULL,
	payload BYTEA NOT NULL,
	PRIMARY KEY (account, node, id),
	FOREIGN KEY (account, node) REFERENCES pep_nodes (account, node) ON DELETE CASCADE
);
CREATE UNIQUE INDEX pep_items_seq ON pep_items (account, node, seq);

-- Explicit subscriptions (XEP-0060 §6.1) of JIDs, bare or full, to nodes.
CREATE TABLE pep_subscriptions (
	account TEXT COLLATE "C" NOT NULL,
	node    TEXT COLLATE "C" NOT NULL,
	jid     TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (account, node, jid),
	FOREIGN KEY (account, node) REFERENCES pep_nodes (account, node) ON DELETE CASCADE
);

-- Private XML storage (XEP-0049), one fragment per namespace.
CREATE TABLE private_xml (
	account TEXT COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	ns      TEXT COLLATE "C" NOT NULL,
	data    BYTEA NOT NULL,
	PRIMARY KEY (account, ns)
);

CREATE TABLE pep_caps (
	ver  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	info BYTEA NOT NULL
);
