//! Reads that see the caller's own writes.
//!
//! The read models follow the log a moment behind it. Every read of them
//! answers `X-Log-Position`: the log position all of them had reached when
//! the read began, so the answer reflects at least the events up to it. A
//! client that has just written sends the position its command answered in
//! `X-Min-Log-Position`, and the read waits until the read models reach it,
//! for [`WAIT`] at most, then answers `503` with `Retry-After`.
//!
//! The runner in this process tells [`Reached`] of every batch it commits;
//! when another process runs the read models (PostgreSQL, a second
//! service), a waiting read looks at their checkpoints itself.

use std::time::{Duration, Instant};

use aftersales_commands::Handler;
use aftersales_domain::case::Case;
use aftersales_projections::case_views::{self, CaseDetail};
use aftersales_projections::{CaseView, ReadDb};
use aftersales_store::{Direction, Position, StreamFrom};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::{watch, Mutex};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The position a read's answer reflects at least.
pub const LOG_POSITION: HeaderName = HeaderName::from_static("x-log-position");
/// The position a read must reflect at least.
pub const MIN_LOG_POSITION: HeaderName = HeaderName::from_static("x-min-log-position");

/// Longest a read waits for the read models to reach a position.
pub const WAIT: Duration = Duration::from_secs(2);
/// How often a waiting read looks at the checkpoints in the database, when
/// no runner in this process tells it first.
const POLL: Duration = Duration::from_millis(10);

/// The log position all live read models have reached, as this process
/// last heard it from its runner or read it from their checkpoints.
#[derive(Debug)]
pub struct Reached {
    position: watch::Sender<Position>,
    /// When the position was last told or read from the database: reads
    /// share one query.
    heard: Mutex<Instant>,
}

impl Default for Reached {
    fn default() -> Self {
        Self {
            position: watch::Sender::new(0),
            // Never heard of: the first read asks the database.
            heard: Mutex::new(
                Instant::now()
                    .checked_sub(POLL)
                    .unwrap_or_else(Instant::now),
            ),
        }
    }
}

impl Reached {
    /// Tells of the position all read models have reached. It may move
    /// back: a read model reset or rebuilt starts again from the log's
    /// beginning, and reads must not be told otherwise.
    pub fn tell(&self, position: Position) {
        if let Ok(mut heard) = self.heard.try_lock() {
            *heard = Instant::now();
        }
        self.position.send_if_modified(|reached| {
            let moved = position != *reached;
            *reached = position;
            moved
        });
    }

    /// The position reached, fresh within [`POLL`].
    pub async fn current(&self, db: &ReadDb) -> Result<Position, ApiError> {
        self.poll(db).await?;
        Ok(*self.position.borrow())
    }

    /// Waits until the read models reach `wanted`, for [`WAIT`] at most.
    pub async fn wait_for(&self, db: &ReadDb, wanted: Position) -> Result<Position, ApiError> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut changes = self.position.subscribe();
        loop {
            let reached = *changes.borrow_and_update();
            if reached >= wanted {
                return Ok(reached);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::Behind { wanted, reached });
            }
            let next_poll = tokio::time::Instant::now() + POLL;
            tokio::select! {
                _ = changes.changed() => {}
                () = tokio::time::sleep_until(next_poll.min(deadline)) => self.poll(db).await?,
            }
        }
    }

    /// Reads the checkpoints, unless the position was just heard of.
    async fn poll(&self, db: &ReadDb) -> Result<(), ApiError> {
        let Ok(mut heard) = self.heard.try_lock() else {
            return Ok(());
        };
        if heard.elapsed() < POLL {
            return Ok(());
        }
        *heard = Instant::now();
        self.tell(aftersales_projections::admin::reached(db).await?);
        Ok(())
    }
}

/// Around every read of the read models: waits for `X-Min-Log-Position`
/// and answers `X-Log-Position`. The caller is authenticated first, so
/// that no one unknown can hold a request open, and handed on.
pub(crate) async fn consistent_reads(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let caller = Caller::from_request_parts(&mut parts, &state).await?;
    let wanted = match parts.headers.get(&MIN_LOG_POSITION) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<Position>().ok())
                .ok_or_else(|| {
                    ApiError::invalid(MIN_LOG_POSITION.as_str(), "a log position: a whole number")
                })?,
        ),
    };
    let services = &state.inner;
    let reached = match wanted {
        Some(wanted) => {
            // A position not yet in the log is no write of anyone's: there
            // is nothing to wait for.
            let head = services.store.head().await?;
            if wanted > head {
                return Err(ApiError::invalid(
                    MIN_LOG_POSITION.as_str(),
                    format!("the log ends at position {head}; {wanted} is not written yet"),
                ));
            }
            services.reached.wait_for(&services.read_db, wanted).await?
        }
        None => services.reached.current(&services.read_db).await?,
    };
    parts.extensions.insert(caller);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    response
        .headers_mut()
        .insert(LOG_POSITION, HeaderValue::from(reached));
    Ok(response)
}

/// A case's view, waiting for it if the case is in the log but not yet in
/// the read models: whoever was told a case was registered is never told
/// it does not exist.
pub(crate) async fn case_view(state: &AppState, id: Uuid) -> Result<Option<CaseView>, ApiError> {
    let db = &state.inner.read_db;
    if let Some(view) = case_views::get(db, id).await? {
        return Ok(Some(view));
    }
    if !wait_for_case(state, id).await? {
        return Ok(None);
    }
    Ok(case_views::get(db, id).await?)
}

/// [`case_view`] with the case's timeline.
pub(crate) async fn case_detail(
    state: &AppState,
    id: Uuid,
) -> Result<Option<CaseDetail>, ApiError> {
    let db = &state.inner.read_db;
    if let Some(detail) = case_views::detail(db, id).await? {
        return Ok(Some(detail));
    }
    if !wait_for_case(state, id).await? {
        return Ok(None);
    }
    Ok(case_views::detail(db, id).await?)
}

/// Waits until the read models have reached the last event of case `id`;
/// false if the log has no such case.
async fn wait_for_case(state: &AppState, id: Uuid) -> Result<bool, ApiError> {
    let services = &state.inner;
    let stream = Handler::<Case>::stream(id)?;
    let last = services
        .store
        .read_stream(&stream, StreamFrom::End, Direction::Backwards, 1)
        .await?;
    let Some(last) = last.first() else {
        return Ok(false);
    };
    services
        .reached
        .wait_for(&services.read_db, last.position)
        .await?;
    Ok(true)
}
