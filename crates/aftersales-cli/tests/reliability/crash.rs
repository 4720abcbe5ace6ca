//! The service killed with SIGKILL under load (SQLite), and the database
//! server killed in immediate mode under load (PostgreSQL).

use std::time::Duration;

use aftersales_tests::{OwnCluster, TestDb};
use rand::{Rng, SeedableRng};

use crate::service::{cli, Service};
use crate::traffic::Traffic;
use crate::{setting, settle_and_verify, wait_for_acks};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_killed_under_load_loses_and_repeats_nothing() {
    let _turn = crate::one_at_a_time().await;
    let cycles = setting("RELIABILITY_KILL_CYCLES", 5);
    let db = TestDb::sqlite().await;
    let mut service = Service::start(&db.url, &["--request-timeout", "2"]).await;
    let traffic = Traffic::new(&service);
    let mut workers = traffic.start(8);
    let mut rng = rand::rngs::StdRng::from_entropy();
    for _ in 0..cycles {
        wait_for_acks(&traffic, traffic.acked_count(), Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..400))).await;
        // Often in the middle of a read-model batch, whose commit is not
        // synced: the restarted runner applies it again.
        service.kill();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..200))).await;
        service.restart().await;
        traffic.stop(std::mem::take(&mut workers)).await;
        read_models_agree_with_the_log(&db.url);
        workers = traffic.start(8);
    }
    wait_for_acks(&traffic, traffic.acked_count(), Duration::from_secs(30)).await;
    traffic.stop(workers).await;
    let unanswered = traffic.books.lock().unwrap().unanswered.len();

    let events = settle_and_verify(&service, &traffic).await;
    service.finish();
    read_models_agree_with_the_log(&db.url);
    eprintln!(
        "reliability: sqlite kill cycles={cycles} sent={} acknowledged={} unanswered_then_retried={unanswered} events={events} lost=0 duplicated=0",
        traffic.sent_count(),
        traffic.acked_count(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_killed_under_load_loses_and_repeats_nothing() {
    let _turn = crate::one_at_a_time().await;
    let cycles = setting("RELIABILITY_PG_KILL_CYCLES", 3);
    let cluster = tokio::task::spawn_blocking(OwnCluster::start)
        .await
        .unwrap();
    let url = cluster.url();
    let service = Service::start(&url, &["--request-timeout", "2"]).await;
    let traffic = Traffic::new(&service);
    let mut workers = traffic.start(8);
    let mut rng = rand::rngs::StdRng::from_entropy();
    let cluster = std::sync::Arc::new(cluster);
    let mut slowest_recovery = Duration::ZERO;
    for _ in 0..cycles {
        wait_for_acks(&traffic, traffic.acked_count(), Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..400))).await;
        let down = cluster.clone();
        tokio::task::spawn_blocking(move || down.kill())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..500))).await;
        let up = cluster.clone();
        tokio::task::spawn_blocking(move || up.restart())
            .await
            .unwrap();
        // The service finds the database again by itself.
        let recovery =
            wait_for_acks(&traffic, traffic.acked_count(), Duration::from_secs(30)).await;
        slowest_recovery = slowest_recovery.max(recovery);
        traffic.stop(std::mem::take(&mut workers)).await;
        read_models_agree_with_the_log(&url);
        workers = traffic.start(8);
    }
    traffic.stop(workers).await;
    let unanswered = traffic.books.lock().unwrap().unanswered.len();

    let events = settle_and_verify(&service, &traffic).await;
    service.finish();
    read_models_agree_with_the_log(&url);
    eprintln!(
        "reliability: postgres kill cycles={cycles} sent={} acknowledged={} unanswered_then_retried={unanswered} events={events} slowest_recovery_ms={} lost=0 duplicated=0",
        traffic.sent_count(),
        traffic.acked_count(),
        slowest_recovery.as_millis(),
    );
}

/// The read models, which commit without syncing, equal a rebuild from the
/// log, and the ledger balances: whatever a kill cut short was applied
/// again, once.
fn read_models_agree_with_the_log(url: &str) {
    cli(url, &["projections", "verify"]);
    cli(url, &["ledger", "check"]);
}
