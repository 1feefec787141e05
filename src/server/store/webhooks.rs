//! Webhooks as stored: the admins' endpoints, what each was told (so an event goes out once),
//! and the deliveries with their tries. Queuing a delivery and noting what it tells happen in
//! one transaction, so a crash between them neither loses nor repeats a notice.

use sqlx::Row as _;

use super::{Store, StoreError};

/// One webhook. `secret` signs deliveries; it leaves the server only once, when made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    pub secret: String,
    /// `device-failed`, `needs-action`, `wave-reached`, `digest`.
    pub events: Vec<String>,
    pub stuck_days: i64,
    pub wave_percent: i64,
    pub digest_hour: i64,
    pub created_by: String,
    pub created_at: i64,
}

/// A device a notice names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NoticeDevice {
    pub device_id: String,
    pub user_name: String,
    pub hostname: String,
    pub upn: Option<String>,
    pub group: Option<String>,
    pub reason: Option<String>,
    /// Since when it has its outcome (Unix milliseconds).
    pub since: i64,
}

/// A delivery, as the page lists it and the sender needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: String,
    pub event: String,
    pub body: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_try_at: Option<i64>,
    pub last_status: Option<String>,
    pub last_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event, body, created_at, attempts, next_try_at, last_status, last_at, delivered_at";

fn delivery(r: &sqlx::any::AnyRow) -> Delivery {
    Delivery {
        id: r.get(0),
        webhook_id: r.get(1),
        event: r.get(2),
        body: r.get(3),
        created_at: r.get(4),
        attempts: r.get(5),
        next_try_at: r.get(6),
        last_status: r.get(7),
        last_at: r.get(8),
        delivered_at: r.get(9),
    }
}

impl Store {
    pub async fn add_webhook(&self, hook: &WebhookRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (id, url, secret, events, stuck_days, wave_percent, digest_hour, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&hook.id)
        .bind(&hook.url)
        .bind(&hook.secret)
        .bind(hook.events.join(","))
        .bind(hook.stuck_days)
        .bind(hook.wave_percent)
        .bind(hook.digest_hour)
        .bind(&hook.created_by)
        .bind(hook.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every webhook, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        Ok(sqlx::query(
            "SELECT id, url, secret, events, stuck_days, wave_percent, digest_hour, created_by, created_at
             FROM webhooks ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| WebhookRow {
            id: r.get(0),
            url: r.get(1),
            secret: r.get(2),
            events: r
                .get::<String, _>(3)
                .split(',')
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect(),
            stuck_days: r.get(4),
            wave_percent: r.get(5),
            digest_hour: r.get(6),
            created_by: r.get(7),
            created_at: r.get(8),
        })
        .collect())
    }

    /// Deletes a webhook with what it was told and its deliveries; false when there was none.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        for table in ["webhook_sent", "webhook_deliveries"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE webhook_id = $1"
            )))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let gone = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// Devices with `outcome` since `since_before` or earlier that webhook `id` has not been
    /// told about under `event`, longest first, at most `limit`.
    pub async fn untold_devices(
        &self,
        id: &str,
        event: &str,
        outcome: &str,
        since_before: i64,
        limit: i64,
    ) -> Result<Vec<NoticeDevice>, StoreError> {
        Ok(sqlx::query(
            "SELECT d.device_id, d.user_name, d.hostname, d.upn, d.group_name, d.reason,
                    COALESCE(d.outcome_since, d.last_seen)
             FROM devices d
             WHERE d.outcome = $1 AND COALESCE(d.outcome_since, d.last_seen) <= $2
               AND NOT EXISTS (SELECT 1 FROM webhook_sent s
                               WHERE s.webhook_id = $3 AND s.event = $4
                                 AND s.item = d.device_id AND s.sub = d.user_name)
             ORDER BY COALESCE(d.outcome_since, d.last_seen), d.device_id, d.user_name LIMIT $5",
        )
        .bind(outcome)
        .bind(since_before)
        .bind(id)
        .bind(event)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| NoticeDevice {
            device_id: r.get(0),
            user_name: r.get(1),
            hostname: r.get(2),
            upn: r.get(3),
            group: r.get(4),
            reason: r.get(5),
            since: r.get(6),
        })
        .collect())
    }

    /// Forgets what webhook `id` was told under `event` about devices that no longer have
    /// `outcome`: when one has it again, it is told again.
    pub async fn forget_resolved(
        &self,
        id: &str,
        event: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM webhook_sent WHERE webhook_id = $1 AND event = $2
               AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.device_id = webhook_sent.item
                               AND d.user_name = webhook_sent.sub AND d.outcome = $3)",
        )
        .bind(id)
        .bind(event)
        .bind(outcome)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// True when webhook `id` was told `event` about `item` (a wave, a day).
    pub async fn was_told(&self, id: &str, event: &str, item: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "SELECT 1 FROM webhook_sent WHERE webhook_id = $1 AND event = $2 AND item = $3 AND sub = ''",
        )
        .bind(id)
        .bind(event)
        .bind(item)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// Queues a delivery of `body` to webhook `id`, due at `now`, and notes the `items`
    /// (`(item, sub)`) it tells about, in one transaction.
    pub async fn queue_notice(
        &self,
        id: &str,
        event: &str,
        body: &str,
        items: &[(String, String)],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event, body, created_at, attempts, next_try_at)
             VALUES ($1, $2, $3, $4, 0, $4)",
        )
        .bind(id)
        .bind(event)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (item, sub) in items {
            sqlx::query(
                "INSERT INTO webhook_sent (webhook_id, event, item, sub, at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (webhook_id, event, item, sub) DO NOTHING",
            )
            .bind(id)
            .bind(event)
            .bind(item)
            .bind(sub)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deliveries due at `now` of webhooks that still exist (one deleted while a round was
    /// under way may have had one queued), oldest first, at most `limit`.
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
             WHERE next_try_at IS NOT NULL AND next_try_at <= $1
               AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = webhook_deliveries.webhook_id)
             ORDER BY next_try_at, id LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(delivery)
        .collect())
    }

    /// Records a try of delivery `id` at `now`: its answer, and the next try (`None`:
    /// delivered, or given up).
    pub async fn record_try(
        &self,
        id: i64,
        status: &str,
        now: i64,
        delivered: bool,
        next_try_at: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $1, last_at = $2,
               delivered_at = CASE WHEN $3 = 1 THEN $2 ELSE NULL END, next_try_at = $4
             WHERE id = $5",
        )
        .bind(status)
        .bind(now)
        .bind(i64::from(delivered))
        .bind(next_try_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets deliveries that ended (delivered or given up) before `before` (Unix
    /// milliseconds); returns how many.
    pub async fn prune_deliveries(&self, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM webhook_deliveries WHERE next_try_at IS NULL AND created_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// The latest deliveries (of one webhook, or all), newest first.
    pub async fn deliveries(
        &self,
        webhook: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let query = match webhook {
            Some(id) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2"
            )))
            .bind(id.to_string()),
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries ORDER BY id DESC LIMIT $1"
            ))),
        };
        Ok(query
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(delivery)
            .collect())
    }
}
