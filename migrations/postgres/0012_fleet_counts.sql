-- The fleet's counts kept as devices change, so the summary reads a few rows instead of
-- counting every device on each load (at 100,000 devices its counts read 3 indexes end to
-- end; a loaded dashboard recomputed them all the time). Triggers keep them, so every way a
-- device or organization row changes counts, whoever writes it.
--   kind 'outcome':  a = the device's outcome
--   kind 'verified': a = the device's verification (devices without one are not counted)
--   kind 'org':      a = organization, b = its switch, c = its verification ('' for none)
-- `shard` is the writing connection's backend process id: each writer adds to rows of its
-- own, so concurrent writers (two per instance, more with more instances) never wait on each
-- other's counts or deadlock over them. Readers add the shards up. The triggers run once per
-- statement over its transition tables, so a batch of reports is one update per count.
CREATE TABLE fleet_counts (
    shard   BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    a       TEXT NOT NULL,
    b       TEXT NOT NULL,
    c       TEXT NOT NULL,
    devices BIGINT NOT NULL,
    PRIMARY KEY (shard, kind, a, b, c)
);
INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
    SELECT 0, 'outcome', outcome, '', '', COUNT(*) FROM devices GROUP BY outcome;
INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
    SELECT 0, 'verified', verified, '', '', COUNT(*) FROM devices
    WHERE verified IS NOT NULL GROUP BY verified;
INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
    SELECT 0, 'org', org, switch, COALESCE(verified, ''), COUNT(*) FROM device_orgs
    GROUP BY org, switch, COALESCE(verified, '');

-- Adds the rows of `delta` (kind, a, b, c, n) to this connection's counts, each key once.
CREATE FUNCTION fleet_count_add(delta JSONB) RETURNS VOID LANGUAGE SQL AS $$
    INSERT INTO fleet_counts (shard, kind, a, b, c, devices)
    SELECT pg_backend_pid(), d.kind, d.a, d.b, d.c, SUM(d.n)
    FROM jsonb_to_recordset(delta) AS d(kind TEXT, a TEXT, b TEXT, c TEXT, n BIGINT)
    GROUP BY d.kind, d.a, d.b, d.c HAVING SUM(d.n) <> 0
    ON CONFLICT (shard, kind, a, b, c)
        DO UPDATE SET devices = fleet_counts.devices + excluded.devices
$$;

-- Devices' outcomes and verifications: new rows count, old rows (updated or deleted) no longer
-- do; an update that changed neither adds nothing.
CREATE FUNCTION devices_count() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM fleet_count_add(jsonb_agg(d)) FROM (
            SELECT 'outcome' AS kind, outcome AS a, '' AS b, '' AS c, 1 AS n FROM new_rows
            UNION ALL
            SELECT 'verified', verified, '', '', 1 FROM new_rows WHERE verified IS NOT NULL) AS d;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM fleet_count_add(jsonb_agg(d)) FROM (
            SELECT 'outcome' AS kind, outcome AS a, '' AS b, '' AS c, 1 AS n FROM new_rows
            UNION ALL
            SELECT 'verified', verified, '', '', 1 FROM new_rows WHERE verified IS NOT NULL
            UNION ALL
            SELECT 'outcome', outcome, '', '', -1 FROM old_rows
            UNION ALL
            SELECT 'verified', verified, '', '', -1 FROM old_rows WHERE verified IS NOT NULL) AS d;
    ELSE
        PERFORM fleet_count_add(jsonb_agg(d)) FROM (
            SELECT 'outcome' AS kind, outcome AS a, '' AS b, '' AS c, -1 AS n FROM old_rows
            UNION ALL
            SELECT 'verified', verified, '', '', -1 FROM old_rows WHERE verified IS NOT NULL) AS d;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER devices_counted AFTER INSERT ON devices REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION devices_count();
CREATE TRIGGER devices_recounted AFTER UPDATE ON devices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION devices_count();
CREATE TRIGGER devices_uncounted AFTER DELETE ON devices REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION devices_count();

-- Organizations per switch and verification, the same way.
CREATE FUNCTION device_orgs_count() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM fleet_count_add(jsonb_agg(d)) FROM (
            SELECT 'org' AS kind, org AS a, switch AS b, COALESCE(verified, '') AS c, 1 AS n
            FROM new_rows) AS d;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM fleet_count_add(jsonb_agg(d)) FROM (
            SELECT 'org' AS kind, org AS a, switch AS b, COALESCE(verified, '') AS c, 1 AS n
            FROM new_rows
            UNION ALL
            SELECT 'org', org, switch, COALESCE(verified, ''), -1 FROM old_rows) AS d;
    ELSE
        PERFORM fleet_count_add(jsonb_agg(d)) FROM (
            SELECT 'org' AS kind, org AS a, switch AS b, COALESCE(verified, '') AS c, -1 AS n
            FROM old_rows) AS d;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER device_orgs_counted AFTER INSERT ON device_orgs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION device_orgs_count();
CREATE TRIGGER device_orgs_recounted AFTER UPDATE ON device_orgs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION device_orgs_count();
CREATE TRIGGER device_orgs_uncounted AFTER DELETE ON device_orgs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION device_orgs_count();
