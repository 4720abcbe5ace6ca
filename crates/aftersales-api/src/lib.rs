//! The JSON API of the service. It builds an axum [`Router`] over the
//! command handlers and the read models and never binds a socket: the
//! binary decides where to listen, and tests serve it on a loopback port.
//!
//! - `POST /v1/<collection>` and `POST /v1/<collection>/{id}/<command>`:
//!   every command of the domain ([`commands`]), with `If-Match` and
//!   `Idempotency-Key`;
//! - `GET /v1/cases…`, `/v1/reports…`, `/v1/ledger…`: the read models;
//! - `GET /v1/events` and `/v1/events/stream`: the log, paged and live;
//! - `/v1/webhooks…`: webhook subscriptions, their secrets, delivery log
//!   and replays ([`aftersales_webhooks`] sends the messages);
//! - `/v1/openapi.json`, `/healthz`, `/readyz`, `/metrics` ([`metrics`]).
//!
//! Callers authenticate with API keys ([`AccessDb`]); their role goes into
//! the events' metadata and decides what they may do and see. Personal data
//! is masked unless the caller has the right, and unmasked reads of others'
//! cases are appended to the log ([`privacy`]).

mod access;
mod auth;
mod budget;
mod clock;
mod commands;
mod cors;
mod customers;
mod due;
mod error;
mod examples;
mod feed;
mod import;
mod json;
mod metrics;
mod openapi;
mod policy;
pub mod privacy;
mod reads;
mod resources;
mod state;
mod visibility;
mod webhooks;
mod worklists;

use std::sync::OnceLock;

use aftersales_domain::audit::SamplingAudit;
use aftersales_domain::case::Case;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::repair::RepairOrder;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use uuid::Uuid;

pub use access::{AccessDb, IssuedKey, KeyInfo, Naming};
pub use budget::Budgets;
pub use cors::{cors, CorsError};
pub use due::ScheduleIndex;
pub use error::{ApiError, Problem, PROBLEM_TYPE_PREFIX};
pub use state::{AppState, Limits};
pub use visibility::{LOG_POSITION, MIN_LOG_POSITION};

/// The service's routes.
pub fn router(state: AppState) -> Router {
    let body_limit = state.inner.limits.body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::scrape))
        .route("/v1/openapi.json", get(openapi_document))
        .merge(commands::routes::<Case>())
        .merge(commands::routes::<UnpaidOrder>())
        .merge(commands::routes::<SamplingAudit>())
        .merge(commands::routes::<RepairOrder>())
        .merge(commands::routes::<AccessGrant>())
        .merge(
            reads::routes()
                .merge(worklists::routes())
                .merge(resources::routes())
                .merge(customers::routes())
                .route_layer(middleware::from_fn_with_state(
                    state.clone(),
                    visibility::consistent_reads,
                )),
        )
        .merge(import::routes())
        .merge(feed::routes())
        .merge(policy::routes())
        .merge(clock::routes())
        .merge(webhooks::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), bounded))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit_headers,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn_with_state(state.clone(), observed))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such resource".to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A panic in a handler is a bug: logged, answered 500, and the server
/// goes on serving.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let reason = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    ApiError::Internal(format!("a handler panicked: {reason}")).into_response()
}

/// Tells an authenticated caller, on every answer, its rate and what is
/// left of it (`RateLimit-Policy`, `RateLimit`), so that a client can slow
/// down before it is refused.
async fn rate_limit_headers(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = auth::QuotaSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(left) = slot.left() {
        let (policy, now) = state.inner.limiter.headers(left);
        let headers = response.headers_mut();
        for (name, value) in [("ratelimit-policy", policy), ("ratelimit", now)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
    response
}

/// Every request gets at most the configured time (except the live feed,
/// which streams after its answer has begun).
async fn bounded(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.inner.limits.timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::Unavailable(format!("no answer within {} s", limit.as_secs())).into_response()
        }
    }
}

/// Tags each request with a correlation id (the caller's `X-Correlation-Id`
/// if it is a UUID) and logs its outcome with it.
async fn observed(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let correlation = request
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok())
        .unwrap_or_else(Uuid::now_v7);
    if let Ok(value) = HeaderValue::from_str(&correlation.to_string()) {
        request.headers_mut().insert("x-correlation-id", value);
    }
    let method = request.method().clone();
    // The route, not the path: paths carry ids, and logs must not carry
    // more than they need.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let route = response
        .extensions()
        .get::<metrics::Route>()
        .map(|route| route.0.clone())
        .or(route);
    let status = response.status();
    let elapsed = started.elapsed();
    state
        .inner
        .metrics
        .observe_request(method.as_str(), route.as_deref(), status, elapsed);
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    let route = route.as_deref().unwrap_or("unmatched");
    if status.is_server_error() {
        tracing::warn!(%correlation, %method, route, status = status.as_u16(), elapsed_ms, "request failed");
    } else {
        tracing::info!(%correlation, %method, route, status = status.as_u16(), elapsed_ms, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&correlation.to_string()) {
        response.headers_mut().insert("x-correlation-id", value);
    }
    response
}

/// The process is up and answering.
async fn healthz() -> &'static str {
    "ok"
}

/// The store answers and the read models are close behind the log; a load
/// balancer sends traffic only while this is 200. Parked events are a
/// warning in the body, not an outage: the read models went on past them.
async fn readyz(State(state): State<AppState>) -> Response {
    let services = &state.inner;
    let head = match services.store.head().await {
        Ok(head) => head,
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            return unavailable("the event store does not answer");
        }
    };
    let statuses = match services.read_db.all_statuses().await {
        Ok(statuses) => statuses,
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            return unavailable("the read models do not answer");
        }
    };
    let parked = match services.read_db.parked_counts().await {
        Ok(parked) => parked,
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            return unavailable("the read models do not answer");
        }
    };
    let behind: Vec<Value> = statuses
        .iter()
        .filter(|s| !s.name.contains('@'))
        .filter(|s| head.saturating_sub(s.position) > services.limits.max_projection_lag)
        .map(|s| json!({"name": s.name, "state": s.state, "position": s.position}))
        .collect();
    if !behind.is_empty() {
        let mut response = unavailable("read models are behind the log");
        *response.body_mut() = axum::body::Body::from(
            json!({"status": "unavailable", "head_position": head, "behind": behind}).to_string(),
        );
        return response;
    }
    let warnings: Vec<String> = parked
        .iter()
        .filter(|(name, _)| !name.contains('@'))
        .map(|(name, count)| {
            format!(
                "{name} has {count} parked events it could not apply; \
                 see `aftersales projections parked`"
            )
        })
        .collect();
    Json(json!({
        "status": "ready",
        "backend": services.store.backend().name(),
        "head_position": head,
        "parked_events": parked.iter().filter(|(name, _)| !name.contains('@'))
            .map(|(name, count)| (name.clone(), json!(count)))
            .collect::<serde_json::Map<String, Value>>(),
        "warnings": warnings,
    }))
    .into_response()
}

fn unavailable(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "reason": reason })),
    )
        .into_response()
}

async fn openapi_document() -> Json<Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    Json(DOCUMENT.get_or_init(openapi::document).clone())
}
