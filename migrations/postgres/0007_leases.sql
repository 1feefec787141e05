-- Jobs one instance runs for all when several share a database (pruning old reports): which
-- instance holds each job and until when (Unix milliseconds). Whoever finds a job's lease run
-- out takes it; the others skip that round.
CREATE TABLE leases (
    job    TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);
