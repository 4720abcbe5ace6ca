//! The `$all` log for other systems: paged (`/v1/events`) and live as
//! Server-Sent Events (`/v1/events/stream`), resumable from the last
//! position seen. Personal data is always masked: a feed is for systems,
//! and an unmasked read is made on a case, where it is recorded.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use aftersales_domain::Role;
use aftersales_store::{
    subscribe, AllFilter, AllFrom, AllQuery, Direction, EventMetadata, Position, RecordedEvent,
    SubscribeFrom, SubscriptionMessage,
};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Caller, Cost};
use crate::error::ApiError;
use crate::privacy;
use crate::reads::query;
use crate::state::AppState;

/// How often an open stream checks that its key is still live: the key
/// cache's lifetime, so a revoked key's stream ends no later than its next
/// request would be refused.
const KEY_RECHECK: Duration = crate::access::KEY_CACHE_TTL;

const FEED_READERS: &[Role] = &[
    Role::Supervisor,
    Role::Auditor,
    Role::Admin,
    Role::Integration,
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(page))
        .route("/v1/events/stream", get(stream))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Events after this global position; from the start if not given.
    pub after: Option<String>,
    /// 1 to 1000; 100 if not given (paged feed only).
    pub limit: Option<String>,
    /// Comma-separated stream categories (`case,unpaid`).
    pub category: Option<String>,
    /// Comma-separated event types.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
}

/// One event of the log, personal data masked.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FeedEvent {
    pub position: u64,
    pub stream: String,
    pub revision: u64,
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub recorded_at: DateTime<Utc>,
    pub metadata: Value,
    pub data: Value,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FeedPage {
    pub events: Vec<FeedEvent>,
    /// Pass as `after` for the next page.
    pub next: u64,
    /// Whether the page reached the end of the log.
    pub is_end: bool,
}

fn feed_event(event: RecordedEvent) -> FeedEvent {
    let mut data: Value = serde_json::from_str(event.data.get()).unwrap_or(Value::Null);
    privacy::mask(&mut data);
    let metadata: EventMetadata = serde_json::from_str(event.metadata.get()).unwrap_or_default();
    FeedEvent {
        position: event.position,
        stream: event.stream,
        revision: event.revision,
        event_id: event.id,
        event_type: event.event_type,
        recorded_at: event.recorded_at,
        metadata: serde_json::to_value(metadata).unwrap_or(Value::Null),
        data,
    }
}

fn list(text: Option<String>) -> Vec<String> {
    text.map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn number<T: std::str::FromStr>(field: &str, text: Option<&str>) -> Result<Option<T>, ApiError> {
    text.map(|t| {
        t.parse()
            .map_err(|_| ApiError::invalid(field, "a whole number"))
    })
    .transpose()
}

fn authorise(caller: &Caller) -> Result<(), ApiError> {
    caller.require(FEED_READERS, "read the event feed")?;
    if caller.key.categories.is_some() {
        return Err(ApiError::Forbidden(
            "a key limited to some categories may not read the whole log".to_owned(),
        ));
    }
    Ok(())
}

async fn page(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<FeedPage>, ApiError> {
    authorise(&caller)?;
    let params: FeedQuery = query(raw)?;
    let after: Position = number("after", params.after.as_deref())?.unwrap_or(0);
    let limit: usize = number("limit", params.limit.as_deref())?.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::invalid("limit", "1 to 1000"));
    }
    let query = AllQuery {
        from: AllFrom::Position(after.saturating_add(1)),
        direction: Direction::Forwards,
        limit,
        filter: AllFilter {
            categories: list(params.category),
            event_types: list(params.event_type),
        },
    };
    let page = state.inner.store.read_all(&query).await?;
    Ok(Json(FeedPage {
        next: page.scanned_to.max(after),
        is_end: page.is_end,
        events: page.events.into_iter().map(feed_event).collect(),
    }))
}

async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    authorise(&caller)?;
    let params: FeedQuery = query(raw)?;
    // Held for as long as the stream is open.
    caller.spend(&state, Cost::Stream)?;
    let held = state.inner.gauges.stream(&caller.key.id)?;
    // A reconnecting EventSource sends the last id it saw.
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let field = if last_seen.is_some() {
        "Last-Event-ID"
    } else {
        "after"
    };
    let after: Option<Position> = number(field, last_seen.as_deref().or(params.after.as_deref()))?;
    // A position past the head names no event of this log: it would
    // otherwise wrap round and replay everything, or wait for ever.
    let head = state.inner.store.head().await?;
    if let Some(after) = after.filter(|&after| after > head) {
        return Err(ApiError::invalid(
            field,
            format!("a position of this log, at most its head ({head}); {after} is beyond it"),
        ));
    }
    let filter = AllFilter {
        categories: list(params.category),
        event_types: list(params.event_type),
    };
    let from = after.map_or(SubscribeFrom::Start, SubscribeFrom::After);
    let subscription = subscribe(state.inner.store.clone(), from, filter);
    let access = state.access().clone();
    let key_id = caller.key.id.clone();
    let open = Some((subscription, Instant::now()));
    let events = futures::stream::unfold(open, move |open| {
        let _held = &held;
        let access = access.clone();
        let key_id = key_id.clone();
        async move {
            let (mut subscription, mut checked) = open?;
            loop {
                // A key revoked while its stream is open ends the stream
                // within the time the key cache would have let it through.
                if checked.elapsed() >= KEY_RECHECK {
                    checked = Instant::now();
                    if !access.is_live(&key_id).await.unwrap_or(true) {
                        let sse = Event::default()
                            .event("revoked")
                            .data("the API key was revoked");
                        return Some((Ok(sse), None));
                    }
                }
                let Ok(next) = tokio::time::timeout(KEY_RECHECK, subscription.next()).await else {
                    continue;
                };
                let sse = match next? {
                    Ok(SubscriptionMessage::Event(event)) => {
                        let id = event.position.to_string();
                        let kind = event.event_type.clone();
                        let data = serde_json::to_string(&feed_event(event)).unwrap_or_default();
                        Event::default().id(id).event(kind).data(data)
                    }
                    Ok(SubscriptionMessage::CaughtUp { position }) => Event::default()
                        .event("caught-up")
                        .data(position.to_string()),
                    Ok(SubscriptionMessage::Checkpoint { .. }) => continue,
                    Err(error) => {
                        // The client reconnects with Last-Event-ID and resumes.
                        tracing::warn!(%error, "event stream ended");
                        let sse = Event::default()
                            .event("error")
                            .data("the feed was interrupted; reconnect");
                        return Some((Ok(sse), None));
                    }
                };
                return Some((Ok(sse), Some((subscription, checked))));
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
