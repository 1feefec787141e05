-- Two more fleet counts, so the summary no longer reads a row per device for them. Measured in
-- the soak (.ci/soak.py, 75,000 devices, pg_stat_statements): counting the stale devices per
-- outcome through devices_by_outcome took 10 ms a summary, two thirds of PostgreSQL's time
-- (every device of the benchmark is stale, and freshly written index entries are checked
-- against the table); grouping the failed problems by cause took 2 ms more.
--   kind 'seen':   a = the device's outcome, b = the day of its last_seen (Unix day number,
--                  as text). Stale devices are the days before the cutoff's day, plus the
--                  devices of that one day seen before the cutoff (a range of the index).
--   kind 'failed': a = task, b = detail: the failed problems per cause.
-- The writers are held off while the counts start from the rows, so none is counted twice or
-- missed by an instance still writing during an upgrade.
LOCK TABLE devices, problems IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
    SELECT 0, 'seen', outcome, CAST(last_seen / 86400000 AS TEXT), '', COUNT(*) FROM devices
    GROUP BY outcome, last_seen / 86400000
    ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = fleet_counts.devices + excluded.devices;
INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
    SELECT 0, 'failed', task_id, detail, '', COUNT(*) FROM problems WHERE status = 'failed'
    GROUP BY task_id, detail
    ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = fleet_counts.devices + excluded.devices;

-- 0013's function, with the 'seen' rows beside the outcomes and verifications.
CREATE OR REPLACE FUNCTION devices_count() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM new_rows) THEN
            RETURN NULL;
        END IF;
        INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
        SELECT pg_backend_pid(), d.kind, d.a, d.b, '', SUM(d.n) FROM (
            SELECT 'outcome' AS kind, outcome AS a, '' AS b, 1 AS n FROM new_rows
            UNION ALL
            SELECT 'verified', verified, '', 1 FROM new_rows WHERE verified IS NOT NULL
            UNION ALL
            SELECT 'seen', outcome, CAST(last_seen / 86400000 AS TEXT), 1 FROM new_rows) AS d
        GROUP BY d.kind, d.a, d.b
        ON CONFLICT (shard, kind, a, b, c)
            DO UPDATE SET devices = fleet_counts.devices + excluded.devices;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (SELECT FROM new_rows) THEN
            RETURN NULL;
        END IF;
        INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
        SELECT pg_backend_pid(), d.kind, d.a, d.b, '', SUM(d.n) FROM (
            SELECT 'outcome' AS kind, outcome AS a, '' AS b, 1 AS n FROM new_rows
            UNION ALL
            SELECT 'verified', verified, '', 1 FROM new_rows WHERE verified IS NOT NULL
            UNION ALL
            SELECT 'seen', outcome, CAST(last_seen / 86400000 AS TEXT), 1 FROM new_rows
            UNION ALL
            SELECT 'outcome', outcome, '', -1 FROM old_rows
            UNION ALL
            SELECT 'verified', verified, '', -1 FROM old_rows WHERE verified IS NOT NULL
            UNION ALL
            SELECT 'seen', outcome, CAST(last_seen / 86400000 AS TEXT), -1 FROM old_rows) AS d
        GROUP BY d.kind, d.a, d.b HAVING SUM(d.n) <> 0
        ON CONFLICT (shard, kind, a, b, c)
            DO UPDATE SET devices = fleet_counts.devices + excluded.devices;
    ELSE
        IF NOT EXISTS (SELECT FROM old_rows) THEN
            RETURN NULL;
        END IF;
        INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
        SELECT pg_backend_pid(), d.kind, d.a, d.b, '', SUM(d.n) FROM (
            SELECT 'outcome' AS kind, outcome AS a, '' AS b, -1 AS n FROM old_rows
            UNION ALL
            SELECT 'verified', verified, '', -1 FROM old_rows WHERE verified IS NOT NULL
            UNION ALL
            SELECT 'seen', outcome, CAST(last_seen / 86400000 AS TEXT), -1 FROM old_rows) AS d
        GROUP BY d.kind, d.a, d.b
        ON CONFLICT (shard, kind, a, b, c)
            DO UPDATE SET devices = fleet_counts.devices + excluded.devices;
    END IF;
    RETURN NULL;
END $$;

-- Failed problems per cause, the same way (a statement that changed none returns at once).
CREATE FUNCTION problems_count() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM new_rows WHERE status = 'failed') THEN
            RETURN NULL;
        END IF;
        INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
        SELECT pg_backend_pid(), 'failed', task_id, detail, '', COUNT(*)
        FROM new_rows WHERE status = 'failed' GROUP BY task_id, detail
        ON CONFLICT (shard, kind, a, b, c)
            DO UPDATE SET devices = fleet_counts.devices + excluded.devices;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
        SELECT pg_backend_pid(), 'failed', d.task_id, d.detail, '', SUM(d.n) FROM (
            SELECT task_id, detail, 1 AS n FROM new_rows WHERE status = 'failed'
            UNION ALL
            SELECT task_id, detail, -1 FROM old_rows WHERE status = 'failed') AS d
        GROUP BY d.task_id, d.detail HAVING SUM(d.n) <> 0
        ON CONFLICT (shard, kind, a, b, c)
            DO UPDATE SET devices = fleet_counts.devices + excluded.devices;
    ELSE
        IF NOT EXISTS (SELECT FROM old_rows WHERE status = 'failed') THEN
            RETURN NULL;
        END IF;
        INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
        SELECT pg_backend_pid(), 'failed', task_id, detail, '', -COUNT(*)
        FROM old_rows WHERE status = 'failed' GROUP BY task_id, detail
        ON CONFLICT (shard, kind, a, b, c)
            DO UPDATE SET devices = fleet_counts.devices + excluded.devices;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER problems_counted AFTER INSERT ON problems REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION problems_count();
CREATE TRIGGER problems_recounted AFTER UPDATE ON problems
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION problems_count();
CREATE TRIGGER problems_uncounted AFTER DELETE ON problems REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION problems_count();
