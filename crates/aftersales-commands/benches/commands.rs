//! The command path under the after-sales workload: load the case (from the
//! handler's cache, else its stream), decide, append with the expected
//! revision. One client in sequence, then 8 and 64 concurrent clients, each
//! on a case of its own; commands/s, p50 and p99 latency, conflicts retried.
//!
//! Every level runs twice, on a store with durable commits and on one with
//! `--unsafe-fast` (`nosync_cps=`), so that the distance between the disk
//! and the CPU shows; at concurrency 1 a plain sqlx loop inserting one event
//! per durable transaction into the same schema gives the disk's own limit
//! for one client (`baseline_cps=`), measured in the same run.
//!
//! cargo bench -p aftersales-commands --bench commands
//!   BENCH_COMMANDS     commands per concurrency level (default 20,000)
//!   BENCH_CONCURRENCY  the levels, comma-separated (default 1,8,64)
//!   BENCH_PG           postgres:// URL of a server to create bench databases on

use std::sync::Arc;
use std::time::{Duration, Instant};

use aftersales_commands::{Envelope, Handler, Policies, SystemClock};
use aftersales_domain::case::Case;
use aftersales_domain::Policy;
use aftersales_store::{open, EventStore, StoreOptions};
use chrono::Utc;
use sqlx::{Connection, Executor};
use uuid::Uuid;
use workload::{agent, parcel, registration, workload};

mod workload;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    let commands = workload::count_from_env("BENCH_COMMANDS", 20_000)?;
    let levels = workload::concurrency_levels()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let mut lines = Vec::new();
        let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
        lines.extend(
            run_backend(
                "sqlite",
                [
                    sqlite("durable.db"),
                    sqlite("nosync.db"),
                    sqlite("baseline.db"),
                ],
                &levels,
                commands,
            )
            .await?,
        );
        if let Ok(admin) = std::env::var("BENCH_PG") {
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            let server = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(server, _)| server);
            let mut urls = Vec::new();
            for _ in 0..3 {
                let name = format!("bench_commands_{}", Uuid::new_v4().simple());
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await?;
                urls.push(format!("{server}/{name}"));
            }
            let [durable, nosync, baseline] =
                <[String; 3]>::try_from(urls).map_err(|_| "three bench databases")?;
            lines.extend(
                run_backend("postgres", [durable, nosync, baseline], &levels, commands).await?,
            );
        } else {
            println!("postgres: skipped (set BENCH_PG, or run `make bench`)");
        }
        for line in lines {
            println!("{line}");
        }
        Ok(())
    })
}

/// One backend: the durable store, the unsafe-fast store and the baseline,
/// each on a database of its own.
async fn run_backend(
    backend: &str,
    [durable, nosync, baseline]: [String; 3],
    levels: &[usize],
    commands: usize,
) -> BenchResult<Vec<String>> {
    let durable = open(&durable, StoreOptions::default()).await?;
    let nosync = open(
        &nosync,
        StoreOptions {
            unsafe_fast: true,
            ..StoreOptions::default()
        },
    )
    .await?;
    let baseline_cps = if levels.contains(&1) {
        Some(plain_inserts(&baseline, commands.min(5_000)).await?)
    } else {
        None
    };
    let durable = handler(durable);
    let nosync = handler(nosync);
    let mut lines = Vec::new();
    for &concurrency in levels {
        let run = run_level(&durable, concurrency, commands).await?;
        let fast = run_level(&nosync, concurrency, commands).await?;
        println!(
            "{backend:>8} concurrency {concurrency:>2}: {:>8.0} commands/s, p50 {:.2} ms, p99 {:.2} ms, conflicts retried {}; unsafe-fast {:.0} commands/s",
            run.cps, run.p50_ms, run.p99_ms, run.conflicts, fast.cps
        );
        let mut line = format!(
            "BENCH commands {backend} concurrency={concurrency} cps={:.0} p50_ms={:.2} p99_ms={:.2} nosync_cps={:.0}",
            run.cps, run.p50_ms, run.p99_ms, fast.cps
        );
        if let (1, Some(baseline)) = (concurrency, baseline_cps) {
            line += &format!(
                " baseline_cps={baseline:.0} ratio={:.2}",
                run.cps / baseline
            );
        }
        lines.push(line);
    }
    Ok(lines)
}

fn handler(store: Arc<dyn EventStore>) -> Arc<Handler<Case>> {
    Arc::new(Handler::<Case>::new(
        store,
        Policies::fixed(Policy::default()),
        Arc::new(SystemClock),
    ))
}

struct Level {
    cps: f64,
    p50_ms: f64,
    p99_ms: f64,
    conflicts: u64,
}

async fn run_level(
    handler: &Arc<Handler<Case>>,
    concurrency: usize,
    commands: usize,
) -> BenchResult<Level> {
    // Each client registers its case first (not measured).
    let mut cases = Vec::new();
    for _ in 0..concurrency {
        let case = Uuid::new_v4();
        handler
            .execute(&Envelope::new(case, registration().into(), agent()))
            .await?;
        handler
            .execute(&Envelope::new(case, parcel().into(), agent()))
            .await?;
        cases.push(case);
    }
    let per_client = commands / concurrency;
    let started = Instant::now();
    let mut clients = Vec::new();
    for case in cases {
        let handler = handler.clone();
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            let mut conflicts = 0u64;
            for i in 0..per_client {
                let command = workload(i);
                let began = Instant::now();
                let outcome = handler
                    .execute(&Envelope::new(case, command, agent()))
                    .await?;
                latencies.push(began.elapsed());
                conflicts += u64::from(outcome.conflicts);
            }
            Ok::<_, aftersales_commands::HandlerError>((latencies, conflicts))
        }));
    }
    let mut latencies = Vec::with_capacity(commands);
    let mut conflicts = 0;
    for client in clients {
        let (l, c) = client.await??;
        latencies.extend(l);
        conflicts += c;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(Level {
        cps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: millis(latencies[latencies.len() / 2]),
        p99_ms: millis(latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]),
        conflicts,
    })
}

/// The disk's limit for one client: a plain sqlx loop, one event per
/// durable transaction, into the log's own schema (the store creates it).
async fn plain_inserts(url: &str, count: usize) -> BenchResult<f64> {
    drop(open(url, StoreOptions::default()).await?);
    let event = registration_event_json();
    let started = Instant::now();
    if let Some(path) = aftersales_store::sqlite_path(url) {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        for position in 1..=count as i64 {
            let mut tx = conn.begin().await?;
            sqlx::query("INSERT INTO events (position, event_id, stream_name, revision, category, event_type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, 'case', 'CaseRegistered', ?, '{}', ?)")
                .bind(position)
                .bind(Uuid::now_v7().to_string())
                .bind(format!("case-{}", Uuid::new_v4()))
                .bind(0i64)
                .bind(&event)
                .bind(Utc::now().timestamp_micros())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        for position in 1..=count as i64 {
            let mut tx = conn.begin().await?;
            sqlx::query("INSERT INTO events (position, event_id, stream_name, revision, category, event_type, data, metadata, recorded_at) VALUES ($1, $2, $3, $4, 'case', 'CaseRegistered', $5::jsonb, '{}', now())")
                .bind(position)
                .bind(Uuid::now_v7())
                .bind(format!("case-{}", Uuid::new_v4()))
                .bind(0i64)
                .bind(&event)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// An event of the size the workload writes.
fn registration_event_json() -> String {
    serde_json::to_string(&serde_json::json!({
        "customer": registration().customer.name,
        "phenomenon": registration().problem.phenomenon,
        "note": "告知快递已加急处理，预计明天送达",
    }))
    .unwrap_or_else(|_| "{}".to_owned())
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
