//! Appends N events of about 400 bytes in batches and reads them back in
//! global order, through the store and through a plain sqlx INSERT / SELECT
//! loop on the same schema and batch size, in the same run; prints events/s
//! and the ratio store / plain.
//!
//! cargo bench -p aftersales-store --bench store
//!   BENCH_EVENTS   events per run (default 1,000,000)
//!   BENCH_BATCH    events per append (default 1,000)
//!   BENCH_RUNS     repetitions; the figures are their medians (default 3)
//!   BENCH_PG       postgres:// URL of a server to create bench databases on
//!                  (the PostgreSQL run is skipped without it)
//!
//! Every repetition writes into fresh, empty databases, the plain loop and the
//! store taking turns so that both see the same machine.

use std::time::{Duration, Instant};

use aftersales_store::{
    open, AllQuery, EventStore, ExpectedRevision, NewEvent, StoreOptions, StreamName,
};
use serde_json::json;
use sqlx::{Connection, QueryBuilder, Row};

struct Figures {
    append_eps: f64,
    read_eps: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: usize = env_or("BENCH_EVENTS", 1_000_000);
    let batch: usize = env_or("BENCH_BATCH", 1_000).max(1);
    let runs: usize = env_or("BENCH_RUNS", 3).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        println!(
            "store benchmark: {events} events of ~{} bytes in batches of {batch}, median of {runs} runs",
            payload_size()
        );
        let mut lines = Vec::new();
        let mut databases = 0;
        let mut fresh_sqlite = || {
            databases += 1;
            Ok(format!("sqlite://{}", dir.path().join(format!("{databases}.db")).display()))
        };
        lines.push(run_backend("sqlite", &mut fresh_sqlite, events, batch, runs).await?);
        match std::env::var("BENCH_PG") {
            Ok(admin) => {
                let mut fresh_pg = || Ok(admin.clone());
                lines.push(run_backend("postgres", &mut fresh_pg, events, batch, runs).await?);
            }
            Err(_) => println!("postgres: skipped (set BENCH_PG, or run `make bench`)"),
        }
        for line in lines {
            println!("{line}");
        }
        Ok(())
    })
}

type Fresh<'a> = dyn FnMut() -> Result<String, Box<dyn std::error::Error>> + 'a;

async fn run_backend(
    backend: &str,
    fresh: &mut Fresh<'_>,
    events: usize,
    batch: usize,
    runs: usize,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut plain = Vec::new();
    let mut store = Vec::new();
    for _ in 0..runs {
        let plain_url = fresh_database(backend, fresh()?).await?;
        // The plain loop writes a schema the store created, so both write
        // the same tables and indexes.
        drop(open(&plain_url, StoreOptions::default()).await?);
        let figures = match backend {
            "sqlite" => plain_sqlite(&plain_url, events, batch).await?,
            _ => plain_postgres(&plain_url, events, batch).await?,
        };
        report(backend, "plain sqlx", &figures);
        plain.push(figures);

        let store_url = fresh_database(backend, fresh()?).await?;
        let opened = open(&store_url, StoreOptions::default()).await?;
        let figures = through_store(&*opened, events, batch).await?;
        report(backend, "store", &figures);
        store.push(figures);
    }
    let (plain, store) = (median(&plain), median(&store));
    let append_ratio = store.append_eps / plain.append_eps;
    let read_ratio = store.read_eps / plain.read_eps;
    println!(
        "{backend:>8} medians: plain append {:.0}/s read {:.0}/s; store append {:.0}/s read {:.0}/s; ratio store/plain: append {append_ratio:.2}, read {read_ratio:.2}",
        plain.append_eps, plain.read_eps, store.append_eps, store.read_eps
    );
    Ok(format!(
        "BENCH store {backend} append_eps={:.0} read_eps={:.0} append_ratio={append_ratio:.2} read_ratio={read_ratio:.2}",
        store.append_eps, store.read_eps
    ))
}

fn median(runs: &[Figures]) -> Figures {
    let middle = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    Figures {
        append_eps: middle(runs.iter().map(|f| f.append_eps).collect()),
        read_eps: middle(runs.iter().map(|f| f.read_eps).collect()),
    }
}

/// A new empty database: SQLite gets a new file, PostgreSQL a new database
/// on the server `base` names.
async fn fresh_database(backend: &str, base: String) -> Result<String, Box<dyn std::error::Error>> {
    if backend == "sqlite" {
        return Ok(base);
    }
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let server = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(server, _)| server);
    Ok(format!("{server}/{name}"))
}

fn report(backend: &str, what: &str, figures: &Figures) {
    println!(
        "{backend:>8} {what:>10}: append {:>9.0} events/s, read {:>9.0} events/s",
        figures.append_eps, figures.read_eps
    );
}

fn payload() -> serde_json::Value {
    json!({
        "case_id": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "customer": { "name": "王小明", "phone": "13800138000", "buyer_id": "tb_wangxm_2024" },
        "order_no": "TB20261122000123456",
        "product": { "name": "智能电饭煲 IH-40", "model": "IH-40B", "serial": "SN8842017733" },
        "problem": "收到时外包装破损，内胆有划痕，客户要求换货",
        "priority": "P2",
        "channel": "phone"
    })
}

fn metadata() -> serde_json::Value {
    json!({ "actor_id": "agent-17", "actor_role": "agent", "schema_version": 1 })
}

fn payload_size() -> usize {
    payload().to_string().len() + metadata().to_string().len()
}

fn make_batch(batch: usize) -> Vec<NewEvent> {
    (0..batch)
        .map(|_| NewEvent::new("CaseRegistered", payload()).with_metadata(metadata()))
        .collect()
}

async fn through_store(
    store: &dyn EventStore,
    events: usize,
    batch: usize,
) -> Result<Figures, Box<dyn std::error::Error>> {
    let batches: Vec<Vec<NewEvent>> = (0..events / batch).map(|_| make_batch(batch)).collect();
    let started = Instant::now();
    for (i, events) in batches.into_iter().enumerate() {
        let stream = StreamName::new(format!("bench-{i}"))?;
        store
            .append(&stream, ExpectedRevision::NoStream, events)
            .await?;
    }
    let append = started.elapsed();

    let started = Instant::now();
    let mut read = 0;
    let mut from = 1;
    loop {
        let page = store.read_all(&AllQuery::forwards(from, batch)).await?;
        read += page.events.len();
        from = page.scanned_to + 1;
        if page.is_end {
            break;
        }
    }
    assert_eq!(
        read,
        events / batch * batch,
        "the store read back what it wrote"
    );
    Ok(figures(events / batch * batch, append, started.elapsed()))
}

fn figures(events: usize, append: Duration, read: Duration) -> Figures {
    Figures {
        append_eps: events as f64 / append.as_secs_f64(),
        read_eps: events as f64 / read.as_secs_f64(),
    }
}

/// A row as the plain loop reads it: every column, owned.
#[allow(dead_code)]
struct PlainRow {
    position: i64,
    event_id: String,
    stream_name: String,
    revision: i64,
    event_type: String,
    data: String,
    metadata: String,
    recorded_at: i64,
}

async fn plain_sqlite(
    url: &str,
    events: usize,
    batch: usize,
) -> Result<Figures, Box<dyn std::error::Error>> {
    let options = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()?
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let data = payload().to_string();
    let meta = metadata().to_string();
    let batches = events / batch;
    let started = Instant::now();
    let mut position = 0i64;
    for b in 0..batches {
        let mut tx = conn.begin().await?;
        let stream = format!("bench-{b}");
        for chunk in (0..batch).collect::<Vec<_>>().chunks(1_000) {
            let mut insert = QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO events (position, event_id, stream_name, revision, category, event_type, data, metadata, recorded_at) ",
            );
            insert.push_values(chunk, |mut values, revision| {
                position += 1;
                values
                    .push_bind(position)
                    .push_bind(uuid::Uuid::now_v7().hyphenated().to_string())
                    .push_bind(stream.clone())
                    .push_bind(*revision as i64)
                    .push_bind("bench")
                    .push_bind("CaseRegistered")
                    .push_bind(data.clone())
                    .push_bind(meta.clone())
                    .push_bind(chrono::Utc::now().timestamp_micros());
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    let append = started.elapsed();
    let started = Instant::now();
    let mut after = 0i64;
    let mut read = 0;
    loop {
        let rows: Vec<PlainRow> = sqlx::query(
            "SELECT position, event_id, stream_name, revision, event_type, data, metadata, recorded_at
             FROM events WHERE position > ? ORDER BY position LIMIT ?",
        )
        .bind(after)
        .bind(batch as i64)
        .fetch_all(&mut conn)
        .await?
        .iter()
        .map(|r| PlainRow {
            position: r.get(0),
            event_id: r.get(1),
            stream_name: r.get(2),
            revision: r.get(3),
            event_type: r.get(4),
            data: r.get(5),
            metadata: r.get(6),
            recorded_at: r.get(7),
        })
        .collect();
        let Some(last) = rows.last() else { break };
        after = last.position;
        read += rows.len();
    }
    assert_eq!(read, batches * batch);
    Ok(figures(batches * batch, append, started.elapsed()))
}

/// A row as the plain loop reads it from PostgreSQL: JSON kept as text.
type PgPlainRow = (
    i64,
    uuid::Uuid,
    String,
    i64,
    String,
    sqlx::types::Json<Box<serde_json::value::RawValue>>,
    sqlx::types::Json<Box<serde_json::value::RawValue>>,
    chrono::DateTime<chrono::Utc>,
);

async fn plain_postgres(
    url: &str,
    events: usize,
    batch: usize,
) -> Result<Figures, Box<dyn std::error::Error>> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let data = payload().to_string();
    let meta = metadata().to_string();
    let batches = events / batch;
    let started = Instant::now();
    let mut position = 0i64;
    for b in 0..batches {
        let mut tx = conn.begin().await?;
        let stream = format!("bench-{b}");
        let positions: Vec<i64> = (0..batch)
            .map(|_| {
                position += 1;
                position
            })
            .collect();
        let ids: Vec<uuid::Uuid> = (0..batch).map(|_| uuid::Uuid::now_v7()).collect();
        let revisions: Vec<i64> = (0..batch as i64).collect();
        sqlx::query(
            "INSERT INTO events (position, event_id, stream_name, revision, category, event_type, data, metadata, recorded_at)
             SELECT p, i, $3, r, 'bench', 'CaseRegistered', $5::jsonb, $6::jsonb, now()
             FROM UNNEST($1::bigint[], $2::uuid[], $4::bigint[]) AS u(p, i, r)",
        )
        .bind(&positions)
        .bind(&ids)
        .bind(&stream)
        .bind(&revisions)
        .bind(&data)
        .bind(&meta)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    let append = started.elapsed();
    let started = Instant::now();
    let mut after = 0i64;
    let mut read = 0;
    loop {
        let rows = sqlx::query(
            "SELECT position, event_id, stream_name, revision, event_type, data, metadata, recorded_at
             FROM events WHERE position > $1 ORDER BY position LIMIT $2",
        )
        .bind(after)
        .bind(batch as i64)
        .fetch_all(&mut conn)
        .await?;
        let decoded: Vec<PgPlainRow> = rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                )
            })
            .collect();
        let Some(last) = decoded.last() else { break };
        after = last.0;
        read += decoded.len();
    }
    assert_eq!(read, batches * batch);
    Ok(figures(batches * batch, append, started.elapsed()))
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}
