-- Full-text indexing of the archive leaves the commit path: computing a
-- message's tsvector and inserting it into a GIN index was about half the
-- cost of archiving it. An archived message with a body is now only
-- queued (archive_fts_queue, filled by a statement trigger, in the same
-- statement as the message); MAMStore's indexer moves the queue into
-- archive_fts in the background, in large statements, and a full-text
-- query first indexes what is still queued for its archive, so queries
-- see every committed message (see MAMStore).
CREATE TABLE archive_fts (
	owner    TEXT COLLATE "C" NOT NULL,
	id       BIGINT   NOT NULL,
	body_tsv TSVECTOR NOT NULL, -- to_tsvector('simple', archive.body)
	PRIMARY KEY (owner, id),
	FOREIGN KEY (owner, id) REFERENCES archive (owner, id) ON DELETE CASCADE
);

INSERT INTO archive_fts (owner, id, body_tsv)
	SELECT owner, id, body_tsv FROM archive WHERE body <> '';

-- Dropping the column drops its GIN index, whose name the new one takes.
ALTER TABLE archive DROP COLUMN body_tsv;
CREATE INDEX archive_fulltext ON archive_fts USING gin (body_tsv);

-- The queue: archived messages with a body, not yet in archive_fts. No
-- index: rows are appended, taken in any order by the indexer, and read
-- by owner (a scan, the queue being short) by full-text queries.
CREATE TABLE archive_fts_queue (
	owner TEXT COLLATE "C" NOT NULL,
	id    BIGINT NOT NULL
);

CREATE FUNCTION archive_fts_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO archive_fts_queue (owner, id) SELECT owner, id FROM new_rows WHERE body <> '';
	RETURN NULL;
END
$$;

-- A statement trigger, so that a COPY of a whole group commit queues its
-- messages in one INSERT.
CREATE TRIGGER archive_fts_enqueue AFTER INSERT ON archive
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION archive_fts_enqueue();
