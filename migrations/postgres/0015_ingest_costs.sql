-- Two indexes no statement reads any more, dropped: every report wrote entries into them.
--   task_status_by_task (task_id, status): the task counts are kept in task_counts, and a
--   group's tasks are read through its devices (task_status's own key).
--   problems_by_cause (status, task_id, detail): the failure causes are kept in fleet_counts
--   (0014), and a group's are read through its devices (problems_by_device).
-- Both keys have few distinct values, so each report's entries went into the middle of the
-- index at a handful of places, where a full page splits with its neighbours: on SQLite they
-- were a quarter of the pages a batch of reports wrote (docs/BENCHMARKS.md, 2026-12-01).
DROP INDEX task_status_by_task;
DROP INDEX problems_by_cause;

-- A report's JSON (about 3 KB) passes the size at which PostgreSQL compresses a value; its
-- default method (pglz) made inserting a report take 40 us a row where LZ4 takes 24
-- (pg_stat_statements, docs/BENCHMARKS.md 2026-12-01), for about the same size. Only
-- where the server was built with it (PostgreSQL 14 and later, most packages); otherwise
-- nothing changes. Reports stored before keep their compression.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        EXECUTE 'ALTER TABLE reports ALTER COLUMN body SET COMPRESSION lz4';
    END IF;
END $$;
