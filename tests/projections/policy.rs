//! A policy changed in the middle of the log: what was decided before keeps
//! the deadlines and business days of its own policy, in the live read
//! models, in a rebuild and in a report as of before the change.

use aftersales_commands::policy;
use aftersales_commands::Policies;
use aftersales_domain::model::{Category, PlatformState, Priority};
use aftersales_domain::{Actor, Policy, Role};
use aftersales_projections::reports::catalogue;
use aftersales_projections::{admin, case_views};
use aftersales_tests::desk::Desk;
use aftersales_tests::{on_both_backends, TestDb};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::{assert_consistent, open};

on_both_backends!(a_changed_policy_governs_what_follows_and_leaves_the_past_as_it_was);

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn a_changed_policy_governs_what_follows_and_leaves_the_past_as_it_was(db: TestDb) {
    let (store, read) = open(&db).await;
    let operator = Actor::new("ops-li", Role::Admin);
    policy::apply(store.as_ref(), Policy::default(), &operator)
        .await
        .unwrap();
    let policies = Policies::load(store.as_ref()).await.unwrap();
    let desk = Desk::with_policies(store.clone(), policies.clone());

    // Sunday 23:30 UTC: Monday 07:30 in Shanghai, Sunday 18:30 in New York.
    desk.clock.set(t("2026-03-01T23:30:00Z"));
    let before = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    assert!(admin::catch_up(store.clone(), &read)
        .await
        .unwrap()
        .is_empty());
    let then = store.head().await.unwrap();
    let work_log_then = catalogue::build(&read, "work-log", Default::default())
        .await
        .unwrap();

    let mut moved = Policy::default();
    moved.calendar.time_zone = chrono_tz::America::New_York;
    moved.sla.p2.first_response_hours = 1;
    policy::apply(store.as_ref(), moved.clone(), &operator)
        .await
        .unwrap();
    policies.refresh(store.as_ref()).await.unwrap();
    let after = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    assert_consistent(&store, &read).await;

    // Before: opens 09:00 Shanghai, 4 h of service, 13:00 Shanghai.
    let view = case_views::get(&read, before).await.unwrap().unwrap();
    assert_eq!(view.sla.first_response_due, Some(t("2026-03-02T05:00:00Z")));
    // After: open until 21:00 in New York, 1 h of service, 19:30 there.
    let view = case_views::get(&read, after).await.unwrap().unwrap();
    assert_eq!(view.sla.first_response_due, Some(t("2026-03-02T00:30:00Z")));

    // Each case is on the business day of its own policy's time zone.
    let work_log = catalogue::build(&read, "work-log", Default::default())
        .await
        .unwrap();
    let day = |case: uuid::Uuid| {
        work_log
            .cell("case", &json!(case.to_string()), "day")
            .cloned()
            .unwrap_or_else(|| panic!("{case} not in {:?}", work_log.rows))
    };
    assert_eq!(day(before), json!("2026-03-02"));
    assert_eq!(day(after), json!("2026-03-01"));

    // What the report showed before the change, it shows as of then.
    let as_of = admin::report_as_of(store.clone(), "work-log", then, Default::default())
        .await
        .unwrap();
    assert_eq!(as_of, work_log_then);
    assert_eq!(
        policy::as_of(store.as_ref(), Utc::now())
            .await
            .unwrap()
            .changed
            .digest,
        moved.digest()
    );
}
