-- restoring: 1 while a snapshot is being restored into the object (src/storage/snapshot): writes other than
-- the restore's are refused until it ends, so a half-restored cluster is never written on top of.
INSERT INTO meta (name, value) VALUES ('restoring', 0);
-- The revision current at the end of each second a write happened in: what a point-in-time restore to a
-- time brings the cluster back to (its dry run answers from here). Pruned past the 30-day recovery window.
CREATE TABLE revision_times (
  second   INTEGER PRIMARY KEY,
  revision INTEGER NOT NULL
);
