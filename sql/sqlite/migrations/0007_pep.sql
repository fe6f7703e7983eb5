-- Personal eventing (XEP-0163): each account's nodes, their items, private
-- XML storage (XEP-0049), and the entity capabilities (XEP-0115) learnt
-- from clients.
CREATE TABLE pep_nodes (
	account        TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	node           TEXT NOT NULL,
	access_model   TEXT NOT NULL,
	persist_items  INTEGER NOT NULL,
	max_items      INTEGER NOT NULL, -- 0: max
	send_last      TEXT NOT NULL,
	notify_retract INTEGER NOT NULL,
	notify_delete  INTEGER NOT NULL,
	PRIMARY KEY (account, node)
) STRICT;

-- seq orders a node's items by publication (the newest has the largest).
CREATE TABLE pep_items (
	account TEXT NOT NULL,
	node    TEXT NOT NULL,
	id      TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	payload BLOB NOT NULL,
	PRIMARY KEY (account, node, id),
	FOREIGN KEY (account, node) REFERENCES pep_nodes (account, node) ON DELETE CASCADE
) STRICT;
CREATE UNIQUE INDEX pep_items_seq ON pep_items (account, node, seq);

-- Explicit subscriptions (XEP-0060 §6.1) of JIDs, bare or full, to nodes.
CREATE TABLE pep_subscriptions (
	account TEXT NOT NULL,
	node    TEXT NOT NULL,
	jid     TEXT NOT NULL,
	PRIMARY KEY (account, node, jid),
	FOREIGN KEY (account, node) REFERENCES pep_nodes (account, node) ON DELETE CASCADE
) STRICT;

-- Private XML storage (XEP-0049), one fragment per namespace.
CREATE TABLE private_xml (
	account TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	ns      TEXT NOT NULL,
	data    BLOB NOT NULL,
	PRIMARY KEY (account, ns)
) STRICT;

CREATE TABLE pep_caps (
	ver  TEXT NOT NULL PRIMARY KEY,
	info BLOB NOT NULL
) STRICT;
