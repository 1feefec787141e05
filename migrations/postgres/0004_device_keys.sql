-- Per-device keys (trust on first use): the key the server gave a device and user with their
-- first report; later reports must be signed with it. Reports refused for a missing or wrong
-- signature are kept for the admins to see (not the report itself: only who, when and why).
CREATE TABLE device_keys (
    device_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    secret TEXT NOT NULL,
    -- The report that enrolled the device: sent again (its answer was lost), it gets the key again.
    first_report TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, user_name)
);
CREATE TABLE refused_reports (
    device_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    hostname TEXT NOT NULL,
    refused_at BIGINT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX refused_reports_by_time ON refused_reports (refused_at);
