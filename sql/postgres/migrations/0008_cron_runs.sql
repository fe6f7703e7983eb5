-- Scheduled jobs in a cluster (Jobs.TryLock): the last pass of each job
-- that a node claimed, so that a node whose clock or timer fires a little
-- later does not run the same pass again.
CREATE TABLE cron_runs (
	job  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	slot TIMESTAMPTZ NOT NULL
);
