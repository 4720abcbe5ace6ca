//! PostgreSQL stopped, paused and cut off while the service is under load:
//! requests fail within the request timeout, readiness goes red and green
//! again, the service recovers by itself, nothing acknowledged is lost and
//! nothing is written twice.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aftersales_tests::OwnCluster;

use crate::proxy::CuttingProxy;
use crate::service::{cli, Service};
use crate::traffic::Traffic;
use crate::{setting, settle_and_verify, wait_for_acks};

/// The request timeout the service runs with here.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Waits until `/readyz` is red; returns how long it took.
async fn wait_until_unready(service: &Service) -> Duration {
    let started = Instant::now();
    while service.ready().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "readiness stayed green"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// Every process of the cluster (postmaster and backends).
fn cluster_pids(cluster: &OwnCluster) -> Vec<String> {
    let pid_file = cluster.dir.path().join("data/postmaster.pid");
    let postmaster = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| panic!("no {}", pid_file.display()));
    let children = Command::new("pgrep")
        .args(["-P", &postmaster])
        .output()
        .unwrap();
    let mut pids: Vec<String> = String::from_utf8_lossy(&children.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    pids.push(postmaster);
    pids
}

fn signal(pids: &[String], signal: &str) {
    let status = Command::new("kill")
        .arg(signal)
        .args(pids)
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_rides_out_database_outages() {
    let _turn = crate::one_at_a_time().await;
    let rounds = setting("RELIABILITY_OUTAGE_ROUNDS", 1);
    let cluster = Arc::new(
        tokio::task::spawn_blocking(OwnCluster::start)
            .await
            .unwrap(),
    );
    let proxy = CuttingProxy::start(cluster.port).await;
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", proxy.port);
    let timeout = TIMEOUT.as_secs().to_string();
    let service = Service::start(&url, &["--request-timeout", &timeout]).await;
    service.wait_until_ready(Duration::from_secs(30)).await;
    let traffic = Traffic::new(&service);
    let workers = traffic.start(8);
    let mut recoveries = Vec::new();

    for _ in 0..rounds {
        // Stopped.
        wait_for_acks(&traffic, traffic.acked_count(), Duration::from_secs(30)).await;
        let down = cluster.clone();
        tokio::task::spawn_blocking(move || down.stop())
            .await
            .unwrap();
        wait_until_unready(&service).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let up = cluster.clone();
        tokio::task::spawn_blocking(move || up.restart())
            .await
            .unwrap();
        recoveries.push((
            "stopped",
            service.wait_until_ready(Duration::from_secs(10)).await,
        ));
        wait_for_acks(&traffic, traffic.acked_count(), Duration::from_secs(10)).await;

        // Paused: the server holds every connection open and answers nothing.
        let pids = cluster_pids(&cluster);
        signal(&pids, "-STOP");
        wait_until_unready(&service).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        signal(&pids, "-CONT");
        recoveries.push((
            "paused",
            service.wait_until_ready(Duration::from_secs(10)).await,
        ));
        wait_for_acks(&traffic, traffic.acked_count(), Duration::from_secs(10)).await;

        // Cut off: every connection dropped mid-conversation, three times.
        for _ in 0..3 {
            proxy.cut();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let started = Instant::now();
        wait_for_acks(&traffic, traffic.acked_count(), Duration::from_secs(10)).await;
        service.wait_until_ready(Duration::from_secs(10)).await;
        recoveries.push(("cut", started.elapsed()));
    }
    traffic.stop(workers).await;
    let (failures, slowest_failure) = {
        let books = traffic.books.lock().unwrap();
        (books.failures.clone(), books.slowest_failure)
    };
    // A failed request took no longer than the timeout (and the client's
    // own connection set-up) to fail.
    assert!(
        slowest_failure < TIMEOUT + Duration::from_secs(2),
        "a request took {slowest_failure:?} to fail"
    );

    let events = settle_and_verify(&service, &traffic).await;
    service.finish();
    cli(&url, &["projections", "verify"]);
    let recoveries: Vec<String> = recoveries
        .iter()
        .map(|(what, took)| format!("{what}:{}ms", took.as_millis()))
        .collect();
    eprintln!(
        "reliability: postgres outages rounds={rounds} sent={} acknowledged={} failures={failures:?} slowest_failure_ms={} ready_again_after={recoveries:?} events={events} lost=0 duplicated=0",
        traffic.sent_count(),
        traffic.acked_count(),
        slowest_failure.as_millis(),
    );
}
