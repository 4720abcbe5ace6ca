//! What an outside probe of a running service found at the HTTP doors,
//! each kept shut by a test through real HTTP.

use std::time::Duration;

use aftersales_api::Naming;
use aftersales_domain::model::Category;
use aftersales_domain::Role;
use aftersales_tests::{on_both_backends, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{problem_code, Service};
use aftersales_api::Limits;

on_both_backends!(
    the_bearer_scheme_is_case_insensitive,
    a_key_name_is_held_by_one_live_key_and_not_passed_on,
    a_platform_refund_deadline_in_the_past_is_refused,
    merge_and_split_need_real_targets,
    an_overflowing_last_event_id_is_refused,
    money_and_bodies_say_one_thing_only,
    revoking_a_key_ends_its_open_event_stream,
    nothing_tells_a_caller_what_it_may_not_see,
    a_case_goes_only_to_those_who_handle_cases,
    personal_data_in_the_feed_is_masked_and_free_text_redacted,
    a_replay_costs_its_key_more_than_a_request,
);

async fn the_bearer_scheme_is_case_insensitive(db: TestDb) {
    let service = Service::start(db).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = service
            .http
            .get(format!("{}/v1/cases", service.base))
            .header("authorization", format!("{scheme} {}", service.agent))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
}

async fn a_key_name_is_held_by_one_live_key_and_not_passed_on(db: TestDb) {
    let service = Service::start(db).await;
    // An agent's key named like the supervisor would pass for them in the
    // approver-is-not-the-requester rule.
    let taken = service
        .access
        .create_key("lead-zhang", Role::Agent, None, Naming::New)
        .await;
    assert!(taken.is_err(), "a second live key took a name");
    let temp = service
        .access
        .create_key("temp-wang", Role::Agent, None, Naming::New)
        .await
        .unwrap();
    service.access.revoke_key(&temp.info.id).await.unwrap();
    let passed_on = service
        .access
        .create_key("temp-wang", Role::Supervisor, None, Naming::New)
        .await;
    assert!(passed_on.is_err(), "a revoked key's name went to a new key");
    let reissued = service
        .access
        .create_key("temp-wang", Role::Agent, None, Naming::Reissue)
        .await
        .unwrap();
    let (status, _) = service.get("/v1/cases", &reissued.token).await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_platform_refund_deadline_in_the_past_is_refused(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    // A key limited to categories acts on a case its read model shows.
    service.view(id, &service.agent, 0).await;
    let refund_id = Uuid::new_v4();
    let request = json!({
        "refund_id": refund_id, "kind": "not_received",
        "amount": {"minor": 29_900, "currency": "CNY"}, "reason": "未收到"
    });
    let (status, _, body) = service
        .post(
            &format!("/v1/cases/{id}/request-refund"),
            &service.courier_feed,
            &request,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let path = format!("/v1/cases/{id}/record-platform-refund-deadline");
    let head = service.store.head().await.unwrap();
    let past = json!({"refund_id": refund_id, "deadline": "2000-01-01T00:00:00Z"});
    let (status, _, body) = service.post(&path, &service.agent, &past).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "deadline", "{body}");
    // The integration that asked for the refund may not time it.
    let ahead = json!({"refund_id": refund_id, "deadline": "2099-01-01T00:00:00Z"});
    let (status, _, body) = service.post(&path, &service.courier_feed, &ahead).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        service.store.head().await.unwrap(),
        head,
        "a refusal appended"
    );
    let (status, _, body) = service.post(&path, &service.agent, &ahead).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn merge_and_split_need_real_targets(db: TestDb) {
    let service = Service::start(db).await;
    let case = service.register(Category::Logistics).await;
    let other = service.register(Category::Logistics).await;
    let elsewhere = service.register(Category::ProductQuality).await;
    // A key limited to categories acts on cases its read model shows.
    for id in [case, elsewhere] {
        service.view(id, &service.agent, 0).await;
    }
    let head = service.store.head().await.unwrap();
    let merge = format!("/v1/cases/{case}/merge-case");
    for (token, survivor) in [
        (&service.agent, Uuid::new_v4()),
        // Outside the categories the key acts on: as if it did not exist.
        (&service.courier_feed, elsewhere),
    ] {
        let (status, _, body) = service
            .post(&merge, token, &json!({"survivor": survivor}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "survivor", "{body}");
    }
    let split = json!({"new_case_id": other, "reason": "两个问题分开处理"});
    let (status, _, body) = service
        .post(
            &format!("/v1/cases/{case}/split-case"),
            &service.agent,
            &split,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "new_case_id", "{body}");
    assert_eq!(
        service.store.head().await.unwrap(),
        head,
        "a refusal appended"
    );
    let (status, _, body) = service
        .post(&merge, &service.agent, &json!({"survivor": other}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn an_overflowing_last_event_id_is_refused(db: TestDb) {
    let service = Service::start(db).await;
    service.register(Category::Logistics).await;
    for header in [
        ("last-event-id", "18446744073709551615"),
        ("last-event-id", "999999"),
    ] {
        let response = service
            .http
            .get(format!("{}/v1/events/stream", service.base))
            .bearer_auth(&service.supervisor)
            .header(header.0, header.1)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["field"], "Last-Event-ID", "{body}");
    }
}

async fn money_and_bodies_say_one_thing_only(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    let path = format!("/v1/cases/{id}/request-refund");
    let head = service.store.head().await.unwrap();
    let unknown = json!({
        "refund_id": Uuid::new_v4(), "kind": "not_received", "reason": "未收到",
        "amount": {"minor": 2_000, "currency": "CNY", "major": 20}
    });
    let (status, _, body) = service.post(&path, &service.agent, &unknown).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("major"),
        "{body}"
    );
    let twice = format!(
        r#"{{"refund_id":"{}","kind":"not_received","reason":"未收到","amount":{{"minor":2000,"minor":999999,"currency":"CNY"}}}}"#,
        Uuid::new_v4()
    );
    let response = service
        .http
        .post(format!("{}{path}", service.base))
        .bearer_auth(&service.agent)
        .header("content-type", "application/json")
        .body(twice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("twice"),
        "{body}"
    );
    assert_eq!(
        service.store.head().await.unwrap(),
        head,
        "a refusal appended"
    );
}

async fn revoking_a_key_ends_its_open_event_stream(db: TestDb) {
    let service = Service::start(db).await;
    service.register(Category::Logistics).await;
    let watcher = service
        .access
        .create_key("feed-watcher", Role::Supervisor, None, Naming::New)
        .await
        .unwrap();
    let mut response = service
        .http
        .get(format!("{}/v1/events/stream", service.base))
        .bearer_auth(&watcher.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut text = String::new();
    while !text.contains("event: caught-up") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("the stream catches up")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    service.access.revoke_key(&watcher.info.id).await.unwrap();
    // Within the key cache's lifetime and a margin, the stream says so and ends.
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(chunk) = response.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream of a revoked key stayed open");
    assert!(text.contains("event: revoked"), "{text}");
}

async fn nothing_tells_a_caller_what_it_may_not_see(db: TestDb) {
    let service = Service::start(db).await;
    let elsewhere = service.register(Category::ProductQuality).await;
    service.view(elsewhere, &service.agent, 0).await;
    // A key limited to logistics cannot tell a case of another category
    // from an id that is no case at all.
    for id in [elsewhere, Uuid::new_v4()] {
        for path in [format!("/v1/cases/{id}"), format!("/v1/cases/{id}/history")] {
            let (status, body) = service.get(&path, &service.courier_feed).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
        let (status, _, body) = service
            .post(
                &format!("/v1/cases/{id}/pause-sla"),
                &service.courier_feed,
                &json!({"reason": "waiting_on_third_party"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    // A phone number finds only the agent's own cases; a supervisor's
    // search finds the customer's.
    let search = "/v1/cases?phone=13912345678";
    let (status, body) = service.get(search, &service.other_agent).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["cases"], json!([]), "{body}");
    let (_, body) = service.get(search, &service.supervisor).await;
    assert_eq!(body["cases"].as_array().unwrap().len(), 1, "{body}");
}

async fn a_case_goes_only_to_those_who_handle_cases(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    let path = format!("/v1/cases/{id}/assign-case");
    for target in ["courier-feed", "finance-chen", "no-such-person"] {
        let (status, _, body) = service
            .post(&path, &service.agent, &json!({"agent_id": target}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{target}: {body}");
        assert_eq!(body["field"], "agent_id", "{body}");
    }
    let (status, _, _) = service
        .post(
            &path,
            &service.other_agent,
            &json!({"agent_id": "agent-wu"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Another agent's case: a supervisor's decision, not a grab.
    let (status, _, body) = service
        .post(&path, &service.agent, &json!({"agent_id": "agent-li"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(problem_code(&body), "takeover-needs-supervisor");
    let (status, _, body) = service
        .post(&path, &service.supervisor, &json!({"agent_id": "agent-li"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The new assignee's first unmasked read is on the record; the next
    // ones are their own case's.
    let revision = body["revision"].as_u64().unwrap();
    let view = service.view(id, &service.agent, revision).await;
    assert_eq!(
        view["customer"]["phone"], "13912345678",
        "their own case, unmasked"
    );
    service.view(id, &service.agent, revision).await;
    let (_, history) = service
        .get(&format!("/v1/cases/{id}/history"), &service.supervisor)
        .await;
    let reads: Vec<&Value> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "PersonalDataViewed" && e["actor_id"] == "agent-li")
        .collect();
    assert_eq!(reads.len(), 1, "{history}");
}

async fn personal_data_in_the_feed_is_masked_and_free_text_redacted(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    let refund = json!({
        "refund_id": Uuid::new_v4(), "kind": "not_received",
        "amount": {"minor": 29_900, "currency": "CNY"},
        "reason": "客户要求退到 6222021234567890123，联系 wangxm@example.com",
        "payee_account": "6222029876543210987"
    });
    let (status, _, body) = service
        .post(
            &format!("/v1/cases/{id}/request-refund"),
            &service.agent,
            &refund,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for token in [&service.supervisor, &service.courier_feed] {
        let (status, _, page) = service
            .send(Method::GET, "/v1/events?limit=1000", token, &[], None)
            .await;
        if token == &service.courier_feed {
            // A key limited to categories does not read the whole log.
            assert_eq!(status, StatusCode::FORBIDDEN);
            continue;
        }
        let text = page.to_string();
        for secret in [
            "6222029876543210987",
            "6222021234567890123",
            "wangxm@",
            "13912345678",
        ] {
            assert!(!text.contains(secret), "{secret} in the feed: {text}");
        }
        assert!(text.contains("客户要求退到"), "the words stay: {text}");
    }
}

async fn a_replay_costs_its_key_more_than_a_request(db: TestDb) {
    // Bursts of 120: one replay of the log (100) nearly empties the agent's
    // bucket.
    let limits = Limits {
        requests_per_second: 60.0,
        burst: 120.0,
        ..Limits::default()
    };
    let service = Service::start_with(db, limits).await;
    for _ in 0..3 {
        service.register(Category::Logistics).await;
    }
    let as_of = |position: u64| format!("/v1/reports/work-log?position={position}");
    let (status, body) = service.get(&as_of(2), &service.agent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A request's worth of tokens would have let the next replay through.
    let (status, body) = service.get(&as_of(3), &service.agent).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(problem_code(&body), "rate-limited");
    // Another key has its own bucket.
    let (status, body) = service.get(&as_of(3), &service.supervisor).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Once a few requests' worth is back, the agent's plain reads and a
    // report already replayed are served; a new replay waits for its share.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = service.get("/v1/cases", &service.agent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = service.get(&as_of(2), &service.agent).await;
    assert_eq!(status, StatusCode::OK, "the cached report: {body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, body) = service.get(&as_of(1), &service.agent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
