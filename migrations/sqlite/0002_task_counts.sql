-- Devices per task and status in their latest report, kept as reports arrive so the overview
-- never groups every device's task statuses (the heaviest query at 100,000 devices).
CREATE TABLE task_counts (
    task_id TEXT NOT NULL,
    status  TEXT NOT NULL,
    devices BIGINT NOT NULL,
    PRIMARY KEY (task_id, status)
);
INSERT INTO task_counts (task_id, status, devices)
    SELECT task_id, status, COUNT(*) FROM task_status GROUP BY task_id, status;
