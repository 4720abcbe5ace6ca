//! Webhooks delivered to real HTTP receivers on 127.0.0.1: every matching
//! event in order and signed, retried through failures and timeouts with
//! the same `webhook-id`, a 410 that disables, a secret rotation, a
//! replay, and who may manage which subscription.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aftersales_domain::model::Category;
use aftersales_domain::Role;
use aftersales_store::{AllFilter, AllQuery};
use aftersales_tests::{on_both_backends, TestDb};
use aftersales_webhooks::{
    signature_header, Dispatcher, Secret, Settings, Subscriptions, WebhookDb,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as Status};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{call, problem_code, webhook_settings, Service};

on_both_backends!(
    every_matching_event_arrives_in_order_and_signed,
    a_receiver_that_fails_then_hangs_gets_everything_once_it_recovers,
    inside_addresses_and_unknown_categories_are_refused,
    a_gone_receiver_disables_both_secrets_sign_in_a_rotation_and_a_replay_sends_again,
    an_integration_manages_its_own_subscriptions_only
);

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Accept,
    Fail,
    /// Answers after the dispatcher's timeout.
    Hang,
    Gone,
}

#[derive(Debug, Clone)]
struct Message {
    id: String,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
}

impl Message {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn position(&self) -> u64 {
        self.json()["data"]["position"].as_u64().unwrap()
    }

    /// Whether `secret` signed it, by the scheme's rule: any of the
    /// signatures listed.
    fn signed_by(&self, secret: &str) -> bool {
        let expected = signature_header(
            &[Secret::parse(secret).unwrap()],
            &self.id,
            self.timestamp,
            &self.body,
        );
        self.signature
            .split(' ')
            .any(|signature| signature == expected)
    }
}

#[derive(Debug)]
struct Inbox {
    mode: Mode,
    /// Every request, whatever was answered.
    attempts: Vec<Message>,
    /// Messages answered 2xx, in the order they came.
    accepted: Vec<Message>,
}

/// A webhook receiver on a loopback port.
#[derive(Debug, Clone)]
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    async fn start(mode: Mode) -> Self {
        let inbox = Arc::new(Mutex::new(Inbox {
            mode,
            attempts: Vec::new(),
            accepted: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inbox }
    }

    fn set(&self, mode: Mode) {
        self.inbox.lock().unwrap().mode = mode;
    }

    fn accepted(&self) -> Vec<Message> {
        self.inbox.lock().unwrap().accepted.clone()
    }

    fn attempts(&self) -> Vec<Message> {
        self.inbox.lock().unwrap().attempts.clone()
    }

    /// Waits until `count` messages were accepted.
    async fn wait_for(&self, count: usize) -> Vec<Message> {
        for _ in 0..400 {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the receiver got {} messages, not {count}",
            self.accepted().len()
        );
    }

    async fn wait_for_attempts(&self, count: usize) {
        for _ in 0..400 {
            if self.attempts().len() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the receiver saw {} attempts, not {count}",
            self.attempts().len()
        );
    }
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Status {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let message = Message {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or_default(),
        signature: header("webhook-signature"),
        body: body.to_vec(),
    };
    let mode = {
        let mut inbox = inbox.lock().unwrap();
        inbox.attempts.push(message.clone());
        inbox.mode
    };
    match mode {
        Mode::Accept => {
            inbox.lock().unwrap().accepted.push(message);
            Status::NO_CONTENT
        }
        Mode::Fail => Status::INTERNAL_SERVER_ERROR,
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Status::OK
        }
        Mode::Gone => Status::GONE,
    }
}

impl Service {
    /// Subscribes `url`; returns the subscription's id and secret.
    async fn subscribe(&self, token: &str, url: &str, filter: Value) -> (String, String) {
        let (status, headers, body) = self
            .post(
                "/v1/webhooks",
                token,
                &json!({"url": url, "filter": filter}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["webhook"]["id"].as_str().unwrap().to_owned();
        assert_eq!(headers["location"], format!("/v1/webhooks/{id}").as_str());
        (id, body["secret"].as_str().unwrap().to_owned())
    }

    /// The positions of the log's events of `filter` after `after`.
    async fn positions(&self, after: u64, filter: AllFilter) -> Vec<u64> {
        let query = AllQuery::forwards(after + 1, 1_000).with_filter(filter);
        let page = self.store.read_all(&query).await.unwrap();
        page.events.iter().map(|e| e.position).collect()
    }

    /// Waits until the subscription's state is `state`.
    async fn webhook_in(&self, token: &str, id: &str, state: &str) -> Value {
        for _ in 0..400 {
            let (status, body) = self.get(&format!("/v1/webhooks/{id}"), token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["state"] == state {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("webhook {id} never became {state}");
    }
}

async fn every_matching_event_arrives_in_order_and_signed(db: TestDb) {
    let service = Service::start(db).await;
    let admin = service.admin().await;
    let receiver = Receiver::start(Mode::Accept).await;
    let start = service.store.head().await.unwrap();
    let (_, secret) = service
        .subscribe(&admin, &receiver.url, json!({"categories": ["case"]}))
        .await;

    let mut cases = Vec::new();
    for _ in 0..3 {
        let id = service.register(Category::Logistics).await;
        let (status, _, body) = service
            .post(
                &format!("/v1/cases/{id}/log-call"),
                &service.agent,
                &call("13912345678"),
            )
            .await;
        assert!(status.is_success(), "{body}");
        cases.push(id);
    }
    let expected = service.positions(start, AllFilter::category("case")).await;
    assert!(expected.len() >= 6, "{expected:?}");

    let got = receiver.wait_for(expected.len()).await;
    // Nothing else arrives: the policy, the subscription itself, other categories.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_all = receiver.accepted();
    assert_eq!(got_all.len(), expected.len());
    let positions: Vec<u64> = got.iter().map(Message::position).collect();
    assert_eq!(positions, expected, "in the log's order, each once");
    for message in &got {
        assert!(message.signed_by(&secret), "signature of {}", message.id);
        let body = message.json();
        assert_eq!(
            body["data"]["stream"].as_str().unwrap().split('-').next(),
            Some("case")
        );
        assert!(message.id.starts_with("msg_"));
        assert_eq!(
            message.id,
            format!(
                "msg_{}",
                body["data"]["event_id"].as_str().unwrap().replace('-', "")
            )
        );
        assert!(body["data"]["actor_role"].is_string());
        // Personal data is masked, as in the feed.
        let text = body.to_string();
        assert!(!text.contains("13912345678"), "{text}");
    }
    let first = got[0].json();
    assert_eq!(first["type"], "CaseRegistered");
    assert_eq!(first["data"]["event"]["customer"]["phone"], "139****5678");
}

async fn a_receiver_that_fails_then_hangs_gets_everything_once_it_recovers(db: TestDb) {
    let service = Service::start(db).await;
    let admin = service.admin().await;
    let receiver = Receiver::start(Mode::Fail).await;
    let start = service.store.head().await.unwrap();
    let (id, _) = service
        .subscribe(
            &admin,
            &receiver.url,
            json!({"event_types": ["CaseRegistered"]}),
        )
        .await;
    for _ in 0..3 {
        service.register(Category::Logistics).await;
    }
    receiver.wait_for_attempts(3).await;
    receiver.set(Mode::Hang);
    let so_far = receiver.attempts().len();
    receiver.wait_for_attempts(so_far + 2).await;
    receiver.set(Mode::Accept);

    let expected = service
        .positions(
            start,
            AllFilter {
                categories: vec![],
                event_types: vec!["CaseRegistered".into()],
            },
        )
        .await;
    assert_eq!(expected.len(), 3);
    let got = receiver.wait_for(3).await;
    assert_eq!(
        got.iter().map(Message::position).collect::<Vec<_>>(),
        expected
    );
    // Every attempt at the first event carried its one id.
    let first_id = &got[0].id;
    let attempts = receiver.attempts();
    let first_attempts: Vec<&Message> = attempts
        .iter()
        .filter(|m| m.position() == expected[0])
        .collect();
    assert!(first_attempts.len() >= 5, "{}", first_attempts.len());
    assert!(first_attempts.iter().all(|m| m.id == *first_id));

    // The delivery log tells the story, newest first.
    let mut log = Value::Null;
    for _ in 0..100 {
        let (status, body) = service
            .get(&format!("/v1/webhooks/{id}/deliveries?limit=100"), &admin)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let delivered = body["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["outcome"] == "delivered")
            .count();
        log = body;
        if delivered == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = log["deliveries"].as_array().unwrap();
    assert!(deliveries
        .iter()
        .any(|d| d["http_status"] == 500 && d["outcome"] == "failed"));
    assert!(deliveries.iter().any(|d| d["http_status"].is_null()
        && d["error"].as_str().unwrap_or_default().contains("timeout")));
    let on_first: Vec<&Value> = deliveries
        .iter()
        .filter(|d| d["position"] == expected[0])
        .collect();
    assert!(on_first
        .iter()
        .all(|d| d["message_id"] == first_id.as_str()));
    assert!(on_first.iter().any(|d| d["outcome"] == "delivered"));
    let view = service.webhook_in(&admin, &id, "active").await;
    assert!(view["delivered_through"].as_u64().unwrap() >= expected[2]);
}

async fn inside_addresses_and_unknown_categories_are_refused(db: TestDb) {
    let service = Service::start_with_webhooks(
        db,
        Settings {
            allow_private_targets: false,
            ..webhook_settings()
        },
    )
    .await;
    let admin = service.admin().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/hook",
        "http://[::1]/hook",
    ] {
        let (status, _, body) = service
            .post("/v1/webhooks", &admin, &json!({"url": url}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("allow_private_targets"),
            "{body}"
        );
    }
    let (status, _, body) = service
        .post(
            "/v1/webhooks",
            &admin,
            &json!({"url": "ftp://example.com/x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _, body) = service
        .post(
            "/v1/webhooks",
            &admin,
            &json!({"url": "https://erp.example.com/h", "filter": {"categories": ["policy"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, webhooks) = service.get("/v1/webhooks", &admin).await;
    assert_eq!(webhooks["webhooks"], json!([]), "nothing was made");
}

async fn a_gone_receiver_disables_its_subscription(service: &Service, admin: &str) {
    let receiver = Receiver::start(Mode::Gone).await;
    let (id, _) = service.subscribe(admin, &receiver.url, json!({})).await;
    service.register(Category::Logistics).await;
    let view = service.webhook_in(admin, &id, "disabled").await;
    assert!(
        view["disabled_reason"].as_str().unwrap().contains("410"),
        "{view}"
    );
    assert_eq!(receiver.attempts().len(), 1, "a 410 is not retried");
    // Resumed, it sends from where it stopped.
    receiver.set(Mode::Accept);
    let (status, _, body) = service
        .send(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            admin,
            &[],
            Some(&json!({"paused": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].json()["type"], "CaseRegistered");
    let (_, history) = service
        .get(&format!("/v1/webhooks/{id}/history"), admin)
        .await;
    let types: Vec<&str> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["WebhookCreated", "WebhookDisabled", "WebhookResumed"]
    );
    assert_eq!(history["changes"][1]["actor_role"], "system");
    assert_eq!(history["changes"][2]["actor_id"], "admin-wang");
}

async fn a_gone_receiver_disables_both_secrets_sign_in_a_rotation_and_a_replay_sends_again(
    db: TestDb,
) {
    let service = Service::start(db).await;
    let admin = service.admin().await;
    a_gone_receiver_disables_its_subscription(&service, &admin).await;

    let receiver = Receiver::start(Mode::Accept).await;
    let (id, old) = service
        .subscribe(
            &admin,
            &receiver.url,
            json!({"event_types": ["CaseRegistered"]}),
        )
        .await;
    let (status, _, added) = service
        .post(&format!("/v1/webhooks/{id}/secrets"), &admin, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let new = added["secret"].as_str().unwrap().to_owned();
    service.register(Category::Logistics).await;
    let got = receiver.wait_for(1).await;
    assert!(got[0].signed_by(&old) && got[0].signed_by(&new));

    let old_id = added["webhook"]["secret_ids"][0].as_str().unwrap();
    let (status, _, body) = service
        .send(
            Method::DELETE,
            &format!("/v1/webhooks/{id}/secrets/{old_id}"),
            &admin,
            &[],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The last secret stays.
    let last = body["secret_ids"][0].as_str().unwrap();
    let (status, _, body) = service
        .send(
            Method::DELETE,
            &format!("/v1/webhooks/{id}/secrets/{last}"),
            &admin,
            &[],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The subscription's task picks up the change before the next event.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    service.register(Category::Logistics).await;
    let got = receiver.wait_for(2).await;
    assert!(got[1].signed_by(&new) && !got[1].signed_by(&old));

    // A replay from the first message's position sends both again, with
    // the ids they had.
    let first = got[0].position();
    let (status, _, body) = service
        .post(
            &format!("/v1/webhooks/{id}/replay"),
            &admin,
            &json!({"from_position": first}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let again = receiver.wait_for(4).await;
    assert_eq!(again[2].id, got[0].id);
    assert_eq!(again[3].id, got[1].id);
    assert!(again[2].signed_by(&new));

    // A replay since a time: from the first event recorded at or after it.
    let since = got[1].json()["timestamp"].clone();
    let (status, _, body) = service
        .post(
            &format!("/v1/webhooks/{id}/replay"),
            &admin,
            &json!({"since": since}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let again = receiver.wait_for(5).await;
    assert_eq!(again[4].id, got[1].id);
    let (status, _, body) = service
        .post(&format!("/v1/webhooks/{id}/replay"), &admin, &json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn an_integration_manages_its_own_subscriptions_only(db: TestDb) {
    let service = Service::start(db).await;
    let erp = service.key("erp", Role::Integration).await;
    let notifier = service.key("sms-notifier", Role::Integration).await;
    let admin = service.admin().await;
    let receiver = Receiver::start(Mode::Accept).await;
    let (id, _) = service.subscribe(&erp, &receiver.url, json!({})).await;

    let (status, body) = service.get(&format!("/v1/webhooks/{id}"), &notifier).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, list) = service.get("/v1/webhooks", &notifier).await;
    assert_eq!(list["webhooks"], json!([]));
    let (status, body) = service.get("/v1/webhooks", &service.agent).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, body) = service
        .post(
            "/v1/webhooks",
            &service.courier_feed,
            &json!({"url": receiver.url}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a category-limited key: {body}"
    );
    let (_, list) = service.get("/v1/webhooks", &admin).await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);

    // Paused, nothing is sent; resumed, what happened meanwhile is.
    let pause = |paused: bool| json!({"paused": paused});
    let (status, _, body) = service
        .send(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            &erp,
            &[],
            Some(&pause(true)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "paused");
    service.register(Category::Logistics).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(receiver.accepted().is_empty());
    service
        .send(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            &erp,
            &[],
            Some(&pause(false)),
        )
        .await;
    receiver.wait_for(1).await;

    let (status, _, body) = service
        .send(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            &erp,
            &[],
            Some(&json!({"colour": "red"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _, body) = service
        .send(
            Method::DELETE,
            &format!("/v1/webhooks/{id}"),
            &erp,
            &[],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = service.get(&format!("/v1/webhooks/{id}"), &erp).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(problem_code(&body), "not-found");
}

/// Two service processes on one PostgreSQL database: one sends a
/// subscription at a time, and the other takes over when it dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_at_a_time_sends_a_subscription_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let url = db.url.clone();
    // A service without a dispatcher of its own: the two below stand for
    // two processes, each with its own connections.
    let service = Service::start_without_read_models(db).await;
    let admin = service.admin().await;
    let receiver = Receiver::start(Mode::Accept).await;
    let (_, _) = service
        .subscribe(
            &admin,
            &receiver.url,
            json!({"event_types": ["CaseRegistered"]}),
        )
        .await;
    let process = || async {
        let subscriptions = Subscriptions::new(
            service.store.clone(),
            WebhookDb::connect(&url, false).await.unwrap(),
            webhook_settings(),
        );
        Dispatcher::new(subscriptions).unwrap()
    };
    let first = tokio::spawn(process().await.run());
    service.register(Category::Logistics).await;
    receiver.wait_for(1).await;
    let second = tokio::spawn(process().await.run());
    for _ in 0..5 {
        service.register(Category::Logistics).await;
    }
    receiver.wait_for(6).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let ids: Vec<String> = receiver.accepted().iter().map(|m| m.id.clone()).collect();
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(ids.len(), 6, "each message once while both run: {ids:?}");
    assert_eq!(distinct.len(), 6);

    // The sending process dies; the other takes over.
    first.abort();
    for _ in 0..3 {
        service.register(Category::Logistics).await;
    }
    let got = receiver.wait_for(9).await;
    let positions: Vec<u64> = got.iter().map(Message::position).collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        9,
        "nothing missing after the takeover: {positions:?}"
    );
    second.abort();
}
