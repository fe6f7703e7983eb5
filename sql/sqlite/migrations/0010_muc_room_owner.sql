-- Which node of a cluster serves each MUC room (muc.OwnerStore): the
-- node's name and epoch (its start time in ns). A node claims a room by a
-- compare-and-swap on this row; rows of rooms that went away are deleted
-- by their owner. Clustering runs on PostgreSQL only; SQLite has the same
-- table so that both stores implement muc.OwnerStore alike.
CREATE TABLE muc_room_owner (
	room       TEXT    NOT NULL PRIMARY KEY,
	node       TEXT    NOT NULL,
	epoch      INTEGER NOT NULL,
	claimed_at INTEGER NOT NULL -- Unix milliseconds: when the node claimed it
) STRICT, WITHOUT ROWID;
