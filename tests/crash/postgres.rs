use std::time::Duration;

use aftersales_store::{open, StoreOptions};
use aftersales_tests::OwnCluster;

use crate::{assert_log_holds, cycles, random_pause, Appender};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_database_stop_while_appending_loses_no_acknowledged_event() {
    let cluster = OwnCluster::start();
    let url = cluster.url();
    // The schema exists before the appender starts.
    drop(open(&url, StoreOptions::default()).await.unwrap());

    let appender = Appender::start(&url, 0);
    let runs = cycles("CRASH_PG_CYCLES", 3);
    for _ in 0..runs {
        appender.wait_for_acks(appender.acked_count() + 20);
        random_pause(5, 250);
        cluster.kill();
        tokio::time::sleep(Duration::from_millis(200)).await;
        cluster.restart();
    }
    // The appender retries its interrupted appends with the same ids and
    // carries on once the server is back.
    appender.wait_for_acks(appender.acked_count() + 20);
    let acked = appender.sigkill();

    let store = open(&url, StoreOptions::default()).await.unwrap();
    assert_log_holds(&*store, &acked).await;
    eprintln!(
        "postgres crash test: {runs} immediate stops, {} acknowledged events, 0 lost",
        acked.len()
    );
}
