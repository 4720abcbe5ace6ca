//! A sandbox store's clock over HTTP: read by anyone with a key, set and
//! advanced by an administrator. A store that is not a sandbox refuses.

use aftersales_commands::sandbox::SandboxError;
use aftersales_domain::Role;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::json;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/clock", get(show).post(set))
}

/// What the service's clock reads.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ClockReading {
    pub now: DateTime<Utc>,
    /// Whether the store is a sandbox, whose clock an administrator sets.
    pub sandbox: bool,
    /// Whether it has been set by hand (else it is the real time).
    pub set_by_hand: bool,
}

/// Set the sandbox's clock to a time, or move it forward.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SetClock {
    /// The time the clock reads from now on; not before what it reads.
    To(DateTime<Utc>),
    /// Minutes to move it forward, 1 to 525600 (a year).
    AdvanceMinutes(u32),
}

/// What setting the clock did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ClockMoved {
    pub now: DateTime<Utc>,
    pub previous: DateTime<Utc>,
}

async fn show(State(state): State<AppState>, _caller: Caller) -> Json<ClockReading> {
    let clock = &state.inner.clock;
    Json(ClockReading {
        now: clock.now(),
        sandbox: clock.sandbox().is_some(),
        set_by_hand: clock.set_by_hand(),
    })
}

async fn set(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ClockMoved>, ApiError> {
    caller.require(&[Role::Admin], "set the clock")?;
    let bytes = json::read_body(body, state.inner.limits.body_bytes).await?;
    let request: SetClock = json::decode(json::parse(&headers, &bytes)?, "")?;
    let sandbox = state
        .inner
        .clock
        .sandbox()
        .ok_or(SandboxError::NotSandbox)?;
    let store = state.inner.store.as_ref();
    let actor = caller.actor();
    let moved = match request {
        SetClock::To(to) => sandbox.set(store, to, &actor).await?,
        SetClock::AdvanceMinutes(minutes) => {
            if !(1..=525_600).contains(&minutes) {
                return Err(ApiError::invalid("advance_minutes", "must be 1 to 525600"));
            }
            let by = Duration::minutes(i64::from(minutes));
            sandbox.advance(store, by, &actor).await?
        }
    };
    Ok(Json(ClockMoved {
        now: moved.to,
        previous: moved.previous,
    }))
}

impl From<SandboxError> for ApiError {
    fn from(error: SandboxError) -> Self {
        match error {
            SandboxError::NotSandbox => ApiError::NotSandbox(error.to_string()),
            SandboxError::Backwards { .. } => ApiError::invalid("to", error.to_string()),
            SandboxError::Store(e) => e.into(),
            SandboxError::NotEmpty | SandboxError::Undecodable(_) => {
                ApiError::Internal(error.to_string())
            }
        }
    }
}
