//! The command benchmark's workload (`crates/aftersales-commands/benches`)
//! through cqrs-es 0.5 and its SQLite and PostgreSQL event repositories, so
//! that the product's figure has a peer measured on the same machine in
//! the same run.
//!
//! The aggregate is the product's own case: cqrs-es loads its events,
//! the product's `decide` and `evolve` handle the command, cqrs-es appends
//! the events with its optimistic check on the sequence. Both stores commit
//! durably (SQLite WAL with `synchronous=FULL`, PostgreSQL's defaults).
//! cqrs-es replays a case's whole stream for every command (the product
//! keeps its state in a cache), so at low concurrency, where each client's
//! stream grows long, the peer runs fewer commands per level
//! (`BENCH_PEER_COMMANDS`, default 5,000): shorter streams favour it.
//!
//!   cargo run --release -- [POSTGRES_ADMIN_URL]
//!   BENCH_CONCURRENCY  the levels, comma-separated (default 1,8,64)

use std::sync::Arc;
use std::time::Instant;

use aftersales_domain::case::{Case, CaseCommand, CaseEvent};
use aftersales_domain::{Aggregate as _, Context, DomainEvent as _, Policy};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, CqrsFramework, EventStore};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::{Connection, Executor};
use uuid::Uuid;

#[path = "../../../crates/aftersales-commands/benches/workload/mod.rs"]
mod workload;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The product's case as a cqrs-es aggregate. Snapshots are not used, so
/// the state is never serialised: it encodes as nothing.
#[derive(Debug, Default)]
struct PeerCase(Case);

impl Serialize for PeerCase {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for PeerCase {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer)?;
        Ok(Self::default())
    }
}

/// A command with the case it is for (the product's decisions need it).
struct PeerCommand {
    case_id: Uuid,
    command: CaseCommand,
}

/// The product's event, stored as cqrs-es stores any: type and payload.
#[derive(Debug, Clone, PartialEq)]
struct PeerEvent(CaseEvent);

#[derive(Serialize, Deserialize)]
struct StoredEvent {
    #[serde(rename = "type")]
    event_type: String,
    data: Box<serde_json::value::RawValue>,
}

impl Serialize for PeerEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let data = self.0.encode().map_err(serde::ser::Error::custom)?;
        StoredEvent {
            event_type: self.0.event_type().to_owned(),
            data: serde_json::value::RawValue::from_string(data)
                .map_err(serde::ser::Error::custom)?,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PeerEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredEvent::deserialize(deserializer)?;
        CaseEvent::decode(&stored.event_type, stored.data.get())
            .map(PeerEvent)
            .map_err(D::Error::custom)
    }
}

impl cqrs_es::DomainEvent for PeerEvent {
    fn event_type(&self) -> String {
        self.0.event_type().to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug)]
struct PeerError(String);

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerError {}

impl Aggregate for PeerCase {
    const TYPE: &'static str = "case";
    type Command = PeerCommand;
    type Event = PeerEvent;
    type Error = PeerError;
    type Services = Policy;

    async fn handle(
        &mut self,
        command: Self::Command,
        policy: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let actor = workload::agent();
        let ctx = Context {
            aggregate_id: command.case_id,
            now: chrono::Utc::now(),
            actor: &actor,
            policy,
        };
        let events = self
            .0
            .handle(&command.command, &ctx)
            .map_err(|e| PeerError(e.to_string()))?;
        for event in events {
            sink.write(PeerEvent(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.0.evolve(&event.0);
    }
}

fn main() -> BenchResult<()> {
    let commands = workload::count_from_env("BENCH_PEER_COMMANDS", 5_000)?;
    let levels = workload::concurrency_levels()?;
    let postgres = std::env::args().nth(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let mut lines = Vec::new();
        for &concurrency in &levels {
            let path = dir.path().join(format!("peer-{concurrency}.db"));
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(concurrency as u32)
                .connect_with(options)
                .await?;
            pool.execute(SQLITE_SCHEMA).await?;
            let cqrs = sqlite_es::sqlite_cqrs::<PeerCase>(pool, vec![], Policy::default());
            let cps = run_level(Arc::new(cqrs), concurrency, commands).await?;
            lines.push(format!(
                "BENCH peer cqrs-es sqlite concurrency={concurrency} cps={cps:.0}"
            ));
        }
        if let Some(admin) = postgres {
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            let server = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(server, _)| server);
            for &concurrency in &levels {
                let name = format!("bench_peer_{}", Uuid::new_v4().simple());
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await?;
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(concurrency as u32)
                    .connect(&format!("{server}/{name}"))
                    .await?;
                pool.execute(POSTGRES_SCHEMA).await?;
                let cqrs = postgres_es::postgres_cqrs::<PeerCase>(pool, vec![], Policy::default());
                let cps = run_level(Arc::new(cqrs), concurrency, commands).await?;
                lines.push(format!(
                    "BENCH peer cqrs-es postgres concurrency={concurrency} cps={cps:.0}"
                ));
            }
        }
        for line in lines {
            println!("{line}");
        }
        Ok(())
    })
}

/// `concurrency` clients, each on a case of its own registered first (not
/// measured), send the workload's commands one after the other.
async fn run_level<ES>(
    cqrs: Arc<CqrsFramework<PeerCase, ES>>,
    concurrency: usize,
    commands: usize,
) -> BenchResult<f64>
where
    ES: EventStore<PeerCase> + 'static,
    ES::AC: Send,
{
    let mut cases = Vec::new();
    for _ in 0..concurrency {
        let case_id = Uuid::now_v7();
        for command in [workload::registration().into(), workload::parcel().into()] {
            cqrs.execute(&case_id.to_string(), PeerCommand { case_id, command })
                .await
                .map_err(|e| e.to_string())?;
        }
        cases.push(case_id);
    }
    let per_client = commands / concurrency;
    let started = Instant::now();
    let mut clients = Vec::new();
    for case_id in cases {
        let cqrs = cqrs.clone();
        clients.push(tokio::spawn(async move {
            for i in 0..per_client {
                let command = workload::workload(i);
                cqrs.execute(&case_id.to_string(), PeerCommand { case_id, command })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        }));
    }
    for client in clients {
        client.await??;
    }
    Ok((per_client * concurrency) as f64 / started.elapsed().as_secs_f64())
}

/// The tables the cqrs-es repositories expect (from their own migrations).
const SQLITE_SCHEMA: &str = "CREATE TABLE events (
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    sequence INTEGER CHECK (sequence >= 0) NOT NULL,
    event_type TEXT NOT NULL,
    event_version TEXT NOT NULL,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
) STRICT";

const POSTGRES_SCHEMA: &str = "CREATE TABLE events (
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    sequence BIGINT CHECK (sequence >= 0) NOT NULL,
    event_type TEXT NOT NULL,
    event_version TEXT NOT NULL,
    payload JSON NOT NULL,
    metadata JSON NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
)";
