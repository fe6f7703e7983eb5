-- Time bounds of archive queries and per-owner retention are id bounds
-- now: an archive id holds the millisecond of its message's stamp (see
-- mam.Message.Stamp and mam.FirstIDAt), so (owner, id) serves them and
-- the index (owner, stamp, id) only cost every archived message one more
-- scattered b-tree insert. The stamp is still checked on each row, so
-- results never hold a message outside the bounds. (stamp) stays: it keeps
-- retention over all archives a range scan, and being append-only it is
-- cheap to maintain.
DROP INDEX archive_owner_stamp;
