//! Reads that see the caller's own writes: a case read back at once after
//! its registration, a read that waits for a position, and one that cannot.

use std::time::{Duration, Instant};

use aftersales_api::Limits;
use aftersales_domain::model::Category;
use aftersales_tests::{on_both_backends, TestDb};
use reqwest::{Method, StatusCode};

use super::{call, problem_code, Service};

on_both_backends!(
    a_case_is_readable_as_soon_as_its_registration_is_answered,
    a_read_waits_for_the_position_a_command_answered,
    a_read_asked_for_a_position_not_yet_written_says_so,
);

async fn a_case_is_readable_as_soon_as_its_registration_is_answered(db: TestDb) {
    // Two thousand requests as fast as they go: above the default rate a
    // key may send, which is not what this test is about.
    let limits = Limits {
        requests_per_second: 100_000.0,
        burst: 100_000.0,
        ..Limits::default()
    };
    let service = Service::start_with(db, limits).await;
    for round in 0..1_000 {
        let id = service.register(Category::Logistics).await;
        let (status, body) = service
            .get(&format!("/v1/cases/{id}"), &service.agent)
            .await;
        assert_eq!(status, StatusCode::OK, "round {round}: {body}");
        assert_eq!(body["case_id"], id.to_string(), "round {round}");
    }
}

async fn a_read_waits_for_the_position_a_command_answered(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    for round in 0..50 {
        let (status, _, answer) = service
            .post(
                &format!("/v1/cases/{id}/log-call"),
                &service.agent,
                &call("13900001111"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let position = answer["position"].as_u64().unwrap();
        let revision = answer["revision"].as_u64().unwrap();
        let (status, headers, view) = service
            .send(
                Method::GET,
                &format!("/v1/cases/{id}"),
                &service.agent,
                &[("x-min-log-position", &position.to_string())],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["revision"].as_u64(), Some(revision), "round {round}");
        let reflected: u64 = headers["x-log-position"].to_str().unwrap().parse().unwrap();
        assert!(reflected >= position, "{reflected} < {position}");
    }
    // Lists and reports say what they reflect too.
    for path in ["/v1/cases?limit=5", "/v1/reports/work-log"] {
        let (status, headers, body) = service
            .send(Method::GET, path, &service.supervisor, &[], None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(headers.contains_key("x-log-position"), "{path}");
    }
}

async fn a_read_asked_for_a_position_not_yet_written_says_so(db: TestDb) {
    // Nothing follows the log: what is written stays unread.
    let service = Service::start_without_read_models(db).await;
    let id = service.register(Category::Logistics).await;
    let head = service.store.head().await.unwrap().to_string();
    let started = Instant::now();
    let (status, headers, body) = service
        .send(
            Method::GET,
            "/v1/cases",
            &service.agent,
            &[("x-min-log-position", &head)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(problem_code(&body), "read-models-behind");
    assert!(headers.contains_key("retry-after"));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(10),
        "waited {waited:?}"
    );
    // The case registered is not "not found": it is not readable yet.
    let (status, body) = service
        .get(&format!("/v1/cases/{id}"), &service.agent)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // A position beyond the log, or no position at all, is the caller's
    // mistake, answered at once.
    let beyond = (service.store.head().await.unwrap() + 1).to_string();
    for position in [beyond.as_str(), "soon", "-1"] {
        let started = Instant::now();
        let (status, _, body) = service
            .send(
                Method::GET,
                "/v1/cases",
                &service.agent,
                &[("x-min-log-position", position)],
                None,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{position}: {body}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "{position}");
    }
    // Nobody unknown can make the service wait.
    let started = Instant::now();
    let (status, _, _) = service
        .send(
            Method::GET,
            "/v1/cases",
            "as_made_up",
            &[("x-min-log-position", &head)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() < Duration::from_secs(1));
}
