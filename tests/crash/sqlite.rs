use aftersales_store::{SqliteStore, StoreOptions};

use crate::{assert_log_holds, cycles, random_pause, Appender};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_appending_loses_no_acknowledged_event_and_keeps_the_file_sound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let url = format!("sqlite://{}", path.display());
    let mut acked = Vec::new();
    let runs = cycles("CRASH_SQLITE_CYCLES", 12);
    for run in 0..runs {
        let appender = Appender::start(&url, run);
        appender.wait_for_acks(1);
        random_pause(5, 250);
        acked.extend(appender.sigkill());

        let store = SqliteStore::open(&path, StoreOptions::default())
            .await
            .unwrap();
        let stored = assert_log_holds(&store, &acked).await;
        assert!(stored >= acked.len());
        assert_eq!(
            store.integrity_check().await.unwrap(),
            vec!["ok".to_owned()]
        );
    }
    eprintln!(
        "sqlite crash test: {runs} kills, {} acknowledged events, 0 lost",
        acked.len()
    );
}
