-- The ClusterStore schema: etcd's MVCC store on the Durable Object's SQLite.

-- Counters that must survive the loss of the log rows they came from:
--   revision         the cluster revision as of the last compaction (compaction may delete the newest
--                    row, a tombstone; otherwise the revision is max(log.rev))
--   compacted        reads and watches below this revision fail with Compacted
--   compaction_mark  the revision that was current at the previous compaction tick (see alarm())
CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
-- An empty etcd is at revision 1; its first write gets revision 2.
INSERT INTO meta (name, value) VALUES ('revision', 1), ('compacted', 0), ('compaction_mark', 1);

-- Current state: one row per live key.
CREATE TABLE kv (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  create_rev INTEGER NOT NULL,
  mod_rev    INTEGER NOT NULL,
  version    INTEGER NOT NULL
);

-- History: one row per write, the revision as row id. A delete is a tombstone (value NULL) keeping
-- the deleted pair's create_rev and version. prev_rev points at the row this one replaced, for
-- prevKv; the previous value is not copied, as a row holding two values near the 1.5 MiB limit
-- would pass SQLite's 2 MB row limit. Compaction keeps every row a prev_rev above the compacted
-- revision points at (it is the newest row of its key at or below that revision).
CREATE TABLE log (
  rev        INTEGER PRIMARY KEY,
  key        TEXT NOT NULL,
  value      TEXT,
  create_rev INTEGER NOT NULL,
  version    INTEGER NOT NULL,
  prev_rev   INTEGER
);
-- MVCC reads (newest row per key at or below a revision) and compaction.
CREATE INDEX log_key_rev ON log (key, rev);
