//! Given events, when a command, then events or the broken rule.

mod escalation;
mod follow_up;
mod parcels;
mod policy;
mod refunds;
mod registration;
mod returns;

use follow_up::result_told;
use parcels::*;
use refunds::*;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::*;
use crate::aggregate::{Aggregate, Context, DomainEvent};
use crate::model::*;
use crate::{Actor, DomainError, Money, Policy, Role};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Monday 2026-03-02 10:00 China time.
fn monday_10am() -> DateTime<Utc> {
    t("2026-03-02T02:00:00Z")
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

#[derive(Clone)]
struct Scenario {
    history: Vec<CaseEvent>,
    now: DateTime<Utc>,
    actor: Actor,
    policy: Policy,
}

fn given(history: Vec<CaseEvent>) -> Scenario {
    Scenario {
        history,
        now: monday_10am(),
        actor: Actor::new("agent-1", Role::Agent),
        policy: Policy::default(),
    }
}

impl Scenario {
    fn at(&self, now: DateTime<Utc>) -> Self {
        Self {
            now,
            ..self.clone()
        }
    }

    fn by(&self, id: &str, role: Role) -> Self {
        Self {
            actor: Actor::new(id, role),
            ..self.clone()
        }
    }

    fn when(&self, command: impl Into<CaseCommand>) -> Result<Vec<CaseEvent>, DomainError> {
        let case = Case::replay(&self.history);
        let ctx = Context {
            aggregate_id: id(1),
            now: self.now,
            actor: &self.actor,
            policy: &self.policy,
        };
        let result = case.handle(&command.into(), &ctx);
        if let Ok(events) = &result {
            for event in events {
                // Every event survives storage unchanged.
                let data = event.encode().unwrap();
                assert_eq!(
                    &CaseEvent::decode(event.event_type(), &data).unwrap(),
                    event
                );
            }
        }
        result
    }

    /// Applies the command's events to the history, for the next step.
    fn then_apply(mut self, command: impl Into<CaseCommand>) -> Self {
        let events = self.when(command).unwrap();
        self.history.extend(events);
        self
    }
}

fn customer() -> Customer {
    Customer {
        name: "王小明".into(),
        phone: "13800138000".into(),
        address: Some("浙江省杭州市西湖区文三路 100 号".into()),
        email: None,
        buyer_id: Some("tb_wangxm".into()),
    }
}

fn order(state: PlatformState) -> Order {
    Order {
        order_no: "TB20260301001".into(),
        paid: Money::cny(20_000),
        paid_at: t("2026-02-27T02:00:00Z"),
        postage: Some(Money::cny(1_000)),
        platform_state: state,
        platform: None,
    }
}

fn register(priority: Priority, category: Category, state: Option<PlatformState>) -> RegisterCase {
    RegisterCase {
        customer: customer(),
        order: state.map(order),
        product: Product {
            name: "智能电饭煲".into(),
            model: Some("IH-40B".into()),
            serial: None,
            purchase_date: None,
            purchase_channel: Some("天猫旗舰店".into()),
        },
        problem: Problem {
            phenomenon: "外包装破损".into(),
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

fn open_case(priority: Priority, state: PlatformState) -> Scenario {
    given(vec![]).then_apply(register(priority, Category::Logistics, Some(state)))
}

fn call(outcome: CallOutcome, at: DateTime<Utc>) -> LogCall {
    LogCall {
        call_id: Uuid::new_v4(),
        direction: CallDirection::Outbound,
        with_customer: true,
        party_name: None,
        number: "13800138000".into(),
        called_at: at,
        content: "告知处理进度".into(),
        product: None,
        fault: None,
        warranty: WarrantyStatus::InWarranty,
        outcome,
        follow_up: FollowUpStatus::Notified,
    }
}

fn only<E: Clone>(
    events: Result<Vec<CaseEvent>, DomainError>,
    pick: impl Fn(&CaseEvent) -> Option<E>,
) -> E {
    let events = events.unwrap();
    events.iter().find_map(pick).expect("the expected event")
}
