//! Commands at a fixed rate (not as fast as the server answers): every one
//! answered 2xx, with the latency each one saw. `make soak` runs the long
//! version with oha.

use std::time::{Duration, Instant};

use aftersales_tests::TestDb;

use crate::service::Service;
use crate::setting;
use crate::traffic::register_case;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_at_a_fixed_rate_are_all_answered() {
    let _turn = crate::one_at_a_time().await;
    let rate = setting("RELIABILITY_RATE", 200);
    let seconds = setting("RELIABILITY_SECONDS", 5);
    let db = TestDb::sqlite().await;
    let service = Service::start(&db.url, &[]).await;
    let rss_before = service.rss_kib();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut requests = Vec::new();
    for n in 0..rate * seconds {
        // The time the request was due, not when it got sent: a stalled
        // server cannot hide its stalls (no coordinated omission).
        let due = started + Duration::from_secs(1) * n as u32 / rate as u32;
        ticks.tick().await;
        let client = service.client.clone();
        let url = service.url("/v1/cases");
        let token = service.token.clone();
        let body = register_case(&format!("rate-{n}")).body;
        requests.push(tokio::spawn(async move {
            let status = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            (status, due.elapsed())
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for request in requests {
        let (status, latency) = request.await.unwrap();
        if !(200..300).contains(&status) {
            failed += 1;
        }
        latencies.push(latency);
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    let rss_after = service.rss_kib();
    eprintln!(
        "reliability: fixed rate {rate}/s for {seconds} s requests={} non_2xx={failed} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} rss_kib={rss_before}->{rss_after}",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    assert_eq!(failed, 0, "requests not answered 2xx at {rate}/s");
    service.finish();
}
