-- Two more fleet counts, so the summary no longer reads a row per device for them (see the
-- PostgreSQL migration of the same name for what they cost):
--   kind 'seen':   a = the device's outcome, b = the day of its last_seen (Unix day number,
--                  as text). Stale devices are the days before the cutoff's day, plus the
--                  devices of that one day seen before the cutoff (a range of the index).
--   kind 'failed': a = task, b = detail: the failed problems per cause.
INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
    SELECT 0, 'seen', outcome, CAST(last_seen / 86400000 AS TEXT), '', COUNT(*) FROM devices
    GROUP BY outcome, last_seen / 86400000;
INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
    SELECT 0, 'failed', task_id, detail, '', COUNT(*) FROM problems WHERE status = 'failed'
    GROUP BY task_id, detail;

CREATE TRIGGER devices_seen_counted AFTER INSERT ON devices BEGIN
    INSERT INTO fleet_counts
        VALUES (0, 'seen', new.outcome, CAST(new.last_seen / 86400000 AS TEXT), '', 1)
        ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = devices + 1;
END;
CREATE TRIGGER devices_seen_recounted AFTER UPDATE OF outcome, last_seen ON devices
    WHEN old.outcome IS NOT new.outcome OR old.last_seen / 86400000 <> new.last_seen / 86400000 BEGIN
    UPDATE fleet_counts SET devices = devices - 1
        WHERE shard = 0 AND kind = 'seen' AND a = old.outcome
          AND b = CAST(old.last_seen / 86400000 AS TEXT) AND c = '';
    INSERT INTO fleet_counts
        VALUES (0, 'seen', new.outcome, CAST(new.last_seen / 86400000 AS TEXT), '', 1)
        ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = devices + 1;
END;
CREATE TRIGGER devices_seen_uncounted AFTER DELETE ON devices BEGIN
    UPDATE fleet_counts SET devices = devices - 1
        WHERE shard = 0 AND kind = 'seen' AND a = old.outcome
          AND b = CAST(old.last_seen / 86400000 AS TEXT) AND c = '';
END;

CREATE TRIGGER problems_counted AFTER INSERT ON problems WHEN new.status = 'failed' BEGIN
    INSERT INTO fleet_counts VALUES (0, 'failed', new.task_id, new.detail, '', 1)
        ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = devices + 1;
END;
CREATE TRIGGER problems_recounted AFTER UPDATE OF task_id, status, detail ON problems
    WHEN old.status = 'failed' OR new.status = 'failed' BEGIN
    UPDATE fleet_counts SET devices = devices - 1
        WHERE old.status = 'failed'
          AND shard = 0 AND kind = 'failed' AND a = old.task_id AND b = old.detail AND c = '';
    INSERT INTO fleet_counts SELECT 0, 'failed', new.task_id, new.detail, '', 1
        WHERE new.status = 'failed'
        ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = devices + 1;
END;
CREATE TRIGGER problems_uncounted AFTER DELETE ON problems WHEN old.status = 'failed' BEGIN
    UPDATE fleet_counts SET devices = devices - 1
        WHERE shard = 0 AND kind = 'failed' AND a = old.task_id AND b = old.detail AND c = '';
END;
