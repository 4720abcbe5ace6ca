//! Prometheus metrics at `GET /metrics`: requests by route and status,
//! request and append latencies, and how far each read model is behind the
//! log.
//!
//! Each [`AppState`](crate::AppState) owns its registry, so two services in
//! one process (as in the tests) count apart. Routes are labelled by their
//! template (`/v1/cases/{id}`), never by the path a caller sent, so ids do
//! not reach the metrics and a scan of random paths cannot grow them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aftersales_store::{
    AllPage, AllQuery, AppendResult, Backend, CurrentRevision, Direction, EventStore,
    ExpectedRevision, NewEvent, Position, RecordedEvent, StoreError, StreamFrom, StreamName,
};
use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::state::AppState;

/// The route a request is counted under when it is narrower than the
/// matched path: a command's route names the command.
#[derive(Debug, Clone)]
pub(crate) struct Route(pub String);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppendLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectionLabels {
    projection: String,
}

/// Latency buckets from 0.25 ms to about 8 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    append_seconds: Family<AppendLabels, Histogram, fn() -> Histogram>,
    head_position: Gauge,
    projection_lag: Family<ProjectionLabels, Gauge>,
    projection_parked: Family<ProjectionLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("aftersales");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let append_seconds = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let head_position = Gauge::default();
        let projection_lag = Family::<ProjectionLabels, Gauge>::default();
        let projection_parked = Family::<ProjectionLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by method and route template",
            request_seconds.clone(),
        );
        registry.register(
            "event_store_append_duration_seconds",
            "Time one append to the event store took, by outcome (ok, conflict, error)",
            append_seconds.clone(),
        );
        registry.register(
            "event_store_head_position",
            "Position of the last event in the log when the metrics were read",
            head_position.clone(),
        );
        registry.register(
            "projection_lag_events",
            "How many positions each read model is behind the log",
            projection_lag.clone(),
        );
        registry.register(
            "projection_parked_events",
            "Events each read model set aside because it could not decode or apply them",
            projection_parked.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            append_seconds,
            head_position,
            projection_lag,
            projection_parked,
        }
    }
}

impl Metrics {
    /// Counts one answered request. `route` is the matched template, or
    /// `None` when no route matched.
    pub(crate) fn observe_request(
        &self,
        method: &str,
        route: Option<&str>,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let route = route.unwrap_or("unmatched").to_owned();
        let method = method.to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                method: method.clone(),
                route: route.clone(),
                status: status.as_u16(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels { method, route })
            .observe(elapsed.as_secs_f64());
    }

    fn observe_append(&self, outcome: &'static str, elapsed: Duration) {
        self.append_seconds
            .get_or_create(&AppendLabels { outcome })
            .observe(elapsed.as_secs_f64());
    }

    fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// `GET /metrics` in the Prometheus text format. The lag gauges are read
/// when scraped, so they are as fresh as the scrape.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    let services = &state.inner;
    let metrics = &services.metrics;
    // A scrape during an outage still answers, with the figures it has.
    if let Ok(head) = services.store.head().await {
        metrics.head_position.set(gauge_value(head));
        let parked = services.read_db.parked_counts().await.unwrap_or_default();
        if let Ok(statuses) = services.read_db.all_statuses().await {
            for status in statuses.iter().filter(|s| !s.name.contains('@')) {
                let labels = ProjectionLabels {
                    projection: status.name.clone(),
                };
                metrics
                    .projection_lag
                    .get_or_create(&labels)
                    .set(gauge_value(head.saturating_sub(status.position)));
                let count = parked
                    .iter()
                    .find(|(name, _)| *name == status.name)
                    .map_or(0, |(_, n)| *n);
                metrics
                    .projection_parked
                    .get_or_create(&labels)
                    .set(gauge_value(count));
            }
        }
    }
    match metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn gauge_value(position: Position) -> i64 {
    i64::try_from(position).unwrap_or(i64::MAX)
}

/// The event store with its appends timed.
#[derive(Debug)]
pub(crate) struct MeteredStore {
    inner: Arc<dyn EventStore>,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    pub(crate) fn new(inner: Arc<dyn EventStore>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl EventStore for MeteredStore {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }

    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let started = Instant::now();
        let result = self.inner.append(stream, expected, events).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(StoreError::WrongExpectedRevision { .. }) => "conflict",
            Err(_) => "error",
        };
        self.metrics.observe_append(outcome, started.elapsed());
        result
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from, direction, limit).await
    }

    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, StoreError> {
        self.inner.stream_revision(stream).await
    }

    async fn read_all(&self, query: &AllQuery) -> Result<AllPage, StoreError> {
        self.inner.read_all(query).await
    }

    async fn head(&self) -> Result<Position, StoreError> {
        self.inner.head().await
    }

    fn head_watch(&self) -> watch::Receiver<Position> {
        self.inner.head_watch()
    }

    async fn import(&self, events: &[RecordedEvent]) -> Result<Position, StoreError> {
        self.inner.import(events).await
    }

    async fn load_checkpoint(&self, subscriber: &str) -> Result<Option<Position>, StoreError> {
        self.inner.load_checkpoint(subscriber).await
    }

    async fn save_checkpoint(
        &self,
        subscriber: &str,
        position: Position,
    ) -> Result<(), StoreError> {
        self.inner.save_checkpoint(subscriber, position).await
    }
}
