-- Reports as received, and the latest state of each device and user, for the dashboard.
-- Times are Unix milliseconds (UTC).
CREATE TABLE reports (
    report_id     TEXT PRIMARY KEY,
    device_id     TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    hostname      TEXT NOT NULL,
    mode          TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    finished_at   BIGINT NOT NULL,
    received_at   BIGINT NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX reports_by_device ON reports (device_id, user_name, finished_at);
CREATE INDEX reports_by_time ON reports (finished_at);

-- Reports received per day (Unix day) and outcome, for the chart: counted as they arrive, so
-- the dashboard never scans the reports.
CREATE TABLE report_days (
    day     BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    reports BIGINT NOT NULL,
    PRIMARY KEY (day, outcome)
);

-- One row per device and user: the latest report wins.
CREATE TABLE devices (
    device_id      TEXT NOT NULL,
    user_name      TEXT NOT NULL,
    upn            TEXT,
    hostname       TEXT NOT NULL,
    os             TEXT NOT NULL,
    agent_version  TEXT NOT NULL,
    mode           TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    reason         TEXT,
    last_report_id TEXT NOT NULL,
    first_seen     BIGINT NOT NULL,
    last_seen      BIGINT NOT NULL,
    reports        BIGINT NOT NULL,
    PRIMARY KEY (device_id, user_name)
);
-- Covering the overview's counts and the lists "needing action" / "failed", newest first.
CREATE INDEX devices_by_outcome ON devices (outcome, last_seen);
CREATE INDEX devices_by_last_seen ON devices (last_seen);

-- Each task's status in the latest report of a device and user.
CREATE TABLE task_status (
    device_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    task_id   TEXT NOT NULL,
    status    TEXT NOT NULL,
    PRIMARY KEY (device_id, user_name, task_id)
);
CREATE INDEX task_status_by_task ON task_status (task_id, status);

-- The items of the latest report that need someone: failed, or needing the user.
CREATE TABLE problems (
    device_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    task_id   TEXT NOT NULL,
    status    TEXT NOT NULL,
    detail    TEXT NOT NULL
);
CREATE INDEX problems_by_device ON problems (device_id, user_name);
CREATE INDEX problems_by_cause ON problems (status, task_id, detail);

-- Who the admins expect to report (user principal names, lower case).
CREATE TABLE expected_users (
    upn TEXT PRIMARY KEY
);

-- Tokens are stored as SHA-256 hashes only.
CREATE TABLE tokens (
    sha256     TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Dashboard sessions, shared by every server instance.
CREATE TABLE sessions (
    sha256     TEXT PRIMARY KEY,
    csrf       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
