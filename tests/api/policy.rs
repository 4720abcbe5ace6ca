//! The shop's policy over HTTP: read by those who answer for the rules, put
//! in force by an administrator, and named by every decision taken under it.

use aftersales_domain::model::{Category, Priority};
use aftersales_domain::Policy;
use aftersales_tests::{on_both_backends, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use super::{problem_code, Service};

on_both_backends!(
    the_policy_in_force_is_readable_by_those_who_answer_for_it,
    a_new_policy_governs_the_decisions_after_it_and_names_them,
    a_policy_that_cannot_be_meant_is_refused_and_changes_nothing,
);

async fn put(service: &Service, token: &str, policy: &Policy) -> (StatusCode, Value) {
    let body = serde_json::to_value(policy).unwrap();
    let (status, _, answer) = service
        .send(Method::PUT, "/v1/policy", token, &[], Some(&body))
        .await;
    (status, answer)
}

/// The data and metadata of a case's registration.
async fn registered(service: &Service, id: Uuid) -> (Value, Value) {
    let (_, data, metadata) = service.case_events(id).await.swap_remove(0);
    (metadata, data)
}

async fn the_policy_in_force_is_readable_by_those_who_answer_for_it(db: TestDb) {
    let service = Service::start(db).await;
    let (status, body) = service.get("/v1/policy", &service.supervisor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["digest"], Policy::default().digest());
    assert_eq!(body["policy"]["sla"]["p1"]["first_response_hours"], 2);
    assert_eq!(body["policy"]["calendar"]["time_zone"], "Asia/Shanghai");
    assert_eq!(body["put_by"], "configuration");
    let (status, body) = service.get("/v1/policy", &service.agent).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Only an administrator puts one in force.
    let (status, body) = put(&service, &service.supervisor, &Policy::default()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

async fn a_new_policy_governs_the_decisions_after_it_and_names_them(db: TestDb) {
    let service = Service::start(db).await;
    let admin = service.admin().await;
    let before = service.register_as(Priority::P2, Category::Logistics).await;
    let (old_meta, old_data) = registered(&service, before).await;
    assert_eq!(old_meta["policy"], Policy::default().digest());

    let mut faster = Policy::default();
    faster.sla.p2.first_response_hours = 1;
    faster.sla.p2.round_the_clock = true;
    let (status, applied) = put(&service, &admin, &faster).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["digest"], faster.digest());
    assert!(applied["position"].as_u64().is_some(), "{applied}");

    let after = service.register_as(Priority::P2, Category::Logistics).await;
    let (new_meta, new_data) = registered(&service, after).await;
    assert_eq!(new_meta["policy"], faster.digest());
    let due = |data: &Value| {
        let registered: chrono::DateTime<chrono::Utc> =
            data["registered_at"].as_str().unwrap().parse().unwrap();
        let due: chrono::DateTime<chrono::Utc> = data["first_response_due"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        due - registered
    };
    // Round the clock, one hour: due an hour after registration, whenever that was.
    assert_eq!(due(&new_data), chrono::Duration::hours(1));
    // The earlier case keeps the deadline it was given.
    assert!(due(&old_data) >= chrono::Duration::hours(4), "{old_data}");

    // The same policy again records nothing.
    let (status, again) = put(&service, &admin, &faster).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["position"], Value::Null);

    let (status, history) = service.get("/v1/policy/history", &service.supervisor).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let policies = history["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[1]["previous"], Policy::default().digest());
    assert_eq!(policies[1]["put_by"], "admin-wang");
    // As of the first registration, the first policy was in force.
    let then = old_data["registered_at"].as_str().unwrap();
    let (status, as_of) = service
        .get(
            &format!("/v1/policy?as_of={}", urlencode(then)),
            &service.supervisor,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{as_of}");
    assert_eq!(as_of["digest"], Policy::default().digest());
}

async fn a_policy_that_cannot_be_meant_is_refused_and_changes_nothing(db: TestDb) {
    let service = Service::start(db).await;
    let admin = service.admin().await;
    let mut broken = Policy::default();
    broken.sla.p1.first_response_hours = 0;
    let (status, body) = put(&service, &admin, &broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "sla.p1.first_response_hours", "{body}");
    let mut body = serde_json::to_value(Policy::default()).unwrap();
    body["calendar"]["time_zone"] = "Mars/Olympus".into();
    let (status, _, answer) = service
        .send(Method::PUT, "/v1/policy", &admin, &[], Some(&body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(problem_code(&answer), "invalid-request");
    assert_eq!(answer["field"], "calendar.time_zone", "{answer}");
    let (_, history) = service.get("/v1/policy/history", &service.supervisor).await;
    assert_eq!(history["policies"].as_array().unwrap().len(), 1);
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
