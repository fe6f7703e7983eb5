// Package sql opens Dormouse's storage: one database, SQLite or PostgreSQL,
// holding the data of every feature, and hands out each feature's store.
//
// # Storage URLs
//
// [Open] and [Migrate] take a URL naming the database:
//
//	sqlite:PATH                    an SQLite file (created if missing, with its directory)
//	sqlite://PATH                  the same; sqlite:///var/lib/dormouse/db is absolute
//	file:PATH, file://PATH         the same
//	postgres://USER@HOST/DB?...    a PostgreSQL database (also postgresql://)
//
// A PostgreSQL URL is read by pgx (see pgconn.ParseConfig): sslmode and the
// other libpq parameters work, and any other query parameter is sent to the
// server as a run-time setting. In particular search_path selects the
// schema holding Dormouse's tables:
//
//	postgres://dormouse@db.example/xmpp?sslmode=verify-full&search_path=dormouse
//
// The schema must already exist. Tests use this to give each run its own
// schema (see package dormouse.im/dormouse/sql/sqltest). The pgxpool
// parameters (pool_max_conns, ...) are accepted too. Passwords are removed
// from [Stores.Location] and from error messages.
//
// # Behaviour common to both backends
//
// Each per-user table has a foreign key to accounts(name) with ON DELETE
// CASCADE: DeleteAccount removes everything in one statement, and writes
// for a user without an account fail with an error wrapping
// auth.ErrNotFound. Lists of JIDs are sorted bytewise (as by sort.Strings).
// Roster groups are stored sorted and without duplicates, and an empty
// subscription is stored as "none". A replaced pending subscription request
// moves to the end of the arrival order. An offline message with a zero
// Stamp gets the current time; stamps keep microseconds.
//
// # Message archive
//
// The message archive (XEP-0313, [Stores.MAM]) is the table archive, keyed
// by (owner, id), with the indexes (owner, with_jid, id) and (stamp), and
// the table archive_prefs. Every query is a range scan of one of them:
// paging is keyset paging on the id (id > after or id < before, ORDER BY
// id, LIMIT max+1 to learn whether the page is complete), never OFFSET; a
// time range becomes an id range, since an id holds the millisecond of its
// stamp (the stamp is checked on the rows as well). Page.Count is
// filled only when asked for, by a count(*) over the same index range in
// the same statement: its cost grows with the size of the whole result.
// Full-text search uses an FTS5 index on SQLite and a generated tsvector
// column ('simple' configuration) with a GIN index on PostgreSQL: every
// word of the query must occur; case is folded, there is no stemming, and
// the tokenizers differ in details (PostgreSQL keeps e-mail addresses and
// URLs as single words, FTS5 splits them). Both index a user's archive
// from their first full-text query on (that query indexes what came
// before), so users who never search cost no indexing. Appends are
// batched: one multi-row INSERT on SQLite, one COPY on PostgreSQL.
//
// # Multi-user chat
//
// Persistent rooms ([Stores.MUC]) are the tables muc_rooms (configuration
// as JSON, subject, creation time) and muc_affiliations (room, bare JID,
// affiliation, nick, reason), replaced together by SaveRoom in one
// transaction. Room archives are muc_archive, keyed by (room, id), paged
// like the account archive (keyset on the id, time bounds as id bounds),
// with an index (room, sender, id) for queries by real JID. Rooms are not
// per-user data: these tables have no foreign key to accounts, and
// deleting an account leaves its affiliations.
//
// # Scheduled jobs in a cluster
//
// [Stores.Jobs] (PostgreSQL only; nil on SQLite) lets one node of a
// cluster run each pass of a scheduled job (internal/cronjob.Locker): a
// session advisory lock per job, on a connection of its own, held during
// the run, and the table cron_runs recording the last pass (scheduled
// time) each job ran, claimed by an INSERT … ON CONFLICT DO UPDATE … WHERE
// slot < new slot. The lock keys include the schema, so that clusters
// (and tests) in other schemas of one database do not share them.
// In a cluster, muc_room_owner records which node (name and epoch) serves
// each room (muc.OwnerStore): a claim is an INSERT … ON CONFLICT DO NOTHING
// for a room without a row, else an UPDATE conditional on the previous
// owner, so that of two nodes claiming a room exactly one succeeds.
// Clustering runs on PostgreSQL only; SQLite has the table too, so that
// both stores implement muc.OwnerStore and pass the same conformance test.
//
// # Testing
//
// Package storetest is the conformance suite. The SQLite tests always run;
// the PostgreSQL ones need DORMOUSE_TEST_POSTGRES, e.g.
//
//	DORMOUSE_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test -race ./sql/...
//
// Other packages' tests can get isolated stores from sqltest.SQLite and
// sqltest.Postgres.
//
// # Layout
//
// Each backend is a subpackage (sqlite, postgres) with one file per feature
// store (accounts.go, roster.go, ...) and numbered migrations embedded from
// its migrations directory (0001_init.sql, ...), applied in order, each in
// a transaction, and recorded in the table schema_migrations. The
// conformance suite in package storetest runs against both.
//
// To add a feature store: add its field to [Stores]; in each backend, add a
// migration creating its tables (with a foreign key to accounts(name) ON
// DELETE CASCADE, so that deleting an account deletes the user's data), a
// file implementing the store, and an accessor on the backend's DB; wire it
// in open.go; and add a subtest to storetest.
package sql
