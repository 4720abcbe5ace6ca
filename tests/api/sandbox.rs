//! Rehearsing the rules on a sandbox store: an administrator sets its
//! clock to an evening and advances it across the night, and the SLA
//! deadlines and breaches fall where the calendar puts them. A store that
//! is not a sandbox refuses to have its clock set.

use std::sync::Arc;

use aftersales_api::ScheduleIndex;
use aftersales_commands::{Clock, Handler, Policies, Scheduler};
use aftersales_domain::case::Case;
use aftersales_domain::model::{Category, Priority};
use aftersales_tests::{on_both_backends, TestDb};
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{problem_code, Service};

on_both_backends!(
    a_sandbox_clock_moves_deadlines_and_breaches_where_the_calendar_puts_them,
    a_store_that_is_not_a_sandbox_refuses_to_have_its_clock_set,
);

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn set_clock(service: &Service, token: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, answer) = service
        .send(Method::POST, "/v1/clock", token, &[], Some(&body))
        .await;
    (status, answer)
}

fn due(events: &[(String, Value, Value)]) -> DateTime<Utc> {
    events[0].1["first_response_due"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn breached(events: &[(String, Value, Value)]) -> bool {
    events.iter().any(|(kind, _, _)| kind == "SlaBreached")
}

/// Within a second of `expected`: the clock runs on while the test does.
fn near(actual: DateTime<Utc>, expected: &str) {
    let off = (actual - t(expected)).abs();
    assert!(off < Duration::seconds(2), "{actual} is not {expected}");
}

async fn a_sandbox_clock_moves_deadlines_and_breaches_where_the_calendar_puts_them(db: TestDb) {
    let service = Service::start_sandbox(db).await;
    let admin = service.admin().await;
    let (status, body) = set_clock(
        &service,
        &service.supervisor,
        json!({"to": "2027-03-01T12:30:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Monday 20:30 in Shanghai, half an hour before the service closes.
    let (status, body) = set_clock(&service, &admin, json!({"to": "2027-03-01T12:30:00Z"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, reading) = service.get("/v1/clock", &service.agent).await;
    assert_eq!(reading["sandbox"], true);
    assert_eq!(reading["set_by_hand"], true);
    near(
        reading["now"].as_str().unwrap().parse().unwrap(),
        "2027-03-01T12:30:00Z",
    );

    // P1 runs round the clock: two hours. P2 runs on service hours: half
    // an hour tonight, three and a half from 09:00 tomorrow.
    let p1 = service.register_as(Priority::P1, Category::Logistics).await;
    let p2 = service.register_as(Priority::P2, Category::Logistics).await;
    let p1_events = service.case_events(p1).await;
    near(due(&p1_events), "2027-03-01T14:30:00Z");
    near(due(&service.case_events(p2).await), "2027-03-02T04:30:00Z");
    assert_eq!(
        p1_events[0].2["sandbox_clock"], true,
        "{:?}",
        p1_events[0].2
    );

    let sandbox = service.sandbox.clone().unwrap();
    let cases = Arc::new(Handler::<Case>::new(
        service.store.clone(),
        Policies::load(service.store.as_ref()).await.unwrap(),
        sandbox.clone(),
    ));
    let scheduler = Scheduler::new(
        service.store.clone(),
        Arc::new(ScheduleIndex(service.read_db.clone())),
        cases,
        sandbox.clone(),
    );
    let advance = |minutes: u32| {
        let service = &service;
        let admin = &admin;
        async move {
            let (status, body) =
                set_clock(service, admin, json!({"advance_minutes": minutes})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    // The schedule read model must have seen the registrations.
    let head = service.store.head().await.unwrap().to_string();
    let (status, _, _) = service
        .send(
            Method::GET,
            "/v1/cases",
            &service.supervisor,
            &[("x-min-log-position", &head)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    advance(105).await; // 22:15 in Shanghai
    scheduler.run_once().await.unwrap();
    assert!(!breached(&service.case_events(p1).await));
    advance(30).await; // 22:45: P1's two hours are up
    scheduler.run_once().await.unwrap();
    let p1_events = service.case_events(p1).await;
    assert!(breached(&p1_events), "{p1_events:?}");
    assert!(!breached(&service.case_events(p2).await));

    // Across the night: P2 is not late at 12:00 tomorrow, and is at 12:31.
    advance(13 * 60 + 15).await;
    scheduler.run_once().await.unwrap();
    assert!(!breached(&service.case_events(p2).await));
    advance(31).await;
    scheduler.run_once().await.unwrap();
    let p2_events = service.case_events(p2).await;
    assert!(breached(&p2_events), "{p2_events:?}");
    let breach = p2_events
        .iter()
        .find(|(kind, _, _)| kind == "SlaBreached")
        .unwrap();
    near(
        breach.1["at"].as_str().unwrap().parse().unwrap(),
        "2027-03-02T04:31:00Z",
    );
    assert!(sandbox.now() > t("2027-03-02T04:31:00Z"));

    // The clock never goes back.
    let (status, body) = set_clock(&service, &admin, json!({"to": "2027-03-01T12:00:00Z"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "to");
}

async fn a_store_that_is_not_a_sandbox_refuses_to_have_its_clock_set(db: TestDb) {
    let service = Service::start(db).await;
    let admin = service.admin().await;
    let before = service.store.head().await.unwrap();
    for body in [
        json!({"to": "2030-01-01T00:00:00Z"}),
        json!({"advance_minutes": 60}),
    ] {
        let (status, answer) = set_clock(&service, &admin, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert_eq!(problem_code(&answer), "not-a-sandbox");
    }
    assert_eq!(
        service.store.head().await.unwrap(),
        before,
        "a refusal wrote"
    );
    let (_, reading) = service.get("/v1/clock", &service.agent).await;
    assert_eq!(reading["sandbox"], false);
    assert_eq!(reading["set_by_hand"], false);
}
