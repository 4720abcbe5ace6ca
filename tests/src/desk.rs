//! A service desk for tests: command handlers of every aggregate on one store
//! and one settable clock, the usual actors and a typical registration.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a failed test

use std::sync::Arc;

use aftersales_commands::{Envelope, FixedClock, Handler};
use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::{Actor, Money, Policy, Role};
use aftersales_store::EventStore;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Monday 2026-03-02 10:00 China time.
pub fn monday_10am() -> DateTime<Utc> {
    "2026-03-02T02:00:00Z".parse().unwrap()
}

pub struct Desk {
    pub store: Arc<dyn EventStore>,
    pub clock: Arc<FixedClock>,
    pub cases: Arc<Handler<Case>>,
}

impl Desk {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        let clock = Arc::new(FixedClock::new(monday_10am()));
        let cases = Arc::new(Handler::new(
            store.clone(),
            Arc::new(Policy::default()),
            clock.clone(),
        ));
        Self {
            store,
            clock,
            cases,
        }
    }

    /// A handler of another aggregate on the same store and clock.
    pub fn handler<A: aftersales_domain::Aggregate>(&self) -> Handler<A> {
        Handler::new(
            self.store.clone(),
            Arc::new(Policy::default()),
            self.clock.clone(),
        )
    }

    pub async fn run(
        &self,
        case: Uuid,
        actor: &Actor,
        command: impl Into<CaseCommand>,
    ) -> Vec<CaseEvent> {
        let envelope = Envelope::new(case, command.into(), actor.clone());
        self.cases
            .execute(&envelope)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .events
    }

    pub async fn try_run(
        &self,
        case: Uuid,
        actor: &Actor,
        command: impl Into<CaseCommand>,
    ) -> Result<Vec<CaseEvent>, aftersales_commands::HandlerError> {
        let envelope = Envelope::new(case, command.into(), actor.clone());
        self.cases.execute(&envelope).await.map(|o| o.events)
    }

    pub async fn register(
        &self,
        priority: Priority,
        category: Category,
        state: PlatformState,
    ) -> Uuid {
        let case_id = Uuid::new_v4();
        self.run(case_id, &agent(), registration(priority, category, state))
            .await;
        case_id
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
    }
}
