//! The shop's policy: the one in force (or in force at a past time), its
//! history, and a new one put in force by an administrator.

use aftersales_commands::policy::{self as recorded, PolicyStoreError, RecordedPolicy};
use aftersales_domain::{Policy, Role};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::json;
use crate::reads::query;
use crate::state::AppState;

/// Who reads the policy: those who answer for the rules and those who check them.
pub(crate) const POLICY_READERS: &[Role] = &[Role::Supervisor, Role::Auditor, Role::Admin];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/policy", get(in_force).put(put_in_force))
        .route("/v1/policy/history", get(history))
}

/// A policy as the log recorded it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PolicyRecord {
    /// SHA-256 of the policy: the `policy` every event decided under it names
    /// in its metadata.
    pub digest: String,
    /// When it was put in force.
    pub since: DateTime<Utc>,
    /// Its `PolicyChanged` event's position in the log.
    pub position: u64,
    /// Who put it in force.
    pub put_by: Option<String>,
    /// The digest of the policy it replaced.
    pub previous: Option<String>,
    pub policy: Policy,
}

impl From<RecordedPolicy> for PolicyRecord {
    fn from(p: RecordedPolicy) -> Self {
        Self {
            digest: p.changed.digest,
            since: p.recorded_at,
            position: p.position,
            put_by: p.actor_id,
            previous: p.changed.previous,
            policy: p.changed.policy,
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PolicyHistory {
    /// Oldest first.
    pub policies: Vec<PolicyRecord>,
}

/// What putting a policy in force did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PolicyApplied {
    pub digest: String,
    /// Where its `PolicyChanged` was recorded; absent when it was already in
    /// force and nothing was recorded.
    pub position: Option<u64>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyQuery {
    /// The policy in force at this time (RFC 3339) instead of now.
    pub as_of: Option<DateTime<Utc>>,
}

async fn in_force(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<PolicyRecord>, ApiError> {
    caller.require(POLICY_READERS, "read the policy")?;
    let params: PolicyQuery = query(raw)?;
    let store = state.inner.store.as_ref();
    let found = match params.as_of {
        Some(at) => recorded::as_of(store, at).await,
        None => recorded::history(store)
            .await
            .and_then(|mut all| all.pop().ok_or(PolicyStoreError::NoPolicy)),
    };
    Ok(Json(found?.into()))
}

async fn history(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PolicyHistory>, ApiError> {
    caller.require(POLICY_READERS, "read the policy")?;
    let policies = recorded::history(state.inner.store.as_ref()).await?;
    Ok(Json(PolicyHistory {
        policies: policies.into_iter().map(Into::into).collect(),
    }))
}

/// An administrator puts a whole policy in force; the handlers of this
/// process decide under it at once, other processes within seconds.
async fn put_in_force(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PolicyApplied>, ApiError> {
    caller.require(&[Role::Admin], "put a policy in force")?;
    let bytes = json::read_body(body, state.inner.limits.body_bytes).await?;
    let policy: Policy = json::decode(json::parse(&headers, &bytes)?, "")?;
    let store = state.inner.store.as_ref();
    let applied = recorded::apply(store, policy, &caller.actor()).await?;
    state.inner.policies.refresh(store).await?;
    Ok(Json(PolicyApplied {
        digest: applied.digest,
        position: applied.position,
    }))
}

impl From<PolicyStoreError> for ApiError {
    fn from(error: PolicyStoreError) -> Self {
        match error {
            PolicyStoreError::Invalid(e) => ApiError::invalid(e.key, e.reason),
            PolicyStoreError::NoPolicy => ApiError::NotFound(error.to_string()),
            PolicyStoreError::Concurrent => ApiError::Conflict(error.to_string()),
            PolicyStoreError::Store(e) => e.into(),
            PolicyStoreError::Undecodable { .. } | PolicyStoreError::Encode(_) => {
                ApiError::Internal(error.to_string())
            }
        }
    }
}
