//! API keys and idempotency records: the two things the API keeps outside
//! the event log, in tables of the log's own database with its durable
//! commits (see the `create_api_access` migration), not with the read
//! models: neither can be rebuilt from the log.
//!
//! A key's token is shown once, when it is issued; only its SHA-256 digest
//! is stored. Tokens are 256 random bits, so a fast digest is enough: there
//! is nothing to guess from it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aftersales_domain::Role;
use aftersales_store::BesidePool;
use chrono::{Duration, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::error::ApiError;

/// How long a token's digest is remembered as having been valid, beyond
/// the time it is trusted: see [`AccessDb::known`].
const KNOWN_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// How long an authenticated key is trusted without asking the database
/// again: a key revoked by another process stops working within this time
/// (at once when revoked through this one).
pub(crate) const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The tables of keys and idempotency records.
#[derive(Debug, Clone)]
pub struct AccessDb {
    pool: BesidePool,
    /// Token digest → the key and when it was read.
    recent_keys: Arc<Mutex<HashMap<String, (KeyInfo, Instant)>>>,
    /// A claimed Idempotency-Key without an answer this old belongs to a
    /// request that can no longer be running: its process died.
    abandoned_after: std::time::Duration,
}

/// Runs `$body` with `$pool` bound to the backend's own pool.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        aftersales_store::on_beside_pool!(&$db.pool, $pool => $body)
    };
}

impl AccessDb {
    /// Connects to the tables in the database of the log at `log_url`,
    /// which the store has opened (and migrated) before.
    pub async fn connect(log_url: &str, unsafe_fast: bool) -> Result<Self, ApiError> {
        let pool = BesidePool::connect(log_url, unsafe_fast, 4).await?;
        Ok(Self {
            pool,
            recent_keys: Arc::default(),
            abandoned_after: std::time::Duration::from_secs(30),
        })
    }
}

impl AccessDb {
    /// Claims older than `after` are taken over by a retry. Every request
    /// is cut off at the API's timeout, so just past it no live request can
    /// still hold its claim.
    pub fn abandoning_claims_after(mut self, after: std::time::Duration) -> Self {
        self.abandoned_after = after;
        self
    }
}

/// A key as `keys list` shows it: never its token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyInfo {
    pub id: String,
    /// The actor the key acts as: a person's staff id or a system's name.
    pub name: String,
    pub role: Role,
    /// Case categories the key is limited to; `None`: all.
    pub categories: Option<Vec<String>>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A newly issued key with its token, shown once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub info: KeyInfo,
    pub token: String,
}

/// Prefix of every token, so that a leaked one is recognisable in a scan.
const TOKEN_PREFIX: &str = "aftersales_";

fn digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key_info(row: &impl KeyRow) -> Result<KeyInfo, ApiError> {
    let role: String = row.text("role")?;
    let categories: Option<String> = row.opt_text("categories")?;
    Ok(KeyInfo {
        id: row.text("id")?,
        name: row.text("name")?,
        role: role
            .parse()
            .map_err(|e: String| ApiError::Internal(format!("stored key role: {e}")))?,
        categories: categories
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(|e| ApiError::Internal(format!("stored key categories: {e}")))?,
        created_at: row.text("created_at")?,
        revoked_at: row.opt_text("revoked_at")?,
    })
}

/// Reads a column the same way from either backend's rows.
trait KeyRow {
    fn text(&self, column: &str) -> Result<String, ApiError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, ApiError>;
}

macro_rules! key_row {
    ($row:ty) => {
        impl KeyRow for $row {
            fn text(&self, column: &str) -> Result<String, ApiError> {
                Ok(self.try_get(column)?)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, ApiError> {
                Ok(self.try_get(column)?)
            }
        }
    };
}
key_row!(sqlx::sqlite::SqliteRow);
key_row!(sqlx::postgres::PgRow);

const KEY_COLUMNS: &str = "id, name, role, categories, created_at, revoked_at";

/// Whether a key's name may be given to a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// A name no key ever had.
    New,
    /// A name whose keys were all revoked, given again to the same person
    /// or system (a rotated key), as the operator says.
    Reissue,
}

impl AccessDb {
    /// Issues a key acting as `name` in `role`. A key's name is who it acts
    /// as: the approver-is-not-the-requester rule, access grants and
    /// assignment compare it, so one name is never held by two live keys,
    /// and a name once issued goes to a new key only as a reissue.
    pub async fn create_key(
        &self,
        name: &str,
        role: Role,
        categories: Option<Vec<String>>,
        naming: Naming,
    ) -> Result<IssuedKey, ApiError> {
        if name.trim().is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "name",
                "a key's name is 1 to 128 printable characters",
            ));
        }
        let holders: Vec<Option<String>> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT revoked_at FROM api_keys WHERE name = $1")
                .bind(name)
                .fetch_all(pool)
                .await?
        });
        if holders.iter().any(Option::is_none) {
            return Err(ApiError::Conflict(format!(
                "a live key is named {name:?}: names are unique among live keys; revoke it first"
            )));
        }
        if !holders.is_empty() && naming == Naming::New {
            return Err(ApiError::Conflict(format!(
                "{name:?} was the name of a revoked key: it is given again only to the same \
                 person or system, as a reissue"
            )));
        }
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let token = format!("{TOKEN_PREFIX}{}", hex(&secret));
        let info = KeyInfo {
            id: uuid::Uuid::now_v7().simple().to_string()[20..].to_owned(),
            name: name.to_owned(),
            role,
            categories,
            created_at: Utc::now().to_rfc3339(),
            revoked_at: None,
        };
        let categories = info
            .categories
            .as_ref()
            .map(|c| serde_json::to_string(c).unwrap_or_default());
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_keys (id, name, role, categories, token_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&info.id)
            .bind(&info.name)
            .bind(info.role.as_str())
            .bind(&categories)
            .bind(digest(&token))
            .bind(&info.created_at)
            .execute(pool)
            .await?;
        });
        Ok(IssuedKey { info, token })
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, ApiError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id");
        with_pool!(self, pool => {
            sqlx::query(&sql).fetch_all(pool).await?.iter().map(key_info).collect()
        })
    }

    /// Revokes a key at once; returns whether it was active.
    pub async fn revoke_key(&self, id: &str) -> Result<bool, ApiError> {
        let now = Utc::now().to_rfc3339();
        let revoked = with_pool!(self, pool => {
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(&now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        self.recent_keys().retain(|_, (key, _)| key.id != id);
        Ok(revoked == 1)
    }

    fn recent_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, (KeyInfo, Instant)>> {
        self.recent_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `token` belonged to an active key when last looked up, in
    /// the last minutes: its holder is not one of those guessing tokens
    /// from the same address, and is let through to be checked again.
    pub(crate) fn known(&self, token: &str) -> bool {
        self.recent_keys().contains_key(&digest(token))
    }

    /// The active key a bearer token belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<Option<KeyInfo>, ApiError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 256 {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE token_hash = $1 AND revoked_at IS NULL"
        );
        let hash = digest(token);
        if let Some((key, read_at)) = self.recent_keys().get(&hash) {
            if read_at.elapsed() < KEY_CACHE_TTL {
                return Ok(Some(key.clone()));
            }
        }
        let key = with_pool!(self, pool => {
            sqlx::query(&sql).bind(&hash).fetch_optional(pool).await?.as_ref().map(key_info).transpose()?
        });
        let mut recent = self.recent_keys();
        // Unknown tokens are not remembered, so guessing cannot fill memory.
        recent.retain(|_, (_, read_at)| read_at.elapsed() < KNOWN_FOR);
        if let Some(key) = &key {
            recent.insert(hash, (key.clone(), Instant::now()));
        }
        Ok(key)
    }

    /// The role of the live key acting as `name`, if there is one (names
    /// are unique among live keys).
    pub async fn live_role(&self, name: &str) -> Result<Option<Role>, ApiError> {
        let role: Option<String> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT role FROM api_keys WHERE name = $1 AND revoked_at IS NULL")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(role.and_then(|role| role.parse().ok()))
    }

    /// Whether the key with this id is still live (not revoked), read from
    /// the database: long-lived answers check it while they run.
    pub async fn is_live(&self, id: &str) -> Result<bool, ApiError> {
        let live: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT 1 FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(live.is_some())
    }

    /// Claims an idempotency key for a request, or tells what became of the
    /// first request that claimed it.
    pub(crate) async fn claim(
        &self,
        key_id: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<Claim, ApiError> {
        let now = Utc::now();
        // A claim without an answer this old belongs to a request that died
        // with its process: the retry takes it over. Its command id is the
        // same, so events the first attempt appended are not appended again.
        let abandoned_after = Duration::from_std(self.abandoned_after).unwrap_or(Duration::days(1));
        let abandoned = (now - abandoned_after).to_rfc3339();
        with_pool!(self, pool => {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (api_key_id, key, request_hash, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(key_id)
            .bind(key)
            .bind(request_hash)
            .bind(now.to_rfc3339())
            .execute(pool)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(Claim::Fresh);
            }
            let row = sqlx::query(
                "SELECT request_hash, status, headers, body, created_at FROM idempotency_keys \
                 WHERE api_key_id = $1 AND key = $2",
            )
            .bind(key_id)
            .bind(key)
            .fetch_one(pool)
            .await?;
            let stored_hash: String = row.try_get("request_hash")?;
            if stored_hash != request_hash {
                return Ok(Claim::Mismatch);
            }
            let status: Option<i32> = row.try_get("status")?;
            match status {
                Some(status) => Ok(Claim::Replay(StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    headers: row.try_get::<Option<String>, _>("headers")?.unwrap_or_default(),
                    body: row.try_get::<Option<Vec<u8>>, _>("body")?.unwrap_or_default(),
                })),
                None => {
                    let taken = sqlx::query(
                        "UPDATE idempotency_keys SET created_at = $3 WHERE api_key_id = $1 \
                         AND key = $2 AND status IS NULL AND created_at < $4",
                    )
                    .bind(key_id)
                    .bind(key)
                    .bind(now.to_rfc3339())
                    .bind(&abandoned)
                    .execute(pool)
                    .await?
                    .rows_affected();
                    Ok(if taken == 1 { Claim::Fresh } else { Claim::InFlight })
                }
            }
        })
    }

    /// Records the answer to a claimed key.
    pub(crate) async fn answer(
        &self,
        key_id: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), ApiError> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE idempotency_keys SET status = $3, headers = $4, body = $5 \
                 WHERE api_key_id = $1 AND key = $2",
            )
            .bind(key_id)
            .bind(key)
            .bind(i32::from(response.status))
            .bind(&response.headers)
            .bind(&response.body)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Gives up a claim whose request failed for a passing reason (the
    /// database was unavailable), so that a retry runs it again.
    pub(crate) async fn release(&self, key_id: &str, key: &str) -> Result<(), ApiError> {
        with_pool!(self, pool => {
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key = $2 AND status IS NULL",
            )
            .bind(key_id)
            .bind(key)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

/// What became of an idempotency key.
#[derive(Debug)]
pub(crate) enum Claim {
    /// This request is the first: handle it.
    Fresh,
    /// The first request was answered: answer the same.
    Replay(StoredResponse),
    /// The first request is still being handled.
    InFlight,
    /// The key was used with another request.
    Mismatch,
}

/// A response kept for retries: status, the headers that matter (JSON
/// object of name → value) and the body.
#[derive(Debug, Clone)]
pub(crate) struct StoredResponse {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

/// Hashes what identifies a request: its method, path and body.
pub(crate) fn request_hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hex(&hasher.finalize())
}
