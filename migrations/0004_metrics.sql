-- Cluster-wide metric totals (src/storage/durable/metrics-table.ts): each Worker isolate adds what it
-- counted since its last flush. One row per series: a counter's value, or a histogram's count, sum and
-- per-bucket counts (JSON, non-cumulative, the last one +Inf).
CREATE TABLE metrics (
  name    TEXT NOT NULL,
  labels  TEXT NOT NULL,
  value   REAL NOT NULL,
  sum     REAL,
  buckets TEXT,
  PRIMARY KEY (name, labels)
);
