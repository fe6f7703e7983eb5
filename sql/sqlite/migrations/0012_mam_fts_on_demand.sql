-- The full-text index of an archive is built on demand: from its owner's
-- first full-text query on (MAMStore.indexOwner), not for every archived
-- message. Indexing was a third of the CPU of every archive write, paid for
-- every user although few ever search the server's archive.
--
-- archive_fts_owners lists the owners whose every message is indexed:
-- their new messages are indexed as they are archived (the insert trigger).
-- Messages of other owners may be indexed or not (those archived before
-- this migration are); whether a row is indexed is whether archive_fts has
-- its document size (archive_fts_docsize, keyed by the rowid), so the
-- delete and update triggers touch the index only for rows it holds. FTS5
-- compares an external-content index with its table only in its own
-- 'integrity-check' with a non-zero rank, never in PRAGMA integrity_check.
CREATE TABLE archive_fts_owners (
	owner TEXT NOT NULL PRIMARY KEY REFERENCES accounts (name) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

DROP TRIGGER archive_fts_insert;
CREATE TRIGGER archive_fts_insert AFTER INSERT ON archive
WHEN EXISTS (SELECT 1 FROM archive_fts_owners WHERE owner = new.owner) BEGIN
	INSERT INTO archive_fts (rowid, body) VALUES (new.seq, new.body);
END;

DROP TRIGGER archive_fts_delete;
CREATE TRIGGER archive_fts_delete AFTER DELETE ON archive
WHEN EXISTS (SELECT 1 FROM archive_fts_docsize WHERE id = old.seq) BEGIN
	INSERT INTO archive_fts (archive_fts, rowid, body) VALUES ('delete', old.seq, old.body);
END;

DROP TRIGGER archive_fts_update;
CREATE TRIGGER archive_fts_update AFTER UPDATE OF body ON archive
WHEN EXISTS (SELECT 1 FROM archive_fts_docsize WHERE id = old.seq) BEGIN
	INSERT INTO archive_fts (archive_fts, rowid, body) VALUES ('delete', old.seq, old.body);
	INSERT INTO archive_fts (rowid, body) VALUES (new.seq, new.body);
END;
