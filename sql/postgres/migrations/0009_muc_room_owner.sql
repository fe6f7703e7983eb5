-- Which node of a cluster serves each MUC room (muc.OwnerStore): the
-- node's name and epoch (its start time in ns). A node claims a room by a
-- compare-and-swap on this row; rows of rooms that went away are deleted
-- by their owner.
CREATE TABLE muc_room_owner (
	room       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	node       TEXT NOT NULL,
	epoch      BIGINT NOT NULL,
	claimed_at TIMESTAMPTZ NOT NULL -- for operators: when the node claimed it
);
