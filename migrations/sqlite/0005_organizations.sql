-- Per device and user, each organization of its reports: whether it switched to its new tenant
-- (switched, waiting, not-checked) and the verify task's result for it (ok, needs-user, failed,
-- skipped; NULL until a run verified it). A later report that does not verify keeps the last
-- verification; `report_id` is the latest report naming the organization, so organizations a
-- device no longer reports are dropped.
CREATE TABLE device_orgs (
    device_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    org TEXT NOT NULL,
    switch TEXT NOT NULL,
    verified TEXT,
    report_id TEXT NOT NULL,
    PRIMARY KEY (device_id, user_name, org)
);
CREATE INDEX device_orgs_by_org ON device_orgs (org, switch, verified);
-- The device's verification over its organizations: ok only when every verified one is ok.
ALTER TABLE devices ADD COLUMN verified TEXT;
CREATE INDEX devices_by_verified ON devices (verified, last_seen);
