-- Rollout groups and waves (#23). A device's group is, first found: its agent's managed setting
-- `report.group` (report_group), the label of the enrollment token it reports with, the group of
-- the expected user it matches (expected_users.grp, from the upload's group column). The
-- writer keeps `group_name` up to date per report, an upload of expected users for every device,
-- so per-group counts and filters read one indexed column.
ALTER TABLE expected_users ADD COLUMN grp TEXT;
CREATE INDEX expected_users_by_email ON expected_users (email);
CREATE INDEX expected_users_by_account ON expected_users (account);
CREATE INDEX expected_users_by_group ON expected_users (grp);
ALTER TABLE devices ADD COLUMN report_group TEXT;
ALTER TABLE devices ADD COLUMN group_name TEXT;
-- Covering each group's count per outcome and verification (the progress of every group, and of
-- the waves on the overview), and the device list of one group.
CREATE INDEX devices_by_group ON devices (group_name, outcome, verified);
-- Since when the device has its outcome (Unix milliseconds): "needs action for more than N
-- days" is measured from here.
ALTER TABLE devices ADD COLUMN outcome_since BIGINT;
UPDATE devices SET outcome_since = last_seen;
-- A group given a start date is a wave: open from that day (Unix milliseconds, UTC midnight).
CREATE TABLE waves (
    name      TEXT PRIMARY KEY,
    starts_at BIGINT NOT NULL,
    set_by    TEXT NOT NULL,
    set_at    BIGINT NOT NULL
);
