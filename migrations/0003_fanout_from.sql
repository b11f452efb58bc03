-- fanout_from: the first revision whose watch fan-out may not have reached every live watcher (0: none).
-- A write answers before its event is sent to the watchers; if the object restarts in between, the live
-- watchers it held are closed on wake-up so their clients watch again from what they last received.
INSERT INTO meta (name, value) VALUES ('fanout_from', 0);
