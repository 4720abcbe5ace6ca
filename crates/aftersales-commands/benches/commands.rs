//! The command path under the after-sales workload: load the case (from the
//! handler's cache, else its stream), decide, append with the expected
//! revision. One client in sequence, then 8 and 64 concurrent clients, each
//! on a case of its own; commands/s, p50 and p99 latency, conflicts retried.
//!
//! cargo bench -p aftersales-commands --bench commands
//!   BENCH_COMMANDS  commands per concurrency level (default 20,000)
//!   BENCH_PG        postgres:// URL of a server to create a bench database on

use std::sync::Arc;
use std::time::{Duration, Instant};

use aftersales_commands::{Envelope, Handler, Policies, SystemClock};
use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::{Actor, Money, Policy, Role};
use aftersales_store::{open, EventStore, StoreOptions};
use chrono::Utc;
use sqlx::Connection;
use uuid::Uuid;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let commands: usize = std::env::var("BENCH_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let mut lines = Vec::new();
        // BENCH_UNSAFE_FAST=1 turns the disk syncs off, to tell CPU from disk.
        let options = StoreOptions {
            unsafe_fast: std::env::var("BENCH_UNSAFE_FAST").is_ok(),
            ..StoreOptions::default()
        };
        let sqlite = open(
            &format!("sqlite://{}", dir.path().join("commands.db").display()),
            options,
        )
        .await?;
        lines.extend(run_backend("sqlite", sqlite, commands).await?);
        if let Ok(admin) = std::env::var("BENCH_PG") {
            let name = format!("bench_commands_{}", Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            let server = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(server, _)| server);
            let postgres = open(&format!("{server}/{name}"), StoreOptions::default()).await?;
            lines.extend(run_backend("postgres", postgres, commands).await?);
        } else {
            println!("postgres: skipped (set BENCH_PG, or run `make bench`)");
        }
        for line in lines {
            println!("{line}");
        }
        Ok(())
    })
}

async fn run_backend(
    backend: &str,
    store: Arc<dyn EventStore>,
    commands: usize,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let handler = Arc::new(Handler::<Case>::new(
        store,
        Policies::fixed(Policy::default()),
        Arc::new(SystemClock),
    ));
    let mut lines = Vec::new();
    for concurrency in [1usize, 8, 64] {
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
        let cps = latencies.len() as f64 / elapsed.as_secs_f64();
        let p50 = millis(latencies[latencies.len() / 2]);
        let p99 = millis(latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]);
        println!("{backend:>8} concurrency {concurrency:>2}: {cps:>8.0} commands/s, p50 {p50:.2} ms, p99 {p99:.2} ms, conflicts retried {conflicts}");
        lines.push(format!("BENCH commands {backend} concurrency={concurrency} cps={cps:.0} p50_ms={p50:.2} p99_ms={p99:.2}"));
    }
    Ok(lines)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn agent() -> Actor {
    Actor::new("agent-bench", Role::Agent)
}

/// A day at the desk: calls, parcel chasing, contact attempts, hand-overs.
fn workload(i: usize) -> CaseCommand {
    match i % 4 {
        0 => LogCall {
            call_id: Uuid::now_v7(),
            direction: CallDirection::Outbound,
            with_customer: true,
            party_name: None,
            number: "13800138000".into(),
            called_at: Utc::now(),
            content: "告知快递已加急处理，预计明天送达".into(),
            product: Some("智能电饭煲".into()),
            fault: None,
            warranty: WarrantyStatus::InWarranty,
            outcome: CallOutcome::Connected,
            follow_up: FollowUpStatus::Notified,
        }
        .into(),
        1 => ChaseParcel {
            note: "已联系快递站点催派".into(),
        }
        .into(),
        2 => RecordContactAttempt {
            channel: AttemptChannel::Im,
            reached: true,
        }
        .into(),
        _ => AssignCase {
            agent_id: format!("agent-{}", i % 7),
        }
        .into(),
    }
}

fn registration() -> RegisterCase {
    RegisterCase {
        customer: Customer {
            name: "王小明".into(),
            phone: "13800138000".into(),
            address: Some("浙江省杭州市西湖区文三路 100 号".into()),
            email: None,
            buyer_id: Some("tb_wangxm".into()),
        },
        order: Some(Order {
            order_no: "TB20261122000123".into(),
            paid: Money::cny(39_900),
            paid_at: Utc::now(),
            postage: Some(Money::cny(1_000)),
            platform_state: PlatformState::SellerShipped,
            platform: None,
        }),
        product: Product {
            name: "智能电饭煲".into(),
            model: Some("IH-40B".into()),
            serial: None,
            purchase_date: None,
            purchase_channel: None,
        },
        problem: Problem {
            phenomenon: "快递三天未更新".into(),
            occurred_at: None,
            impact: None,
            notes: None,
        },
        channel: ContactChannel::Im,
        category: Category::Logistics,
        priority: Priority::P2,
        split_from: None,
        contacted_at: None,
    }
}

fn parcel() -> ReportParcelProblem {
    ReportParcelProblem {
        tracking_no: "YT1234567890".into(),
        carrier: "圆通".into(),
        class: ParcelClass::DifficultByCourier,
        note: None,
    }
}
