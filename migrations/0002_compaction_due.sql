-- compaction_due: when the next compaction tick is due (ms since the epoch; 0: none pending). The alarm
-- also runs the control loops, often and soon after writes, so it no longer means "time to compact": the
-- tick's time has to survive the object being evicted between alarms.
INSERT INTO meta (name, value) VALUES ('compaction_due', 0);
