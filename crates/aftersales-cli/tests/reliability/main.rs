//! Reliability under faults and hostile input, against the real `aftersales
//! serve` process, real databases and real HTTP on loopback: the service
//! killed under load, the disk filled, the database stopped, paused and cut
//! off, hostile requests, and an online backup restored.
//!
//! Every test sends the canary customer (see [`service::CANARY_NAME`]) and
//! ends by searching the service's log for it.
//!
//! `make test` runs short versions; `make reliability` runs the long ones,
//! sized by the environment variables read through [`setting`].

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod backup;
mod connections;
mod crash;
mod disk_full;
mod hostile;
mod limits;
mod load;
mod outage;
mod poison;
mod proxy;
mod read_db;
mod service;
mod traffic;

use std::time::Duration;

use traffic::Traffic;

/// The tests load the machine and time how it recovers: one at a time.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// A size of a test, from the environment (long runs), else its default
/// (the short run in `make test`).
pub fn setting(variable: &str, default: u64) -> u64 {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Waits until `traffic` has more acknowledgements than `than`.
pub async fn wait_for_acks(traffic: &Traffic, than: usize, limit: Duration) -> Duration {
    let started = std::time::Instant::now();
    while traffic.acked_count() <= than {
        assert!(
            started.elapsed() < limit,
            "no command was acknowledged for {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Sends every unanswered command again, checks the log against what was
/// acknowledged, and waits for the read models to apply it all; returns
/// the number of events in the log.
pub async fn settle_and_verify(service: &service::Service, traffic: &Traffic) -> usize {
    traffic.retry_unanswered(Duration::from_secs(60)).await;
    let store = aftersales_store::open(&service.db, Default::default())
        .await
        .expect("open the store");
    let events = traffic.verify(&*store).await;
    service.wait_until_caught_up(Duration::from_secs(60)).await;
    events
}
