//! The read models' database is derived data: deleted while the service is
//! down, it is rebuilt at the next start, and the service answers reads as
//! before.

use std::process::Command;
use std::time::Duration;

use aftersales_tests::TestDb;
use serde_json::Value;

use crate::service::{cli, Service};
use crate::traffic::register_case;

const CASES: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_read_database_is_rebuilt_at_start_up_on_sqlite() {
    let _turn = crate::one_at_a_time().await;
    let db = TestDb::sqlite().await;
    let log = db.url.strip_prefix("sqlite://").unwrap().to_owned();
    let read = log.replace("events.db", "events.read.db");
    deleted_and_rebuilt(&db.url, || {
        assert!(
            std::path::Path::new(&read).exists(),
            "no {read} beside the log"
        );
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{read}{suffix}"));
        }
    })
    .await;
    assert!(
        std::path::Path::new(&read).exists(),
        "{read} was not made again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_read_schema_is_rebuilt_at_start_up_on_postgres() {
    let _turn = crate::one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let url = db.url.clone();
    deleted_and_rebuilt(&db.url, || {
        let status = Command::new("psql")
            .args([&url, "-q", "-c", "DROP SCHEMA read_models CASCADE"])
            .env("PGOPTIONS", "--client-min-messages=warning")
            .status()
            .expect("run psql");
        assert!(status.success());
    })
    .await;
}

async fn deleted_and_rebuilt(url: &str, delete: impl FnOnce()) {
    let mut service = Service::start(url, &[]).await;
    let mut ids = Vec::new();
    for n in 0..CASES {
        let sent = register_case(&format!("read-db-{n}"));
        let answer: Value = service
            .client
            .post(service.url(&sent.path))
            .bearer_auth(&service.token)
            .json(&sent.body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    service.wait_until_caught_up(Duration::from_secs(30)).await;
    let before = cli(url, &["reports", "work-log", "--format", "csv"]);
    service.stop();

    delete();
    service.restart().await;
    for id in &ids {
        let answer = service
            .client
            .get(service.url(&format!("/v1/cases/{id}")))
            .bearer_auth(&service.token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "case {id}");
    }
    service.wait_until_caught_up(Duration::from_secs(30)).await;
    let list: Value = service
        .client
        .get(service.url("/v1/cases?limit=100"))
        .bearer_auth(&service.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["cases"].as_array().map(Vec::len),
        Some(CASES),
        "{list}"
    );
    service.finish();
    assert_eq!(
        cli(url, &["reports", "work-log", "--format", "csv"]),
        before
    );
    cli(url, &["projections", "verify"]);
    cli(url, &["ledger", "check"]);
}
