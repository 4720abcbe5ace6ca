//! The webhook tables of the log's database (see the `create_webhooks`
//! migration): the signing secrets, the delivery log, and each
//! subscription's delivery checkpoint in `subscription_checkpoints`. None
//! of them can be rebuilt from the log, so they live beside it, with its
//! durable commits, not with the read models.

use aftersales_store::{on_beside_pool, BesidePool};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use crate::error::WebhookError;
use crate::signing::Secret;

#[derive(Debug, Clone)]
pub struct WebhookDb {
    pool: BesidePool,
}

/// One attempt to deliver one event (投递记录).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Delivery {
    /// Increases with every attempt recorded: the cursor of the log.
    pub id: i64,
    /// The `webhook-id` the message carried.
    pub message_id: String,
    /// The event's position in the log.
    pub position: u64,
    pub event_type: String,
    /// 1 for the first attempt at this event.
    pub attempt: u32,
    /// `delivered`, `failed` or `gone` (410: the subscription was disabled).
    pub outcome: String,
    /// The receiver's status code, when it answered.
    pub http_status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    pub latency_ms: f64,
    pub at: DateTime<Utc>,
}

impl WebhookDb {
    /// Connects to the tables in the database of the log at `log_url`,
    /// which the store has opened (and migrated) before.
    pub async fn connect(log_url: &str, unsafe_fast: bool) -> Result<Self, WebhookError> {
        let pool = BesidePool::connect(log_url, unsafe_fast, 4).await?;
        Ok(Self { pool })
    }

    pub(crate) async fn put_secret(
        &self,
        webhook: Uuid,
        secret_id: Uuid,
        secret: &Secret,
    ) -> Result<(), WebhookError> {
        let sql = "INSERT INTO webhook_secrets (webhook_id, secret_id, secret, created_at) \
                   VALUES ($1, $2, $3, $4)";
        let (webhook, secret_id) = (webhook.to_string(), secret_id.to_string());
        let now = Utc::now().to_rfc3339();
        on_beside_pool!(&self.pool, pool => {
            sqlx::query(sql)
                .bind(&webhook)
                .bind(&secret_id)
                .bind(secret.expose())
                .bind(&now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Deletes a secret for good.
    pub(crate) async fn delete_secret(
        &self,
        webhook: Uuid,
        secret_id: Uuid,
    ) -> Result<(), WebhookError> {
        let sql = "DELETE FROM webhook_secrets WHERE webhook_id = $1 AND secret_id = $2";
        let (webhook, secret_id) = (webhook.to_string(), secret_id.to_string());
        on_beside_pool!(&self.pool, pool => {
            sqlx::query(sql)
                .bind(&webhook)
                .bind(&secret_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The secrets named, in the order named; a secret whose row is gone
    /// (removed meanwhile) is left out.
    pub(crate) async fn secrets(
        &self,
        webhook: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<Secret>, WebhookError> {
        let sql = "SELECT secret_id, secret FROM webhook_secrets WHERE webhook_id = $1";
        let rows = on_beside_pool!(&self.pool, pool => {
            sqlx::query(sql)
                .bind(webhook.to_string())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<Vec<(String, String)>, sqlx::Error>>()?
        });
        Ok(ids
            .iter()
            .filter_map(|id| {
                let text = rows.iter().find(|(found, _)| *found == id.to_string())?;
                Secret::parse(&text.1)
            })
            .collect())
    }

    /// The delivery checkpoint saved under `name`.
    pub(crate) async fn checkpoint(&self, name: &str) -> Result<Option<u64>, WebhookError> {
        let sql = "SELECT position FROM subscription_checkpoints WHERE subscriber = $1";
        let position: Option<i64> = on_beside_pool!(&self.pool, pool => {
            sqlx::query_scalar(sql)
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(position.map(|p| p.max(0) as u64))
    }

    /// Records attempts and, with them, moves the checkpoint `name` to
    /// `delivered` (everything up to it has been delivered or passed over)
    /// in one transaction.
    pub(crate) async fn record(
        &self,
        webhook: Uuid,
        name: &str,
        delivered: Option<u64>,
        attempts: &[Delivery],
    ) -> Result<(), WebhookError> {
        let webhook = webhook.to_string();
        macro_rules! record {
            ($db:ty, $pool:expr, $checkpoint:expr) => {{
                let mut tx = $pool.begin().await?;
                // Many rows a statement: a commit of a thousand attempts
                // takes a few statements, not a thousand.
                for chunk in attempts.chunks(100) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO webhook_deliveries (webhook_id, message_id, position, \
                         event_type, attempt, outcome, http_status, error, latency_ms, at) ",
                    );
                    insert.push_values(chunk, |mut row, attempt| {
                        row.push_bind(webhook.clone())
                            .push_bind(attempt.message_id.clone())
                            .push_bind(attempt.position as i64)
                            .push_bind(attempt.event_type.clone())
                            .push_bind(i64::from(attempt.attempt))
                            .push_bind(attempt.outcome.clone())
                            .push_bind(attempt.http_status.map(i64::from))
                            .push_bind(attempt.error.clone())
                            .push_bind(attempt.latency_ms)
                            .push_bind(attempt.at.timestamp_micros());
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                if let Some(position) = delivered {
                    sqlx::query($checkpoint)
                        .bind(name)
                        .bind(position as i64)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }};
        }
        match &self.pool {
            BesidePool::Sqlite(pool) => record!(
                sqlx::Sqlite,
                pool,
                "INSERT INTO subscription_checkpoints (subscriber, position, updated_at) \
                 VALUES ($1, $2, CAST(unixepoch('subsec') * 1000000 AS INTEGER)) \
                 ON CONFLICT (subscriber) DO UPDATE SET position = excluded.position, \
                 updated_at = excluded.updated_at"
            ),
            BesidePool::Postgres(pool) => record!(
                sqlx::Postgres,
                pool,
                "INSERT INTO subscription_checkpoints (subscriber, position, updated_at) \
                 VALUES ($1, $2, now()) \
                 ON CONFLICT (subscriber) DO UPDATE SET position = excluded.position, \
                 updated_at = excluded.updated_at"
            ),
        }
        Ok(())
    }

    /// A subscription's attempts, newest first, before the cursor `before`.
    pub async fn deliveries(
        &self,
        webhook: Uuid,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Delivery>, WebhookError> {
        let sql = "SELECT id, message_id, position, event_type, attempt, outcome, http_status, \
                   error, latency_ms, at FROM webhook_deliveries \
                   WHERE webhook_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
        let before = before.unwrap_or(i64::MAX);
        macro_rules! fetch {
            ($pool:expr) => {
                sqlx::query(sql)
                    .bind(webhook.to_string())
                    .bind(before)
                    .bind(limit as i64)
                    .fetch_all($pool)
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(Delivery {
                            id: row.try_get("id")?,
                            message_id: row.try_get("message_id")?,
                            position: row.try_get::<i64, _>("position")?.max(0) as u64,
                            event_type: row.try_get("event_type")?,
                            attempt: row
                                .try_get::<i64, _>("attempt")?
                                .clamp(0, i64::from(u32::MAX)) as u32,
                            outcome: row.try_get("outcome")?,
                            http_status: row
                                .try_get::<Option<i64>, _>("http_status")?
                                .and_then(|s| u16::try_from(s).ok()),
                            error: row.try_get("error")?,
                            latency_ms: row.try_get("latency_ms")?,
                            at: DateTime::from_timestamp_micros(row.try_get("at")?)
                                .unwrap_or_default(),
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            };
        }
        Ok(on_beside_pool!(&self.pool, pool => fetch!(pool)))
    }

    /// Forgets attempts recorded before `before`.
    pub(crate) async fn prune(&self, before: DateTime<Utc>) -> Result<u64, WebhookError> {
        let sql = "DELETE FROM webhook_deliveries WHERE at < $1";
        let before = before.timestamp_micros();
        let done = on_beside_pool!(&self.pool, pool => {
            sqlx::query(sql)
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }

    /// On PostgreSQL, where several service processes may share the log:
    /// the session that holds the subscription's advisory lock, if this
    /// process got it. It dispatches the subscription for as long as it
    /// keeps the connection; `Ok(None)` means another process does. On
    /// SQLite one process serves a log, and this always succeeds.
    pub(crate) async fn lead(&self, webhook: Uuid) -> Result<Option<Leadership>, WebhookError> {
        let BesidePool::Postgres(pool) = &self.pool else {
            return Ok(Some(Leadership(None)));
        };
        let mut connection = pool.acquire().await?;
        let key = i64::from_be_bytes(webhook.as_bytes()[..8].try_into().unwrap_or_default());
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key ^ LOCK_SALT)
            .fetch_one(&mut *connection)
            .await?;
        // The lock lives as long as the session: the connection leaves the
        // pool, and closing it (when the leadership is dropped) releases it.
        Ok(locked.then(|| Leadership(Some(connection.detach()))))
    }
}

/// Keeps webhook locks apart from the store's and the projections' ("webhooks").
const LOCK_SALT: i64 = 0x7765_6268_6f6f_6b73;

/// Held while this process dispatches a subscription.
#[derive(Debug)]
pub(crate) struct Leadership(#[allow(dead_code)] Option<sqlx::PgConnection>);
