//! A well-behaved client while others hammer the service: anonymous idle
//! connections, live streams replaying the log from its start, reports "as
//! of" a past position, and made-up tokens. Its commands must all be
//! answered, and the figures (p50, p99) go to docs/reliability.md.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aftersales_tests::TestDb;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::service::{cli, issue_key, Service};
use crate::setting;
use crate::traffic::register_case;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_clients_leave_a_well_behaved_one_served() {
    let _turn = crate::one_at_a_time().await;
    let idle = setting("RELIABILITY_IDLE_CONNECTIONS", 200) as usize;
    let streams = setting("RELIABILITY_STREAMS", 50) as usize;
    let replays = setting("RELIABILITY_REPLAYS", 10) as usize;
    let seconds = setting("RELIABILITY_HOSTILE_SECONDS", 5);
    let db = TestDb::sqlite().await;
    cli(&db.url, &["demo", "seed", "--cases", "200"]);
    let head: u64 = cli(
        &db.url,
        &[
            "events",
            "read",
            "$all",
            "--backwards",
            "--limit",
            "1",
            "--json",
        ],
    )
    .lines()
    .next()
    .and_then(|line| serde_json::from_str::<serde_json::Value>(line).ok())
    .and_then(|event| event["position"].as_u64())
    .unwrap();
    // The rate limit every key has by default, the hostile ones included.
    let service = Service::start(&db.url, &["--rate-limit", "200"]).await;
    let address = service.url("").trim_start_matches("http://").to_owned();
    let watcher = issue_key(&db.url, "supervisor", "hostile-watcher");
    let reporter = issue_key(&db.url, "agent", "hostile-reporter");
    // The well-behaved client was at work before the others came: its
    // key is one the service has seen valid. (A key first used from an
    // address that is guessing tokens at that moment waits its turn.)
    let warm = service
        .client
        .get(service.url("/v1/cases?limit=1"))
        .bearer_auth(&service.token)
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status().as_u16(), 200);
    let stop = Arc::new(AtomicBool::new(false));
    let mut hostile = Vec::new();

    // Idle connections that never send a byte, reopened when closed.
    for _ in 0..idle {
        let (address, stop) = (address.clone(), stop.clone());
        hostile.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut stream) = TcpStream::connect(&address).await {
                    let mut sink = Vec::new();
                    let _ = tokio::time::timeout(
                        Duration::from_secs(30),
                        stream.read_to_end(&mut sink),
                    )
                    .await;
                } else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    // Live streams replaying the whole log, one key.
    let refused = Arc::new(AtomicUsize::new(0));
    for _ in 0..streams {
        let (client, url, token, stop, refused) = (
            service.client.clone(),
            service.url("/v1/events/stream"),
            watcher.clone(),
            stop.clone(),
            refused.clone(),
        );
        hostile.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match client.get(&url).bearer_auth(&token).send().await {
                    Ok(mut response) if response.status().is_success() => {
                        while !stop.load(Ordering::Relaxed) {
                            match response.chunk().await {
                                Ok(Some(_)) => {}
                                _ => break,
                            }
                        }
                    }
                    Ok(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }));
    }
    // Reports as of ever other positions, one key.
    for n in 0..replays {
        let (client, token, stop, refused) = (
            service.client.clone(),
            reporter.clone(),
            stop.clone(),
            refused.clone(),
        );
        let url = service.url("/v1/reports/work-log");
        hostile.push(tokio::spawn(async move {
            let mut position = 1 + n as u64;
            while !stop.load(Ordering::Relaxed) {
                let answer = client
                    .get(format!("{url}?position={}", position % head + 1))
                    .bearer_auth(&token)
                    .send()
                    .await;
                if answer.is_ok_and(|a| a.status().as_u16() == 429) {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                position += replays as u64;
            }
        }));
    }
    // Made-up tokens.
    {
        let (client, url, stop) = (
            service.client.clone(),
            service.url("/v1/cases"),
            stop.clone(),
        );
        hostile.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = client
                    .get(&url)
                    .bearer_auth(format!("as_guess_{n}"))
                    .send()
                    .await;
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The well-behaved client: registrations one after another.
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        let sent = register_case(&format!("calm-{n}"));
        n += 1;
        let began = Instant::now();
        let answer = service
            .client
            .post(service.url(&sent.path))
            .bearer_auth(&service.token)
            .header("idempotency-key", &sent.key)
            .json(&sent.body)
            .send()
            .await;
        latencies.push(began.elapsed());
        match answer {
            Ok(answer) if answer.status().as_u16() == 201 => {}
            Ok(answer) => failures.push(answer.status().as_u16().to_string()),
            Err(error) => failures.push(error.to_string()),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in hostile {
        task.abort();
    }
    latencies.sort();
    let at = |share: f64| {
        latencies[((latencies.len() as f64 * share) as usize).min(latencies.len() - 1)]
    };
    eprintln!(
        "reliability: hostile idle_connections={idle} streams={streams} replays={replays} \
         commands={} failed={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} hostile_refused={}",
        latencies.len(),
        failures.len(),
        at(0.50).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
        refused.load(Ordering::Relaxed)
    );
    assert!(
        failures.is_empty(),
        "well-behaved commands failed: {failures:?}"
    );
    service.finish();
}
