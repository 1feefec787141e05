-- The fleet's counts kept as devices change, so the summary reads a few rows instead of
-- counting every device on each load (at 100,000 devices its counts read 3 indexes end to
-- end, about 9 ms; a loaded dashboard recomputed them all the time). Triggers keep them, so
-- every way a device or organization row changes counts, whoever writes it.
--   kind 'outcome':  a = the device's outcome
--   kind 'verified': a = the device's verification (devices without one are not counted)
--   kind 'org':      a = organization, b = its switch, c = its verification ('' for none)
-- `shard` is 0 here; on PostgreSQL each writing connection has its own rows, so writers never
-- wait on each other's counts. Readers add the shards up.
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

CREATE TRIGGER devices_counted AFTER INSERT ON devices BEGIN
    INSERT INTO fleet_counts VALUES (0, 'outcome', new.outcome, '', '', 1)
        ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = devices + 1;
    INSERT INTO fleet_counts SELECT 0, 'verified', new.verified, '', '', 1
        WHERE new.verified IS NOT NULL
        ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = devices + 1;
END;
CREATE TRIGGER devices_recounted AFTER UPDATE OF outcome, verified ON devices
    WHEN old.outcome IS NOT new.outcome OR old.verified IS NOT new.verified BEGIN
    UPDATE fleet_counts SET devices = devices - 1
        WHERE shard = 0 AND kind = 'outcome' AND a = old.outcome AND b = '' AND c = '';
    INSERT INTO fleet_counts VALUES (0, 'outcome', new.outcome, '', '', 1)
        ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = devices + 1;
    UPDATE fleet_counts SET devices = devices - 1
        WHERE old.verified IS NOT NULL
          AND shard = 0 AND kind = 'verified' AND a = old.verified AND b = '' AND c = '';
    INSERT INTO fleet_counts SELECT 0, 'verified', new.verified, '', '', 1
        WHERE new.verified IS NOT NULL
        ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = devices + 1;
END;
CREATE TRIGGER devices_uncounted AFTER DELETE ON devices BEGIN
    UPDATE fleet_counts SET devices = devices - 1
        WHERE shard = 0 AND kind = 'outcome' AND a = old.outcome AND b = '' AND c = '';
    UPDATE fleet_counts SET devices = devices - 1
        WHERE old.verified IS NOT NULL
          AND shard = 0 AND kind = 'verified' AND a = old.verified AND b = '' AND c = '';
END;

CREATE TRIGGER device_orgs_counted AFTER INSERT ON device_orgs BEGIN
    INSERT INTO fleet_counts
        VALUES (0, 'org', new.org, new.switch, COALESCE(new.verified, ''), 1)
        ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = devices + 1;
END;
CREATE TRIGGER device_orgs_recounted AFTER UPDATE OF org, switch, verified ON device_orgs
    WHEN old.org IS NOT new.org OR old.switch IS NOT new.switch
      OR old.verified IS NOT new.verified BEGIN
    UPDATE fleet_counts SET devices = devices - 1
        WHERE shard = 0 AND kind = 'org' AND a = old.org AND b = old.switch
          AND c = COALESCE(old.verified, '');
    INSERT INTO fleet_counts
        VALUES (0, 'org', new.org, new.switch, COALESCE(new.verified, ''), 1)
        ON CONFLICT (shard, kind, a, b, c) DO UPDATE SET devices = devices + 1;
END;
CREATE TRIGGER device_orgs_uncounted AFTER DELETE ON device_orgs BEGIN
    UPDATE fleet_counts SET devices = devices - 1
        WHERE shard = 0 AND kind = 'org' AND a = old.org AND b = old.switch
          AND c = COALESCE(old.verified, '');
END;
