//! The JSON API over real HTTP: a server on a loopback port with the
//! projections following the log, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod closed_loop;
mod conventions;
mod customers;
mod incremental;
mod policy;
mod resources;
mod sandbox;
mod security;
mod visibility;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use aftersales_api::{router, AccessDb, AppState, Limits, Naming};
use aftersales_commands::{Clock, Policies, SandboxClock, SystemClock};
use aftersales_domain::case::LogCall;
use aftersales_domain::model::{
    CallDirection, CallOutcome, Category, FollowUpStatus, PlatformState, Priority, WarrantyStatus,
};
use aftersales_domain::{Actor, Policy, Role};
use aftersales_projections::ReadDb;
use aftersales_store::EventStore;
use aftersales_tests::desk::registration;
use aftersales_tests::{on_both_backends, TestDb};
use aftersales_webhooks::{Dispatcher, Settings, Subscriptions, WebhookDb};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// A running service and keys of each kind.
struct Service {
    base: String,
    http: Client,
    store: Arc<dyn EventStore>,
    access: AccessDb,
    read_db: ReadDb,
    /// A sandbox store's clock, which the service decides by.
    sandbox: Option<Arc<SandboxClock>>,
    agent: String,
    other_agent: String,
    supervisor: String,
    finance: String,
    courier_feed: String,
    _db: TestDb,
}

/// Webhooks as the tests send them: to receivers on 127.0.0.1, retried
/// soon after a failure.
fn webhook_settings() -> Settings {
    Settings {
        allow_private_targets: true,
        timeout: Duration::from_millis(500),
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        ..Settings::default()
    }
}

impl Service {
    async fn start(db: TestDb) -> Self {
        Self::start_with(db, Limits::default()).await
    }

    async fn start_with(db: TestDb, limits: Limits) -> Self {
        Self::launch(db, limits, true, false, &[], webhook_settings()).await
    }

    /// A service whose API browsers on `origins` may call (CORS).
    async fn start_with_cors(db: TestDb, origins: &[&str]) -> Self {
        Self::launch(
            db,
            Limits::default(),
            true,
            false,
            origins,
            webhook_settings(),
        )
        .await
    }

    /// A service whose read models stand still: nothing follows the log.
    async fn start_without_read_models(db: TestDb) -> Self {
        Self::launch(db, Limits::default(), false, false, &[], webhook_settings()).await
    }

    /// A service on a new sandbox store, deciding by the sandbox's clock.
    async fn start_sandbox(db: TestDb) -> Self {
        Self::launch(db, Limits::default(), true, true, &[], webhook_settings()).await
    }

    /// A service whose webhook dispatcher sends by `settings`.
    async fn start_with_webhooks(db: TestDb, settings: Settings) -> Self {
        Self::launch(db, Limits::default(), true, false, &[], settings).await
    }

    async fn launch(
        db: TestDb,
        limits: Limits,
        read_models: bool,
        sandbox: bool,
        cors_origins: &[&str],
        webhooks: Settings,
    ) -> Self {
        let store = db.open().await;
        let operator = Actor::new("configuration", Role::Admin);
        if sandbox {
            aftersales_commands::sandbox::open(store.as_ref(), &operator)
                .await
                .unwrap();
        }
        let sandbox = SandboxClock::load(store.as_ref()).await.unwrap();
        let clock: Arc<dyn Clock> = match &sandbox {
            Some(sandbox) => sandbox.clone(),
            None => Arc::new(SystemClock),
        };
        let read_db = ReadDb::open(&db.url, None, false).await.unwrap();
        aftersales_projections::admin::ensure(&read_db)
            .await
            .unwrap();
        // As `serve` does: the policy goes in force through the log first.
        aftersales_commands::policy::apply(store.as_ref(), Policy::default(), &operator)
            .await
            .unwrap();
        let state = AppState::new(
            store.clone(),
            read_db.clone(),
            AccessDb::connect(&db.url, false).await.unwrap(),
            Subscriptions::new(
                store.clone(),
                WebhookDb::connect(&db.url, false).await.unwrap(),
                webhooks.clone(),
            ),
            Policies::load(store.as_ref()).await.unwrap(),
            clock,
            limits,
        );
        if read_models {
            tokio::spawn(aftersales_projections::admin::run_live(
                store.clone(),
                read_db.clone(),
                state.on_reached(),
            ));
            let subscriptions = Subscriptions::new(
                store.clone(),
                WebhookDb::connect(&db.url, false).await.unwrap(),
                webhooks,
            );
            tokio::spawn(Dispatcher::new(subscriptions).unwrap().run());
        }
        let access = state.access().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let origins: Vec<String> = cors_origins.iter().map(|o| (*o).to_owned()).collect();
        let app = match aftersales_api::cors(&origins).unwrap() {
            Some(cors) => router(state).layer(cors),
            None => router(state),
        };
        tokio::spawn(async move { axum::serve(listener, app).await });
        let key = |name: &'static str, role: Role, categories: Option<Vec<String>>| {
            let access = access.clone();
            async move {
                access
                    .create_key(name, role, categories, Naming::New)
                    .await
                    .unwrap()
                    .token
            }
        };
        Self {
            agent: key("agent-li", Role::Agent, None).await,
            other_agent: key("agent-wu", Role::Agent, None).await,
            supervisor: key("lead-zhang", Role::Supervisor, None).await,
            finance: key("finance-chen", Role::Finance, None).await,
            courier_feed: key(
                "courier-feed",
                Role::Integration,
                Some(vec!["logistics".into()]),
            )
            .await,
            base,
            http: Client::new(),
            store,
            access,
            read_db,
            sandbox,
            _db: db,
        }
    }

    /// A new administrator's key.
    async fn admin(&self) -> String {
        self.access
            .create_key("admin-wang", Role::Admin, None, Naming::New)
            .await
            .unwrap()
            .token
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, value)
    }

    async fn post(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.send(Method::POST, path, token, &[], Some(body)).await
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.send(Method::GET, path, token, &[], None).await;
        (status, body)
    }

    /// A fresh key for the first role an OpenAPI operation names in its
    /// description ("Roles: agent, supervisor.").
    async fn key_for(&self, operation: &Value, name: &str) -> String {
        let role: Role = operation["description"].as_str().unwrap()["Roles: ".len()..]
            .split([',', '.', ' '])
            .next()
            .unwrap()
            .parse()
            .unwrap();
        self.access
            .create_key(name, role, None, Naming::New)
            .await
            .unwrap()
            .token
    }

    async fn register(&self, category: Category) -> Uuid {
        self.register_as(Priority::P1, category).await
    }

    /// The body of a registration, as `register` sends it.
    fn registration_body(&self, category: Category) -> Value {
        serde_json::to_value(registration(
            Priority::P1,
            category,
            PlatformState::SellerShipped,
        ))
        .unwrap()
    }

    async fn register_as(&self, priority: Priority, category: Category) -> Uuid {
        let mut body = self.registration_body(category);
        body["priority"] = json!(priority);
        let (status, headers, accepted) = self.post("/v1/cases", &self.agent, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{accepted}");
        let id: Uuid = accepted["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(headers["location"], format!("/v1/cases/{id}").as_str());
        id
    }

    /// A case's events as stored: type, data and metadata.
    async fn case_events(&self, id: Uuid) -> Vec<(String, Value, Value)> {
        let stream = aftersales_store::StreamName::of("case", id).unwrap();
        self.store
            .read_stream(
                &stream,
                aftersales_store::StreamFrom::Start,
                aftersales_store::Direction::Forwards,
                1_000,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                (
                    e.event_type.clone(),
                    serde_json::from_str(e.data.get()).unwrap(),
                    serde_json::from_str(e.metadata.get()).unwrap(),
                )
            })
            .collect()
    }

    /// The case view once it shows `revision` at least.
    async fn view(&self, id: Uuid, token: &str, revision: u64) -> Value {
        for _ in 0..200 {
            let (status, body) = self.get(&format!("/v1/cases/{id}"), token).await;
            if status == StatusCode::OK && body["revision"].as_u64() >= Some(revision) {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("case {id} never reached revision {revision}");
    }
}

fn call(number: &str) -> Value {
    serde_json::to_value(LogCall {
        call_id: Uuid::new_v4(),
        direction: CallDirection::Inbound,
        with_customer: true,
        party_name: None,
        number: number.into(),
        called_at: chrono::Utc::now(),
        content: "客户询问物流进度".into(),
        product: None,
        fault: None,
        warranty: WarrantyStatus::InWarranty,
        outcome: CallOutcome::Connected,
        follow_up: FollowUpStatus::Notified,
    })
    .unwrap()
}

fn problem_code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

async fn commands_conflicts_and_roles(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    let path = format!("/v1/cases/{id}/assign-case");
    let assign = json!({"agent_id": "agent-li"});

    // A stale If-Match is refused and appends nothing.
    let head = service.store.head().await.unwrap();
    let (status, _, body) = service
        .send(
            Method::POST,
            &path,
            &service.agent,
            &[("if-match", "\"5\"")],
            Some(&assign),
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    assert_eq!(problem_code(&body), "stale-revision");
    assert_eq!(service.store.head().await.unwrap(), head);

    // The revision the registration answered with is the right one.
    let (status, headers, body) = service
        .send(
            Method::POST,
            &path,
            &service.agent,
            &[("if-match", "\"0\"")],
            Some(&assign),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!(body["events"][0]["type"], "CaseAssigned");

    // A role the SOP does not allow gets 403 with the rule's type.
    let (status, _, body) = service
        .post(&path, &service.finance, &json!({"agent_id": "agent-wu"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["type"], "urn:aftersales:problem:role-not-allowed");

    // A domain rule's refusal names the rule.
    let (status, _, body) = service.post(&path, &service.agent, &assign).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(problem_code(&body), "already-assigned");

    // Unknown ids, malformed ids and unknown commands are 404.
    for path in [
        format!("/v1/cases/{}/assign-case", Uuid::new_v4()),
        "/v1/cases/not-a-uuid/assign-case".to_owned(),
        format!("/v1/cases/{id}/fly-to-the-moon"),
        format!("/v1/cases/{id}/register-case"),
    ] {
        let (status, _, body) = service.post(&path, &service.agent, &assign).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }

    // No key, a wrong key, a revoked key.
    let (status, _, _) = service.post(&path, "", &assign).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = service.post(&path, "aftersales_0000", &assign).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let issued = service
        .access
        .create_key("temp", Role::Agent, None, Naming::New)
        .await
        .unwrap();
    assert!(service.access.revoke_key(&issued.info.id).await.unwrap());
    let (status, _, body) = service.post(&path, &issued.token, &assign).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // A key limited to logistics registers logistics cases only.
    let mut quality = serde_json::to_value(registration(
        Priority::P2,
        Category::ProductQuality,
        PlatformState::SellerShipped,
    ))
    .unwrap();
    let (status, _, _) = service
        .post("/v1/cases", &service.courier_feed, &quality)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    quality["category"] = json!("logistics");
    let (status, _, body) = service
        .post("/v1/cases", &service.courier_feed, &quality)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The actor and role of the key are in the events' metadata.
    let (status, history) = service
        .get(&format!("/v1/cases/{id}/history"), &service.supervisor)
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = history["events"].as_array().unwrap();
    assert_eq!(events[1]["type"], "CaseAssigned");
    assert_eq!(events[1]["actor_id"], "agent-li");
    assert_eq!(events[1]["actor_role"], "agent");

    // The case's timeline is its stream as far as the view has seen, the
    // same events at the same positions.
    let view = service.view(id, &service.supervisor, 1).await;
    let timeline = view["timeline"].as_array().unwrap();
    assert_eq!(
        Some(timeline.len() as u64),
        view["revision"].as_u64().map(|revision| revision + 1),
        "{view}"
    );
    for (entry, event) in timeline.iter().zip(&events[..2]) {
        assert_eq!(entry["type"], event["type"]);
        assert_eq!(entry["revision"], event["revision"]);
        assert_eq!(entry["position"], event["position"]);
        assert_eq!(entry["actor"], event["actor_id"]);
        assert_eq!(entry["role"], event["actor_role"]);
    }
    assert_eq!(view["position"], timeline.last().unwrap()["position"]);
}

async fn idempotent_retries(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    let path = format!("/v1/cases/{id}/log-call");
    let body = call("13912345678");
    let key = [("idempotency-key", "call-0001")];
    let (first_status, first_headers, first) = service
        .send(Method::POST, &path, &service.agent, &key, Some(&body))
        .await;
    assert_eq!(first_status, StatusCode::OK, "{first}");
    let head = service.store.head().await.unwrap();
    let (status, headers, again) = service
        .send(Method::POST, &path, &service.agent, &key, Some(&body))
        .await;
    assert_eq!(status, first_status);
    assert_eq!(again, first);
    assert_eq!(headers["etag"], first_headers["etag"]);
    assert_eq!(
        service.store.head().await.unwrap(),
        head,
        "a retry appends nothing"
    );

    // The same key with another body is refused.
    let (status, _, refused) = service
        .send(
            Method::POST,
            &path,
            &service.agent,
            &key,
            Some(&call("13800000000")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_code(&refused), "idempotency-key-reused");

    // A registration retried with its key names the same case.
    let registration = serde_json::to_value(registration(
        Priority::P3,
        Category::Logistics,
        PlatformState::SellerShipped,
    ))
    .unwrap();
    let key = [("idempotency-key", "register-0001")];
    let (status, _, created) = service
        .send(
            Method::POST,
            "/v1/cases",
            &service.agent,
            &key,
            Some(&registration),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, retried) = service
        .send(
            Method::POST,
            "/v1/cases",
            &service.agent,
            &key,
            Some(&registration),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["id"], retried["id"]);
}

/// The agent who takes a call and registers the case goes on with it: the
/// customer shows to them until the case is assigned to someone else.
async fn the_agent_who_registers_a_case_sees_its_customer_until_it_is_assigned(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    let own = service.view(id, &service.agent, 0).await;
    assert_eq!(own["customer"]["phone"], "13912345678");
    let (_, list) = service.get("/v1/cases?limit=500", &service.agent).await;
    assert!(list.to_string().contains("13912345678"), "{list}");
    let other = service.view(id, &service.other_agent, 0).await;
    assert_eq!(other["customer"]["phone"], "139****5678");

    let (status, _, _) = service
        .post(
            &format!("/v1/cases/{id}/assign-case"),
            &service.supervisor,
            &json!({"agent_id": "agent-wu"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let former = service.view(id, &service.agent, 1).await;
    assert_eq!(former["customer"]["phone"], "139****5678");
    let (_, list) = service.get("/v1/cases?limit=500", &service.agent).await;
    assert!(!list.to_string().contains("13912345678"), "{list}");
    let assignee = service.view(id, &service.other_agent, 1).await;
    assert_eq!(assignee["customer"]["phone"], "13912345678");
    let (_, list) = service
        .get("/v1/cases?limit=500", &service.other_agent)
        .await;
    assert!(list.to_string().contains("13912345678"), "{list}");
}

async fn personal_data_is_masked_and_unmasked_reads_are_recorded(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    let (status, _, _) = service
        .post(
            &format!("/v1/cases/{id}/assign-case"),
            &service.agent,
            &json!({"agent_id": "agent-li"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The assigned agent sees the customer; only the first read since the
    // case came to them is recorded.
    let own = service.view(id, &service.agent, 1).await;
    assert_eq!(own["customer"]["phone"], "13912345678");
    assert_eq!(own["customer"]["name"], "李娜");

    // Another agent sees it masked, in the case, the list and the history.
    let masked = service.view(id, &service.other_agent, 1).await;
    assert_eq!(masked["customer"]["phone"], "139****5678");
    assert_eq!(masked["customer"]["name"], "李**");
    let (_, list) = service
        .get("/v1/cases?limit=500", &service.other_agent)
        .await;
    assert!(!list.to_string().contains("13912345678"), "{list}");
    let (_, history) = service
        .get(&format!("/v1/cases/{id}/history"), &service.other_agent)
        .await;
    assert!(!history.to_string().contains("13912345678"));

    // A supervisor sees it, and that read is in the case's audit trail.
    let full = service.view(id, &service.supervisor, 1).await;
    assert_eq!(full["customer"]["phone"], "13912345678");
    let (_, history) = service
        .get(&format!("/v1/cases/{id}/history"), &service.agent)
        .await;
    let reads: Vec<&Value> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "PersonalDataViewed")
        .collect();
    let by = |actor: &str| reads.iter().filter(|r| r["actor_id"] == actor).count();
    assert_eq!((by("agent-li"), by("lead-zhang")), (1, 1), "{history}");
    assert!(reads.iter().all(|r| r["data"]["case_id"] == id.to_string()));

    // With an approved access grant, the other agent sees it too, recorded
    // with the grant.
    let (status, _, grant) = service
        .post(
            "/v1/access-grants",
            &service.other_agent,
            &json!({"customer": "13912345678", "purpose": "回访核实地址"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let grant_id = grant["id"].as_str().unwrap().to_owned();
    let (status, _, body) = service
        .post(
            &format!("/v1/access-grants/{grant_id}/approve-access"),
            &service.supervisor,
            &json!({"valid_for_hours": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, granted) = service
        .send(
            Method::GET,
            &format!("/v1/cases/{id}"),
            &service.other_agent,
            &[("x-access-grant", &grant_id)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(granted["customer"]["phone"], "13912345678");
    let (_, history) = service
        .get(&format!("/v1/cases/{id}/history"), &service.agent)
        .await;
    assert!(history["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "PersonalDataViewed" && e["data"]["grant_id"] == grant_id.as_str()));

    // The log feed is masked for everyone.
    let (status, feed) = service
        .get("/v1/events?category=case", &service.supervisor)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!feed.to_string().contains("13912345678"));
}

async fn bad_input_changes_nothing(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    let head = service.store.head().await.unwrap();
    let url = format!("{}/v1/cases/{id}/log-call", service.base);
    let raw = |body: Vec<u8>, content_type: &'static str| {
        service
            .http
            .post(&url)
            .bearer_auth(&service.agent)
            .header("content-type", content_type)
            .body(body)
    };
    let mut wrong_type = call("13912345678");
    wrong_type["direction"] = json!(5);
    let mut unknown_field = call("13912345678");
    unknown_field["revision"] = json!(99);
    let mut long_text = call("13912345678");
    long_text["content"] = json!("很".repeat(20_000));
    let nested = format!("{}{}", "[".repeat(300), "]".repeat(300));
    // Just over the 256 KiB limit: the answer comes before the client has
    // finished writing, and a larger body could see the connection closed
    // under it instead of reading the 413.
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            "malformed",
            raw(b"{\"call_id\":".to_vec(), "application/json"),
            StatusCode::BAD_REQUEST,
            "malformed-json",
        ),
        (
            "wrong type",
            raw(wrong_type.to_string().into_bytes(), "application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
        ),
        (
            "unknown field",
            raw(unknown_field.to_string().into_bytes(), "application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
        ),
        (
            "over-long text",
            raw(long_text.to_string().into_bytes(), "application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
        ),
        (
            "not JSON",
            raw(b"call me".to_vec(), "text/plain"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            "huge",
            raw(vec![b' '; 300 * 1024], "application/json"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
        ),
        (
            "deeply nested",
            raw(nested.into_bytes(), "application/json"),
            StatusCode::BAD_REQUEST,
            "malformed-json",
        ),
    ];
    for (what, request, expected, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(problem_code(&body), code, "{what}: {body}");
    }
    let (status, _, body) = service
        .post(&url.replace(&service.base, ""), &service.agent, &wrong_type)
        .await;
    assert_eq!(body["field"], "direction", "{status} {body}");
    assert_eq!(
        service.store.head().await.unwrap(),
        head,
        "nothing appended"
    );

    // Text that looks like an attack is text: stored as sent, harming nothing.
    let mut injection = call("13912345678");
    injection["content"] = json!("'; DROP TABLE events; -- <script>alert(1)</script>");
    let (status, _, accepted) = service
        .post(&url.replace(&service.base, ""), &service.agent, &injection)
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (_, history) = service
        .get(&format!("/v1/cases/{id}/history"), &service.agent)
        .await;
    assert!(history.to_string().contains("DROP TABLE events"));

    // Bad query parameters.
    for query in [
        "limit=0",
        "limit=abc",
        "breached=maybe",
        "cursor=nonsense",
        "colour=red",
        "limit=1&limit=2",
    ] {
        let (status, body) = service
            .get(&format!("/v1/cases?{query}"), &service.agent)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
    }
    let (status, _) = service.get("/healthz", "").await;
    assert_eq!(status, StatusCode::OK, "still serving");
}

async fn rate_limit_answers_429(db: TestDb) {
    let limits = Limits {
        requests_per_second: 1.0,
        burst: 3.0,
        ..Limits::default()
    };
    let service = Service::start_with(db, limits).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = service
            .http
            .get(format!("{}/v1/cases", service.base))
            .bearer_auth(&service.agent)
            .send()
            .await
            .unwrap();
        statuses.push((
            response.status(),
            response.headers().get("retry-after").cloned(),
        ));
    }
    assert!(
        statuses[..3].iter().all(|(s, _)| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let (status, retry_after) = &statuses[4];
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.is_some());
}

async fn event_stream_resumes_after_a_disconnect(db: TestDb) {
    let service = Service::start(db).await;
    for _ in 0..3 {
        service.register(Category::Logistics).await;
    }
    let read = |last: Option<String>, want: usize| {
        let service = &service;
        async move {
            let mut request = service
                .http
                .get(format!("{}/v1/events/stream?category=case", service.base))
                .bearer_auth(&service.supervisor);
            if let Some(last) = last {
                request = request.header("last-event-id", last);
            }
            let mut response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let mut text = String::new();
            let mut ids = Vec::new();
            while ids.len() < want {
                let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
                    .await
                    .expect("events arrive")
                    .unwrap()
                    .expect("the stream stays open");
                text.push_str(&String::from_utf8_lossy(&chunk));
                ids = text
                    .lines()
                    .filter_map(|line| {
                        line.strip_prefix("id: ")
                            .or_else(|| line.strip_prefix("id:"))
                    })
                    .map(|id| id.trim().parse::<u64>().unwrap())
                    .collect();
            }
            ids
        }
    };
    let first = read(None, 2).await;
    // Reconnect after the second event: the third comes next, then a live one.
    let resumed = read(Some(first[1].to_string()), 1).await;
    assert!(resumed[0] > first[1]);
    let live = tokio::spawn({
        let last = resumed[0].to_string();
        let base = service.base.clone();
        let token = service.supervisor.clone();
        async move {
            let mut response = Client::new()
                .get(format!("{base}/v1/events/stream?category=case"))
                .bearer_auth(token)
                .header("last-event-id", last)
                .send()
                .await
                .unwrap();
            let mut text = String::new();
            while !text.contains("event: CaseRegistered") {
                let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap();
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
            text
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    service.register(Category::Logistics).await;
    let text = live.await.unwrap();
    assert!(!text.contains("13912345678"), "the feed is masked");
}

async fn openapi_documents_every_command(db: TestDb) {
    let service = Service::start(db).await;
    let (status, document) = service.get("/v1/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for (name, _) in aftersales_domain::case::CaseCommand::ROLES {
        let documented = paths
            .values()
            .any(|item| item["post"]["operationId"] == *name);
        assert!(documented, "{name} is not documented");
    }
    assert!(paths["/v1/cases"]["get"].is_object() && paths["/v1/cases"]["post"].is_object());
    // Schema names are unique: the case's problem (故障现象) and the error
    // body are two schemas, and a registration that follows the document
    // is one the service takes.
    let schemas = &document["components"]["schemas"];
    let resolve = |schema: &Value| match schema["$ref"].as_str() {
        Some(reference) => schemas[reference.rsplit('/').next().unwrap()].clone(),
        None => schema.clone(),
    };
    let registration = resolve(
        &paths["/v1/cases"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    );
    let case_problem = resolve(&registration["properties"]["problem"]);
    assert!(
        case_problem["properties"]["phenomenon"].is_object(),
        "{case_problem}"
    );
    let error = resolve(
        &paths["/v1/cases"]["post"]["responses"]["default"]["content"]["application/problem+json"]
            ["schema"],
    );
    assert!(error["properties"]["code"].is_object(), "{error}");
    // A schema that takes any JSON is `{}`: client generators refuse `true`.
    fn no_true_schemas(value: &Value, path: &str) {
        if let Value::Object(object) = value {
            for (key, child) in object {
                if matches!(key.as_str(), "items" | "not") {
                    assert_ne!(child, &Value::Bool(true), "{path}.{key}");
                }
                if key == "properties" {
                    for (name, property) in child.as_object().into_iter().flatten() {
                        assert_ne!(property, &Value::Bool(true), "{path}.{name}");
                    }
                }
                no_true_schemas(child, &format!("{path}.{key}"));
            }
        }
    }
    no_true_schemas(&document, "");
    // The headers a client reads are declared where they are sent.
    let headers = |path: &str, method: &str, status: &str| {
        paths[path][method]["responses"][status]["headers"].clone()
    };
    for name in [
        "ETag",
        "RateLimit",
        "RateLimit-Policy",
        "X-Correlation-Id",
        "x-log-position",
    ] {
        assert!(
            headers("/v1/cases/{id}", "get", "200")[name].is_object(),
            "{name}"
        );
    }
    assert!(headers("/v1/cases", "post", "201")["Location"].is_object());
    assert!(headers("/v1/cases", "post", "201")["ETag"].is_object());
    assert!(headers("/v1/cases/{id}/log-call", "post", "200")["ETag"].is_object());
    assert!(headers("/v1/cases", "post", "default")["Retry-After"].is_object());
    assert!(headers("/healthz", "get", "200")["RateLimit"].is_null());
    // A case reads back typed, field by field.
    let case_view = resolve(
        &paths["/v1/cases/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"],
    );
    for field in [
        "status",
        "customer",
        "sla",
        "goods_return",
        "money",
        "timeline",
    ] {
        assert!(
            case_view["properties"][field].is_object(),
            "{field}: {case_view}"
        );
    }
    // Every example body in the document is one the service takes, sent by
    // the first role its operation names.
    let case = service.register(Category::Logistics).await;
    let mut examples = 0;
    for (path, item) in paths {
        let operation = &item["post"];
        let Some(example) = operation["requestBody"]["content"]["application/json"].get("example")
        else {
            continue;
        };
        let token = service
            .key_for(operation, &format!("example-{examples}"))
            .await;
        let path = path.replace("{id}", &case.to_string());
        let (status, _, body) = service.post(&path, &token, example).await;
        assert!(status.is_success(), "{path}: {status} {body}");
        examples += 1;
    }
    assert!(examples >= 5, "{examples} examples");
    // Every documented command route exists: an unknown case is 404 with a
    // problem, never 405 or an empty body.
    for (n, (path, item)) in paths.iter().enumerate() {
        if item["post"].is_object() && path.contains("{id}") {
            let token = service
                .key_for(&item["post"], &format!("unknown-{n}"))
                .await;
            let path = path.replace("{id}", &Uuid::new_v4().to_string());
            let (status, _, body) = service.post(&path, &token, &json!({})).await;
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::UNPROCESSABLE_ENTITY,
                "{path}: {status} {body}"
            );
            assert!(body["type"].is_string(), "{path}: {body}");
        }
    }
}

/// The value of one sample line of the Prometheus text, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

async fn metrics_count_requests_appends_and_lag(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    service.view(id, &service.agent, 0).await;
    let (status, _) = service
        .get(&format!("/v1/cases/{}", Uuid::new_v4()), &service.agent)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let response = service
        .http
        .get(format!("{}/metrics", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let created = sample(
        &text,
        r#"aftersales_http_requests_total{method="POST",route="/v1/cases",status="201"}"#,
    );
    assert_eq!(created, Some(1.0), "{text}");
    let missing = sample(
        &text,
        r#"aftersales_http_requests_total{method="GET",route="/v1/cases/{id}",status="404"}"#,
    );
    // The view may have answered 404 too while it was being built.
    assert!(missing >= Some(1.0), "{text}");
    let appends = sample(
        &text,
        r#"aftersales_event_store_append_duration_seconds_count{outcome="ok"}"#,
    );
    assert!(appends >= Some(1.0), "{text}");
    assert!(
        sample(
            &text,
            r#"aftersales_projection_lag_events{projection="case_views"}"#
        )
        .is_some(),
        "{text}"
    );
    // Routes are templates: no case id reaches the metrics.
    assert!(!text.contains(&id.to_string()));
}

// Every SOP of docs/domain.md, each command through the API.
aftersales_tests::sop_scenarios!(aftersales_tests::desk::Desk::over_http);

on_both_backends!(
    a_courier_s_waybill_finds_its_case,
    a_progress_note_is_in_the_history_and_redacted_for_others,
    commands_conflicts_and_roles,
    idempotent_retries,
    personal_data_is_masked_and_unmasked_reads_are_recorded,
    the_agent_who_registers_a_case_sees_its_customer_until_it_is_assigned,
    bad_input_changes_nothing,
    rate_limit_answers_429,
    event_stream_resumes_after_a_disconnect,
    openapi_documents_every_command,
    metrics_count_requests_appends_and_lag,
);

/// 快递公司一般反馈都是运单号: the waybill a courier quotes finds the case.
async fn a_courier_s_waybill_finds_its_case(db: TestDb) {
    let service = Service::start(db).await;
    let case = service.register(Category::Logistics).await;
    let other = service.register(Category::Logistics).await;
    let mut written = 0;
    for (id, tracking_no) in [(case, "SF1234567890"), (other, "YT0000000001")] {
        let (status, _, answer) = service
            .post(
                &format!("/v1/cases/{id}/report-parcel-problem"),
                &service.agent,
                &json!({"tracking_no": tracking_no, "carrier": "顺丰", "class": "lost"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        written = answer["position"].as_u64().unwrap();
    }
    let find = |tracking_no: &'static str| {
        let service = &service;
        async move {
            let (status, _, body) = service
                .send(
                    Method::GET,
                    &format!("/v1/cases?tracking_no={tracking_no}"),
                    &service.supervisor,
                    &[("x-min-log-position", &written.to_string())],
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["case_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("SF1234567890").await, vec![case.to_string()]);
    assert!(find("SF0000000000").await.is_empty());
}

/// 责任人需在工单系统中实时记录处理步骤: a note on the case, in its history,
/// with the customer's number in it redacted for those who may not see it.
async fn a_progress_note_is_in_the_history_and_redacted_for_others(db: TestDb) {
    let service = Service::start(db).await;
    let case = service.register(Category::Logistics).await;
    let note = json!({"note": "已联系仓库补发，客户新号码 13912345678"});
    let (status, _, answer) = service
        .post(
            &format!("/v1/cases/{case}/add-case-note"),
            &service.agent,
            &note,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _, refused) = service
        .post(
            &format!("/v1/cases/{case}/add-case-note"),
            &service.agent,
            &json!({"note": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let position = answer["position"].as_u64().unwrap().to_string();
    let noted = |token: &str| {
        let (service, position, token) = (&service, position.clone(), token.to_owned());
        async move {
            let (status, _, history) = service
                .send(
                    Method::GET,
                    &format!("/v1/cases/{case}/history"),
                    &token,
                    &[("x-min-log-position", &position)],
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{history}");
            let notes: Vec<Value> = history["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["type"] == "CaseNoteAdded")
                .map(|e| e["data"]["note"].clone())
                .collect();
            assert_eq!(notes.len(), 1, "{history}");
            notes[0].as_str().unwrap().to_owned()
        }
    };
    // The supervisor sees the note whole; another agent sees the words
    // without the number.
    assert!(noted(&service.supervisor).await.contains("13912345678"));
    let redacted = noted(&service.other_agent).await;
    assert!(redacted.contains("已联系仓库补发"), "{redacted}");
    assert!(!redacted.contains("13912345678"), "{redacted}");
}
