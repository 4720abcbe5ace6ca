//! How soon a write is readable: registrations and logged calls sent over
//! HTTP at a fixed rate to `aftersales serve`, and for each command
//! answered 2xx, the time until a read of its case that asks for the
//! command's position (`X-Min-Log-Position`) is answered. Prints
//!
//!   BENCH visibility <backend> rate=<n> p50_ms=<n> p99_ms=<n> commands=<n> errors=<n>
//!
//! on SQLite, and on PostgreSQL when `BENCH_PG` names a server (a database
//! is created on it). Knobs: `BENCH_VISIBILITY_RATE` (1000 a second),
//! `BENCH_VISIBILITY_SECONDS` (20).

#![allow(clippy::unwrap_used)] // a benchmark that cannot unwrap has failed

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aftersales_domain::case::LogCall;
use aftersales_domain::model::{
    CallDirection, CallOutcome, Category, FollowUpStatus, PlatformState, Priority, WarrantyStatus,
};
use aftersales_tests::desk::registration;
use rand::Rng;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aftersales");
/// Cases the logged calls go to, registered before the clock starts.
const OPEN_CASES: usize = 200;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rate = setting("BENCH_VISIBILITY_RATE", 1000);
    let seconds = setting("BENCH_VISIBILITY_SECONDS", 20);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("a folder");
    let sqlite = format!("sqlite://{}", dir.path().join("visibility.db").display());
    runtime.block_on(bench("sqlite", &sqlite, rate, seconds));
    if let Ok(admin) = std::env::var("BENCH_PG") {
        let name = format!("bench_visibility_{}", std::process::id());
        let created = Command::new("psql")
            .args([&admin, "-q", "-c", &format!("CREATE DATABASE {name}")])
            .status()
            .expect("run psql");
        assert!(created.success(), "CREATE DATABASE {name}");
        let url = format!("{}/{name}", admin.rsplit_once('/').expect("a URL").0);
        runtime.block_on(bench("postgres", &url, rate, seconds));
    }
}

async fn bench(backend: &str, db: &str, rate: u64, seconds: u64) {
    let token = aftersales_tests::issue_key(BIN, db, "agent", "bench-visibility");
    let port = aftersales_tests::free_port();
    let service = Service(
        Command::new(BIN)
            .args([
                "--db",
                db,
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--rate-limit", "1000000", "--scheduler-interval", "0"])
            .stderr(Stdio::null())
            .spawn()
            .expect("start the service"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("a client");
    wait_until_up(&client, &base).await;

    let mut cases = Vec::with_capacity(OPEN_CASES);
    for _ in 0..OPEN_CASES {
        let answer = send(&client, &base, &token, "/v1/cases", register())
            .await
            .expect("a registration");
        cases.push(answer.case);
    }
    let cases = Arc::new(cases);
    let visible = Arc::new(Mutex::new(Vec::<Duration>::new()));
    // What went wrong, by kind: "command 503", "read 503", "read stale", ...
    let errors = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut tasks = Vec::new();
    for n in 0..rate * seconds {
        ticks.tick().await;
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        let (cases, visible, errors) = (cases.clone(), visible.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let (path, body) = if n % 2 == 0 {
                ("/v1/cases".to_owned(), register())
            } else {
                let case = &cases[rand::thread_rng().gen_range(0..cases.len())];
                (format!("/v1/cases/{case}/log-call"), call())
            };
            match command_then_read(&client, &base, &token, &path, body).await {
                Ok(took) => visible.lock().unwrap().push(took),
                Err(kind) => *errors.lock().unwrap().entry(kind).or_default() += 1,
            }
        }));
    }
    for task in tasks {
        task.await.expect("a task");
    }
    drop(service);
    let mut visible = visible.lock().unwrap().clone();
    visible.sort();
    let at = |share: f64| {
        visible
            .get(((visible.len() as f64 * share) as usize).min(visible.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let errors = errors.lock().unwrap().clone();
    println!(
        "BENCH visibility {backend} rate={rate} p50_ms={:.2} p99_ms={:.2} commands={} errors={}",
        at(0.50),
        at(0.99),
        visible.len(),
        errors.values().sum::<u64>()
    );
    if !errors.is_empty() {
        eprintln!("visibility {backend}: errors by kind {errors:?}");
    }
}

/// The time from a command's 2xx to the answer of a read of its case that
/// reflects it, or what failed.
async fn command_then_read(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> Result<Duration, String> {
    let answer = send(client, base, token, path, body).await?;
    let answered = Instant::now();
    let read = client
        .get(format!("{base}/v1/cases/{}", answer.case))
        .bearer_auth(token)
        .header("x-min-log-position", answer.position.to_string())
        .send()
        .await
        .map_err(|_| "read not answered".to_owned())?;
    if !read.status().is_success() {
        return Err(format!("read {}", read.status().as_u16()));
    }
    let view: Value = read.json().await.map_err(|_| "read not JSON".to_owned())?;
    if view["revision"].as_u64() >= Some(answer.revision) {
        Ok(answered.elapsed())
    } else {
        Err("read stale".to_owned())
    }
}

struct Answer {
    case: String,
    revision: u64,
    position: u64,
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> Result<Answer, String> {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|_| "command not answered".to_owned())?;
    if !response.status().is_success() {
        return Err(format!("command {}", response.status().as_u16()));
    }
    let answer: Value = response
        .json()
        .await
        .map_err(|_| "command answer not JSON".to_owned())?;
    let field = |name: &str| answer[name].clone();
    match (
        field("id").as_str(),
        field("revision").as_u64(),
        field("position").as_u64(),
    ) {
        (Some(case), Some(revision), Some(position)) => Ok(Answer {
            case: case.to_owned(),
            revision,
            position,
        }),
        _ => Err("command answer incomplete".to_owned()),
    }
}

fn register() -> Value {
    serde_json::to_value(registration(
        Priority::P2,
        Category::Logistics,
        PlatformState::SellerShipped,
    ))
    .expect("JSON")
}

fn call() -> Value {
    serde_json::to_value(LogCall {
        call_id: uuid::Uuid::new_v4(),
        direction: CallDirection::Outbound,
        with_customer: true,
        party_name: None,
        number: "13900001111".to_owned(),
        called_at: chrono::Utc::now(),
        content: "核实物流情况".to_owned(),
        product: None,
        fault: None,
        warranty: WarrantyStatus::InWarranty,
        outcome: CallOutcome::Connected,
        follow_up: FollowUpStatus::Notified,
    })
    .expect("JSON")
}

async fn wait_until_up(client: &reqwest::Client, base: &str) {
    for _ in 0..600 {
        if let Ok(answer) = client.get(format!("{base}/readyz")).send().await {
            if answer.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the service did not start");
}

/// The service, stopped when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
