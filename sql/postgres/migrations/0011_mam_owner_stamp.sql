-- Time bounds of archive queries and per-owner retention are id bounds
-- now, as on SQLite (its migration 0003): an archive id holds the
-- millisecond of its message's stamp (see mam.Message.Stamp and
-- mam.FirstIDAt), so the primary key (owner, id) serves them, and the
-- index (owner, stamp, id) only cost every archived message one more
-- scattered b-tree insert in the commit. The stamp is still checked on
-- each row, so results never hold a message outside the bounds. (stamp)
-- stays for retention over all archives: it is append-only, hence cheap.
DROP INDEX archive_owner_stamp;
