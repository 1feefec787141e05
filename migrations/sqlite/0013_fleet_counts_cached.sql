-- Nothing: 0013 on PostgreSQL makes its fleet-count triggers cheaper; SQLite's row triggers (0012) need no change.
SELECT 1;
