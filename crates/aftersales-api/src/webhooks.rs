//! Webhook subscriptions over the API: made, read, changed, paused,
//! replayed and deleted by an administrator, or by an integration for its
//! own; their secrets (shown once), their delivery log and the record of
//! their changes.

use aftersales_domain::webhook::{Webhook, WebhookFilter, WebhookState};
use aftersales_domain::Role;
use aftersales_webhooks::{Change, Delivery, NewSubscription, Recorded, WebhookError};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::commands::parse_id;
use crate::error::ApiError;
use crate::json;
use crate::reads::{query, text};
use crate::state::AppState;

/// Who manages subscriptions: administrators all of them, integrations their own.
pub(crate) const MANAGERS: &[Role] = &[Role::Admin, Role::Integration];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks", post(create).get(list))
        .route("/v1/webhooks/{id}", get(read).patch(change).delete(remove))
        .route("/v1/webhooks/{id}/secrets", post(add_secret))
        .route(
            "/v1/webhooks/{id}/secrets/{secret_id}",
            delete(remove_secret),
        )
        .route("/v1/webhooks/{id}/replay", post(replay))
        .route("/v1/webhooks/{id}/deliveries", get(deliveries))
        .route("/v1/webhooks/{id}/history", get(history))
}

/// A new subscription.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where messages are POSTed: http:// or https://, on a public address
    /// unless the service allows private ones.
    pub url: String,
    /// Which events are sent; empty lists send every event of the shop's
    /// business (cases, unpaid orders, sampling audits, repairs, access grants).
    #[serde(default)]
    pub filter: WebhookFilter,
    pub description: Option<String>,
    /// Send the events after this log position too; by default only those
    /// recorded from now on.
    pub start_after: Option<u64>,
}

/// A change; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeWebhook {
    pub url: Option<String>,
    pub filter: Option<WebhookFilter>,
    pub description: Option<String>,
    /// `true` pauses, `false` resumes (also a disabled subscription).
    pub paused: Option<bool>,
}

/// Where a replay starts: a log position, or a time.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayWebhook {
    /// Resend every matching event at or after this position.
    pub from_position: Option<u64>,
    /// Resend every matching event recorded at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Attempts older than this `id` of the previous page.
    #[serde(default, deserialize_with = "text::option")]
    pub before: Option<i64>,
    /// At most this many, newest first (default 100).
    #[serde(default, deserialize_with = "text::option")]
    pub limit: Option<usize>,
}

/// A subscription as the API shows it: never its secrets.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub filter: WebhookFilter,
    pub description: Option<String>,
    /// `active`, `paused`, `disabled` or `deleted`.
    pub state: String,
    /// Why it was disabled, when it was.
    pub disabled_reason: Option<String>,
    /// The id of the API key that owns it.
    pub owner_key: String,
    /// The secrets that sign its messages, oldest first.
    pub secret_ids: Vec<Uuid>,
    /// Events up to this position have been delivered (or did not match).
    pub delivered_through: u64,
    pub created_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
    /// Its stream's revision.
    pub revision: u64,
}

/// A subscription made, with its signing secret: shown this once.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WebhookCreated {
    pub webhook: WebhookView,
    /// `whsec_…`: verify each message's `webhook-signature` with it.
    pub secret: String,
}

/// A secret added for a rotation: shown this once.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SecretAdded {
    pub secret_id: Uuid,
    pub secret: String,
    pub webhook: WebhookView,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DeliveryLog {
    /// Newest first.
    pub deliveries: Vec<Delivery>,
    /// The `before` of the next page, if there may be one.
    pub next_before: Option<i64>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WebhookHistory {
    /// Oldest first.
    pub changes: Vec<Recorded>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(MANAGERS, "manage webhook subscriptions")?;
    if caller.key.categories.is_some() {
        return Err(ApiError::Forbidden(
            "a key limited to some case categories may not subscribe to the log".into(),
        ));
    }
    let request: CreateWebhook = body_of(&state, &headers, body).await?;
    let webhooks = &state.inner.webhooks;
    let created = webhooks
        .create(
            NewSubscription {
                url: request.url,
                filter: request.filter,
                description: request.description,
                start_after: request.start_after,
            },
            &caller.key.id,
            &caller.actor(),
        )
        .await?;
    let view = view(&state, created.webhook).await?;
    let location = format!("/v1/webhooks/{}", view.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(WebhookCreated {
            webhook: view,
            secret: created.secret,
        }),
    )
        .into_response())
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WebhookList>, ApiError> {
    caller.require(MANAGERS, "manage webhook subscriptions")?;
    let mut webhooks = Vec::new();
    for webhook in state.inner.webhooks.list().await? {
        if may_manage(&caller, &webhook) {
            webhooks.push(view(&state, webhook).await?);
        }
    }
    Ok(Json(WebhookList { webhooks }))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let id = parse_id(&id)?;
    let webhook = managed(&state, &caller, id).await?;
    Ok(Json(view(&state, webhook).await?))
}

async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WebhookView>, ApiError> {
    let id = parse_id(&id)?;
    managed(&state, &caller, id).await?;
    let request: ChangeWebhook = body_of(&state, &headers, body).await?;
    let webhooks = &state.inner.webhooks;
    let actor = caller.actor();
    let mut webhook = None;
    if request.url.is_some() || request.filter.is_some() || request.description.is_some() {
        let change = Change {
            url: request.url,
            filter: request.filter,
            description: request.description,
        };
        webhook = Some(webhooks.change(id, change, &actor).await?);
    }
    match request.paused {
        Some(true) => webhook = Some(webhooks.pause(id, &actor).await?),
        Some(false) => webhook = Some(webhooks.resume(id, &actor).await?),
        None => {}
    }
    let webhook = webhook.ok_or_else(|| {
        ApiError::invalid(
            "body",
            "names nothing to change (url, filter, description, paused)",
        )
    })?;
    Ok(Json(view(&state, webhook).await?))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let id = parse_id(&id)?;
    managed(&state, &caller, id).await?;
    let webhook = state.inner.webhooks.delete(id, &caller.actor()).await?;
    Ok(Json(view(&state, webhook).await?))
}

async fn add_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    managed(&state, &caller, id).await?;
    let (webhook, secret_id, secret) = state.inner.webhooks.add_secret(id, &caller.actor()).await?;
    let webhook = view(&state, webhook).await?;
    Ok((
        StatusCode::CREATED,
        Json(SecretAdded {
            secret_id,
            secret,
            webhook,
        }),
    )
        .into_response())
}

async fn remove_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, secret_id)): Path<(String, String)>,
) -> Result<Json<WebhookView>, ApiError> {
    let (id, secret_id) = (parse_id(&id)?, parse_id(&secret_id)?);
    managed(&state, &caller, id).await?;
    let webhook = state
        .inner
        .webhooks
        .remove_secret(id, secret_id, &caller.actor())
        .await?;
    Ok(Json(view(&state, webhook).await?))
}

async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WebhookView>, ApiError> {
    let id = parse_id(&id)?;
    managed(&state, &caller, id).await?;
    let request: ReplayWebhook = body_of(&state, &headers, body).await?;
    let webhooks = &state.inner.webhooks;
    let after = match (request.from_position, request.since) {
        (Some(position), None) => position.saturating_sub(1),
        (None, Some(time)) => webhooks.position_before(time).await?,
        _ => {
            return Err(ApiError::invalid(
                "body",
                "name either from_position or since",
            ))
        }
    };
    let webhook = webhooks.replay(id, after, &caller.actor()).await?;
    Ok(Json(view(&state, webhook).await?))
}

async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<DeliveryLog>, ApiError> {
    let id = parse_id(&id)?;
    managed(&state, &caller, id).await?;
    let params: DeliveryQuery = query(raw)?;
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > state.inner.limits.max_page {
        return Err(ApiError::invalid(
            "limit",
            format!("must be 1 to {}", state.inner.limits.max_page),
        ));
    }
    let deliveries = state
        .inner
        .webhooks
        .deliveries(id, params.before, limit)
        .await?;
    let next_before = (deliveries.len() == limit)
        .then(|| deliveries.last().map(|d| d.id))
        .flatten();
    Ok(Json(DeliveryLog {
        deliveries,
        next_before,
    }))
}

async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookHistory>, ApiError> {
    let id = parse_id(&id)?;
    managed(&state, &caller, id).await?;
    let changes = state.inner.webhooks.history(id).await?;
    Ok(Json(WebhookHistory { changes }))
}

/// The subscription, if the caller may manage it; another integration's
/// is not found, so that its existence is not told either.
async fn managed(state: &AppState, caller: &Caller, id: Uuid) -> Result<Webhook, ApiError> {
    caller.require(MANAGERS, "manage webhook subscriptions")?;
    let webhook = state.inner.webhooks.get(id).await?;
    if !may_manage(caller, &webhook) || webhook.state == WebhookState::Deleted {
        return Err(WebhookError::NotFound(id).into());
    }
    Ok(webhook)
}

fn may_manage(caller: &Caller, webhook: &Webhook) -> bool {
    caller.role() == Role::Admin || webhook.owner_key == caller.key.id
}

async fn body_of<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = json::read_body(body, state.inner.limits.body_bytes).await?;
    json::decode(json::parse(headers, &bytes)?, "")
}

async fn view(state: &AppState, webhook: Webhook) -> Result<WebhookView, ApiError> {
    let delivered_through = state.inner.webhooks.delivered_through(&webhook).await?;
    let (state_name, disabled_reason) = match webhook.state {
        WebhookState::Active => ("active", None),
        WebhookState::Paused => ("paused", None),
        WebhookState::Disabled { reason, .. } => ("disabled", Some(reason)),
        WebhookState::Deleted => ("deleted", None),
    };
    Ok(WebhookView {
        id: webhook.id,
        url: webhook.url,
        filter: webhook.filter,
        description: webhook.description,
        state: state_name.to_owned(),
        disabled_reason,
        owner_key: webhook.owner_key,
        secret_ids: webhook.secret_ids,
        delivered_through,
        created_at: webhook.created_at,
        changed_at: webhook.changed_at,
        revision: webhook.revision,
    })
}

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::Invalid { field, reason } => ApiError::invalid(field, reason),
            WebhookError::PrivateTarget(_) => ApiError::invalid("url", error.to_string()),
            WebhookError::NotFound(_) => ApiError::NotFound(error.to_string()),
            WebhookError::Refused(_) | WebhookError::Concurrent => {
                ApiError::Conflict(error.to_string())
            }
            WebhookError::Store(store) => store.into(),
            WebhookError::Database(database) => database.into(),
            WebhookError::Undecodable(_) => ApiError::Internal(error.to_string()),
        }
    }
}
