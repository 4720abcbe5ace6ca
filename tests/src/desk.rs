//! A service desk for tests: command handlers of every aggregate on one store
//! and one settable clock, the usual actors and a typical registration.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a failed test

use std::collections::HashMap;
use std::sync::Arc;

use aftersales_api::{router, AccessDb, AppState, Limits, Naming, ScheduleIndex};
use aftersales_commands::{
    Envelope, FixedClock, Handler, Policies, Scheduler, SchedulerError, SchedulerRun,
};
use aftersales_domain::audit::SamplingAudit;
use aftersales_domain::case::*;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::model::*;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::repair::RepairOrder;
use aftersales_domain::{Actor, Aggregate, DomainEvent, Money, Policy, Role};
use aftersales_projections::runner::{self, Projector, Target, Until};
use aftersales_projections::ReadDb;
use aftersales_store::EventStore;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Mutex;
use uuid::Uuid;

/// Monday 2026-03-02 10:00 China time.
pub fn monday_10am() -> DateTime<Utc> {
    "2026-03-02T02:00:00Z".parse().unwrap()
}

/// Where a desk sends its commands.
enum Counter {
    /// Straight to the command handlers.
    Handlers,
    /// Through the JSON API of a service on a loopback port, with one API
    /// key per actor.
    Http(Box<HttpCounter>),
}

struct HttpCounter {
    base: String,
    client: reqwest::Client,
    access: AccessDb,
    /// Command name → route, from the service's own OpenAPI document.
    routes: HashMap<String, String>,
    tokens: Mutex<HashMap<Actor, String>>,
}

/// A scheduler with the schedule read model it finds due work in.
pub struct DeskScheduler {
    scheduler: Scheduler,
    store: Arc<dyn EventStore>,
    read_db: ReadDb,
    schedule: Vec<Box<dyn Projector>>,
}

impl DeskScheduler {
    /// Brings the schedule up to the log, as the service's projection
    /// runner does all the time, then issues what is due.
    pub async fn run_once(&mut self) -> Result<SchedulerRun, SchedulerError> {
        // Events the schedule parks are a test's own business.
        runner::run(
            self.store.clone(),
            &self.read_db,
            &mut self.schedule,
            Until::CaughtUp,
            |_| {},
        )
        .await
        .unwrap();
        self.scheduler.run_once().await
    }
}

/// A command the domain, the handler or the API turned down.
#[derive(Debug)]
pub enum Refused {
    Handler(aftersales_commands::HandlerError),
    /// The API's status and problem document.
    Http(reqwest::StatusCode, Value),
}

pub struct Desk {
    pub store: Arc<dyn EventStore>,
    pub clock: Arc<FixedClock>,
    pub cases: Arc<Handler<Case>>,
    orders: Handler<UnpaidOrder>,
    audits: Handler<SamplingAudit>,
    repairs: Handler<RepairOrder>,
    grants: Handler<AccessGrant>,
    counter: Counter,
}

/// The aggregates a desk handles, each with its handler, so that every
/// command to one aggregate goes through one handler and its cache.
pub trait DeskAggregate: Aggregate {
    fn handler(desk: &Desk) -> &Handler<Self>;
}

macro_rules! desk_aggregates {
    ($($aggregate:ty => $field:ident),* $(,)?) => {
        $(impl DeskAggregate for $aggregate {
            fn handler(desk: &Desk) -> &Handler<Self> {
                &desk.$field
            }
        })*
    };
}

desk_aggregates!(
    Case => cases,
    UnpaidOrder => orders,
    SamplingAudit => audits,
    RepairOrder => repairs,
    AccessGrant => grants,
);

impl Desk {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self::with_policies(store, Policies::fixed(Policy::default()))
    }

    /// A desk whose handlers decide under `policies`, as a service's do.
    pub fn with_policies(store: Arc<dyn EventStore>, policies: Arc<Policies>) -> Self {
        let clock = Arc::new(FixedClock::new(monday_10am()));
        let cases = Arc::new(Handler::new(store.clone(), policies.clone(), clock.clone()));
        macro_rules! handler {
            () => {
                Handler::new(store.clone(), policies.clone(), clock.clone())
            };
        }
        Self {
            orders: handler!(),
            audits: handler!(),
            repairs: handler!(),
            grants: handler!(),
            store,
            clock,
            cases,
            counter: Counter::Handlers,
        }
    }

    /// A desk whose commands go through the JSON API of a service started
    /// here on a free loopback port, on the same store and clock.
    pub async fn over_http(db: &crate::TestDb) -> Self {
        let mut desk = Self::new(db.open().await);
        let read_db = ReadDb::open(&db.url, None, false).await.unwrap();
        let state = AppState::new(
            desk.store.clone(),
            read_db,
            AccessDb::connect(&db.url, false).await.unwrap(),
            aftersales_webhooks::Subscriptions::new(
                desk.store.clone(),
                aftersales_webhooks::WebhookDb::connect(&db.url, false)
                    .await
                    .unwrap(),
                aftersales_webhooks::Settings::default(),
            ),
            Policies::fixed(Policy::default()),
            desk.clock.clone(),
            Limits {
                requests_per_second: 100_000.0,
                burst: 100_000.0,
                ..Limits::default()
            },
        );
        let access = state.access().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        let client = reqwest::Client::new();
        let document: Value = client
            .get(format!("{base}/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut routes = HashMap::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            if let Some(name) = item["post"]["operationId"].as_str() {
                routes.insert(name.to_owned(), path.clone());
            }
        }
        desk.counter = Counter::Http(Box::new(HttpCounter {
            base,
            client,
            access,
            routes,
            tokens: Mutex::new(HashMap::new()),
        }));
        desk
    }

    /// A scheduler of the time-driven commands on the desk's store and clock,
    /// as `aftersales serve` runs one beside the API, with its own schedule
    /// read model.
    pub async fn scheduler(&self) -> DeskScheduler {
        let read_db = ReadDb::memory().await.unwrap();
        let schedule = aftersales_projections::admin::projectors(
            &self.store,
            &[aftersales_projections::schedule::NAME.to_owned()],
            Target::Live,
        )
        .unwrap();
        DeskScheduler {
            scheduler: Scheduler::new(
                self.store.clone(),
                Arc::new(ScheduleIndex(read_db.clone())),
                self.cases.clone(),
                self.clock.clone(),
            ),
            store: self.store.clone(),
            read_db,
            schedule,
        }
    }

    /// The desk's handler of an aggregate, the one its commands go through.
    pub fn handler<A: DeskAggregate>(&self) -> &Handler<A> {
        A::handler(self)
    }

    /// Sends `command` to aggregate `id`, or creates a new one when `id` is
    /// `None`; answers the aggregate's id and the events appended.
    pub async fn execute<A: DeskAggregate>(
        &self,
        id: Option<Uuid>,
        actor: &Actor,
        command: A::Command,
    ) -> Result<(Uuid, Vec<A::Event>), Refused> {
        match &self.counter {
            Counter::Handlers => {
                let id = id.unwrap_or_else(Uuid::new_v4);
                let envelope = Envelope::new(id, command, actor.clone());
                match self.handler::<A>().execute(&envelope).await {
                    Ok(outcome) => Ok((id, outcome.events)),
                    Err(error) => Err(Refused::Handler(error)),
                }
            }
            Counter::Http(http) => http.execute::<A>(id, actor, command).await,
        }
    }

    /// A case command that must succeed.
    pub async fn run(
        &self,
        case: Uuid,
        actor: &Actor,
        command: impl Into<CaseCommand>,
    ) -> Vec<CaseEvent> {
        self.try_run(case, actor, command)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    pub async fn try_run(
        &self,
        case: Uuid,
        actor: &Actor,
        command: impl Into<CaseCommand>,
    ) -> Result<Vec<CaseEvent>, Refused> {
        let (_, events) = self
            .execute::<Case>(Some(case), actor, command.into())
            .await?;
        Ok(events)
    }

    /// Creates an aggregate of any kind; the command must succeed.
    pub async fn create<A: DeskAggregate>(
        &self,
        actor: &Actor,
        command: impl Into<A::Command>,
    ) -> (Uuid, Vec<A::Event>) {
        self.execute::<A>(None, actor, command.into())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    pub async fn register(
        &self,
        priority: Priority,
        category: Category,
        state: PlatformState,
    ) -> Uuid {
        let (case_id, _) = self
            .create::<Case>(&agent(), registration(priority, category, state))
            .await;
        case_id
    }
}

impl HttpCounter {
    async fn execute<A: Aggregate>(
        &self,
        id: Option<Uuid>,
        actor: &Actor,
        command: A::Command,
    ) -> Result<(Uuid, Vec<A::Event>), Refused> {
        let tagged = serde_json::to_value(&command).unwrap();
        let name = tagged["command"].as_str().unwrap();
        let route = &self.routes[name];
        let path = match id {
            Some(id) => route.replace("{id}", &id.to_string()),
            None => route.clone(),
        };
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token(actor).await)
            .json(&tagged["data"])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if !status.is_success() {
            return Err(Refused::Http(status, body));
        }
        let id = body["id"].as_str().unwrap().parse().unwrap();
        let events = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| {
                let data = event["data"].to_string();
                A::Event::decode(event["type"].as_str().unwrap(), &data).unwrap()
            })
            .collect();
        Ok((id, events))
    }

    /// The API key of an actor, issued on first use under the actor's id
    /// and role, so the events carry the same actor as through the handlers.
    async fn token(&self, actor: &Actor) -> String {
        let mut tokens = self.tokens.lock().await;
        if let Some(token) = tokens.get(actor) {
            return token.clone();
        }
        let issued = self
            .access
            .create_key(&actor.id, actor.role, None, Naming::New)
            .await
            .unwrap();
        tokens.insert(actor.clone(), issued.token.clone());
        issued.token
    }
}

pub fn agent() -> Actor {
    Actor::new("agent-1", Role::Agent)
}

pub fn supervisor(n: u8) -> Actor {
    Actor::new(format!("sup-{n}"), Role::Supervisor)
}

pub fn finance() -> Actor {
    Actor::new("fin-1", Role::Finance)
}

pub fn warehouse() -> Actor {
    Actor::new("wh-1", Role::Warehouse)
}

pub fn registration(priority: Priority, category: Category, state: PlatformState) -> RegisterCase {
    RegisterCase {
        customer: Customer {
            name: "李娜".into(),
            phone: "13912345678".into(),
            address: Some("江苏省南京市鼓楼区中山路 1 号".into()),
            email: None,
            buyer_id: Some("tb_lina88".into()),
        },
        order: Some(Order {
            order_no: format!("TB{}", Uuid::new_v4().simple()),
            paid: Money::cny(29_900),
            paid_at: "2026-02-25T02:00:00Z".parse().unwrap(),
            postage: Some(Money::cny(1_200)),
            platform_state: state,
            platform: None,
        }),
        product: Product {
            name: "空气净化器 AP-300".into(),
            model: Some("AP-300".into()),
            serial: Some("AP3-000123".into()),
            purchase_date: None,
            purchase_channel: Some("京东自营".into()),
        },
        problem: Problem {
            phenomenon: "收到货时机身有裂痕".into(),
            occurred_at: None,
            impact: None,
            notes: None,
        },
        channel: ContactChannel::Phone,
        category,
        priority,
        split_from: None,
        contacted_at: None,
    }
}
