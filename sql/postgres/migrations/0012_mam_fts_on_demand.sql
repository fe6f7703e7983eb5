-- The full-text index of an archive is built on demand, as on SQLite (its
-- migration 0012): from its owner's first full-text query on
-- (MAMStore.indexOwner), not for every archived message. body_tsv becomes
-- a plain column, set by the trigger below for the owners listed in
-- archive_fts_owners, NULL otherwise; the rows already there keep theirs.
-- An owner's row is added (complete false) before their archive is
-- indexed, under a SHARE lock on archive so that every write that has not
-- seen it has committed first; complete turns true once every message of
-- theirs has its body_tsv. The GIN index leaves out the NULLs. (DROP
-- EXPRESSION needs PostgreSQL 13 or later.)
CREATE TABLE archive_fts_owners (
	owner    TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES accounts (name) ON DELETE CASCADE,
	complete BOOLEAN NOT NULL DEFAULT false
);

ALTER TABLE archive ALTER COLUMN body_tsv DROP EXPRESSION;
DROP INDEX archive_fulltext;
CREATE INDEX archive_fulltext ON archive USING gin (body_tsv) WHERE body_tsv IS NOT NULL;

CREATE FUNCTION archive_fts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM archive_fts_owners WHERE owner = NEW.owner) THEN
		NEW.body_tsv := to_tsvector('simple', NEW.body);
	ELSE
		NEW.body_tsv := NULL;
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER archive_fts_insert BEFORE INSERT ON archive
FOR EACH ROW EXECUTE FUNCTION archive_fts_insert();
