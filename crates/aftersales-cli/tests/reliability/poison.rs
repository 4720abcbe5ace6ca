//! One bad event in the log, written around every check of the product,
//! while the service runs: the read models park it and go on, the service
//! stays ready, and operators retry, skip and reset from the command line
//! without restarting it.

use std::time::{Duration, Instant};

use aftersales_tests::{write_behind_the_api, TestDb};
use serde_json::Value;
use uuid::Uuid;

use crate::service::{cli, Service};
use crate::traffic::register_case;

/// The read models, as `projections status` names them.
const READ_MODELS: [&str; 5] = [
    "case_views",
    "ledger",
    "reports",
    "resource_views",
    "schedule",
];

async fn register(service: &Service, key: &str) -> String {
    let sent = register_case(key);
    let answer = service
        .client
        .post(service.url(&sent.path))
        .bearer_auth(&service.token)
        .json(&sent.body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    let body: Value = answer.json().await.unwrap();
    body["stream"]
        .as_str()
        .unwrap()
        .trim_start_matches("case-")
        .to_owned()
}

/// Waits until the case reads back through the API.
async fn readable(service: &Service, case: &str) {
    let started = Instant::now();
    loop {
        let answer = service
            .client
            .get(service.url(&format!("/v1/cases/{case}")))
            .bearer_auth(&service.token)
            .send()
            .await
            .unwrap();
        if answer.status().is_success() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "case {case} never became readable: {}",
            answer.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn parked(db: &str) -> Vec<Value> {
    let json = cli(db, &["projections", "parked", "--format", "json"]);
    serde_json::from_str(&json).unwrap()
}

async fn a_poison_event_parks_and_the_service_goes_on(db: &str) {
    let service = Service::start(db, &["--scheduler-interval", "1"]).await;
    let before = register(&service, "before").await;
    let poison = format!("case-{}", Uuid::now_v7());
    let position =
        write_behind_the_api(db, &poison, "CaseRegistered", r#"{"customer":"张三"}"#).await;
    let after = register(&service, "after").await;
    readable(&service, &before).await;
    readable(&service, &after).await;
    service.wait_until_caught_up(Duration::from_secs(30)).await;

    // Every read model parked it, and the service says so without failing.
    let parked_now = parked(db);
    assert_eq!(parked_now.len(), READ_MODELS.len(), "{parked_now:?}");
    assert!(parked_now.iter().all(|p| p["position"] == position));
    let ready = service
        .client
        .get(service.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["parked_events"]["case_views"], 1, "{body}");
    assert!(!body["warnings"].as_array().unwrap().is_empty(), "{body}");
    let metrics = service
        .client
        .get(service.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"aftersales_projection_parked_events{projection="ledger"} 1"#),
        "{metrics}"
    );
    let status = cli(db, &["projections", "status", "--format", "json"]);
    let status: Value = serde_json::from_str(&status).unwrap();
    for line in status.as_array().unwrap() {
        assert_eq!(
            (line["parked"].as_u64(), line["lag_events"].as_u64()),
            (Some(1), Some(0)),
            "{line}"
        );
    }

    // A retry with today's code leaves it parked and says so.
    let retry = crate::service::cli_output(db, &["projections", "retry", "case_views"]);
    assert!(!retry.status.success());
    assert!(String::from_utf8_lossy(&retry.stdout).contains("still parked"));

    // Skipped for good by each read model; the service stays ready and the
    // read models equal a rebuild.
    for name in READ_MODELS {
        cli(
            db,
            &[
                "projections",
                "skip",
                name,
                "--position",
                &position.to_string(),
                "--reason",
                "registration written by hand",
                "--by",
                "ops-li",
            ],
        );
    }
    assert!(parked(db).is_empty());
    let skips = cli(db, &["events", "read", "readmodel-case_views", "--json"]);
    assert!(
        skips.contains("ParkedEventSkipped") && skips.contains("ops-li"),
        "{skips}"
    );
    assert!(service.ready().await);

    // A reset from the command line is picked up by the running service,
    // with no new event to wake it (the skips' records are behind it).
    service.wait_until_caught_up(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    cli(db, &["projections", "reset", "case_views"]);
    service.wait_until_caught_up(Duration::from_secs(30)).await;
    readable(&service, &before).await;
    readable(&service, &after).await;
    cli(db, &["projections", "verify"]);
    service.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_parks_and_the_service_goes_on_on_sqlite() {
    let _turn = crate::one_at_a_time().await;
    let db = TestDb::sqlite().await;
    a_poison_event_parks_and_the_service_goes_on(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_parks_and_the_service_goes_on_on_postgres() {
    let _turn = crate::one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    a_poison_event_parks_and_the_service_goes_on(&db.url).await;
}
