//! Webhook dispatch to a receiver on 127.0.0.1 that answers at once: the
//! throughput of one subscription over a backlog, and the time from an
//! append to its delivery while events are appended at a fixed rate.
//!
//! cargo bench -p aftersales-webhooks --bench dispatch
//!   BENCH_WEBHOOK_EVENTS  backlog delivered for the throughput (default 20,000)
//!   BENCH_WEBHOOK_RATE    events/s appended for the latency (default 1,000)
//!   BENCH_WEBHOOK_SECONDS how long (default 10)
//!   BENCH_PG              postgres:// URL of a server to create a bench database on

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aftersales_domain::{Actor, Role};
use aftersales_store::{open, ExpectedRevision, NewEvent, StoreOptions, StreamName};
use aftersales_webhooks::{Dispatcher, NewSubscription, Settings, Subscriptions, WebhookDb};
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;
use sqlx::Connection;
use uuid::Uuid;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let sqlite = format!("sqlite://{}", dir.path().join("webhooks.db").display());
        let mut lines = vec![run("sqlite", &sqlite).await?];
        if let Ok(admin) = std::env::var("BENCH_PG") {
            let name = format!("bench_webhooks_{}", Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            let server = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(server, _)| server);
            lines.push(run("postgres", &format!("{server}/{name}")).await?);
        } else {
            println!("postgres: skipped (set BENCH_PG, or run `make bench`)");
        }
        for line in lines {
            println!("{line}");
        }
        Ok(())
    })
}

async fn run(backend: &str, url: &str) -> Result<String, Box<dyn std::error::Error>> {
    let store = open(url, StoreOptions::default()).await?;
    let arrivals: Arrivals = Arc::default();
    let receiver = receiver(arrivals.clone()).await?;
    let subscriptions = Subscriptions::new(
        store.clone(),
        WebhookDb::connect(url, false).await?,
        Settings {
            allow_private_targets: true,
            ..Settings::default()
        },
    );

    // Throughput: a backlog of events, delivered from the start.
    let backlog = knob("BENCH_WEBHOOK_EVENTS", 20_000) as usize;
    let mut ids = Vec::with_capacity(backlog);
    for chunk in 0..backlog.div_ceil(500) {
        let events: Vec<NewEvent> = (0..500.min(backlog - chunk * 500))
            .map(|_| event())
            .collect();
        ids.extend(events.iter().map(|e| message_id(e.id)));
        store
            .append(&stream()?, ExpectedRevision::NoStream, events)
            .await?;
    }
    let operator = Actor::new("bench", Role::Admin);
    let created = subscriptions
        .create(
            NewSubscription {
                url: receiver.clone(),
                start_after: Some(0),
                ..NewSubscription::default()
            },
            "bench",
            &operator,
        )
        .await?;
    let started = Instant::now();
    let dispatcher = tokio::spawn(Dispatcher::new(subscriptions.clone())?.run());
    wait_for(&arrivals, ids.len()).await;
    let eps = backlog as f64 / started.elapsed().as_secs_f64();

    // Latency: events appended at a fixed rate, each timed from its
    // append's acknowledgement to its arrival.
    let rate = knob("BENCH_WEBHOOK_RATE", 1_000);
    let seconds = knob("BENCH_WEBHOOK_SECONDS", 10);
    let mut appended = Vec::new();
    let tick = Duration::from_secs_f64(1.0 / rate as f64);
    let begin = tokio::time::Instant::now();
    for n in 0..rate * seconds {
        tokio::time::sleep_until(begin + tick * n as u32).await;
        let event = event();
        let id = message_id(event.id);
        store
            .append(&stream()?, ExpectedRevision::NoStream, vec![event])
            .await?;
        appended.push((id, Instant::now()));
    }
    wait_for(&arrivals, ids.len() + appended.len()).await;
    let arrived = arrivals.lock().map_err(|_| "poisoned")?.clone();
    let mut latencies: Vec<f64> = appended
        .iter()
        .map(|(id, at)| {
            arrived.get(id).map_or(f64::MAX, |got| {
                got.saturating_duration_since(*at).as_secs_f64() * 1e3
            })
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let quantile =
        |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    dispatcher.abort();
    subscriptions.delete(created.webhook.id, &operator).await?;
    Ok(format!(
        "BENCH webhooks {backend} eps={eps:.0} p50_ms={:.2} p99_ms={:.2} backlog={backlog} rate={rate}",
        quantile(0.5),
        quantile(0.99)
    ))
}

fn event() -> NewEvent {
    NewEvent::new(
        "CaseRegistered",
        json!({"customer": {"name": "王小明", "phone": "13800138000"},
               "problem": {"phenomenon": "快递显示已签收，客户未收到"}, "priority": "P2"}),
    )
    .with_id(Uuid::new_v4())
    .with_metadata(json!({"actor_id": "agent-li", "actor_role": "agent"}))
}

fn stream() -> Result<StreamName, Box<dyn std::error::Error>> {
    Ok(StreamName::of("case", Uuid::new_v4())?)
}

fn message_id(id: Uuid) -> String {
    format!("msg_{}", id.simple())
}

/// Waits until `count` distinct messages have arrived: a count, not a
/// look-up of every id, so that waiting does not take the receiver's CPU.
async fn wait_for(arrivals: &Arrivals, count: usize) {
    while arrivals.lock().unwrap_or_else(|e| e.into_inner()).len() < count {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A receiver that answers 204 at once and notes when each message came.
async fn receiver(arrivals: Arrivals) -> Result<String, Box<dyn std::error::Error>> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let arrivals = arrivals.clone();
            async move {
                if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                    let mut arrived = arrivals.lock().unwrap_or_else(|e| e.into_inner());
                    arrived.entry(id.to_owned()).or_insert_with(Instant::now);
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
