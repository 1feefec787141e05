-- Webhooks (#23): admins' endpoints told when a device fails, when one needs action for more
-- than stuck_days, when a wave reaches wave_percent verified working, and once a day at
-- digest_hour (UTC). `secret` signs each delivery (HMAC-SHA256 of the body); it is shown once,
-- when the webhook is made, and is needed here to sign. `events` is a comma list of
-- device-failed, needs-action, wave-reached, digest.
CREATE TABLE webhooks (
    id           TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    events       TEXT NOT NULL,
    stuck_days   BIGINT NOT NULL,
    wave_percent BIGINT NOT NULL,
    digest_hour  BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
-- What each webhook was told, so each event goes out once: a failed device (until it is no
-- longer failed), a device needing action (until it no longer does), a wave reaching its share,
-- a day's digest. `item` and `sub`: device id and user name, or the wave, or the day.
CREATE TABLE webhook_sent (
    webhook_id TEXT NOT NULL,
    event      TEXT NOT NULL,
    item       TEXT NOT NULL,
    sub        TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, event, item, sub)
);
-- Each delivery: its body as signed, how many tries, the last answer, the next try (NULL when
-- delivered or given up).
CREATE TABLE webhook_deliveries (
    id           BIGSERIAL PRIMARY KEY,
    webhook_id   TEXT NOT NULL,
    event        TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL,
    next_try_at  BIGINT,
    last_status  TEXT,
    last_at      BIGINT,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_try_at);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
