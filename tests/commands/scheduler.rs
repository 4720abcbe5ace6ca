use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::Money;
use aftersales_tests::{on_both_backends, write_behind_the_api, TestDb};
use chrono::Duration;
use uuid::Uuid;

use crate::{agent, monday_10am, Desk};

on_both_backends!(
    the_scheduler_issues_due_commands_once,
    a_case_that_cannot_be_read_does_not_stop_the_scheduler,
);

async fn a_case_that_cannot_be_read_does_not_stop_the_scheduler(db: TestDb) {
    let desk = Desk::new(db.open().await);
    let mut cases = Vec::new();
    for _ in 0..2 {
        cases.push(
            desk.register(
                Priority::P1,
                Category::Logistics,
                PlatformState::SellerShipped,
            )
            .await,
        );
    }
    let mut scheduler = desk.scheduler().await;
    assert_eq!(scheduler.run_once().await.unwrap().issued, 0);
    // One case's stream gets an event no code can read.
    let broken = cases[0];
    write_behind_the_api(
        &db.url,
        &format!("case-{broken}"),
        "CallLogged",
        r#"{"number":1}"#,
    )
    .await;

    desk.clock.set(monday_10am() + Duration::hours(3));
    let run = scheduler.run_once().await.unwrap();
    assert_eq!((run.issued, run.failed), (1, 1), "{run:?}");
    let (_, sound) = desk.cases.load(cases[1]).await.unwrap();
    assert!(
        !sound.sla.breached.is_empty(),
        "the other case's breach is recorded"
    );
}

async fn the_scheduler_issues_due_commands_once(db: TestDb) {
    let desk = Desk::new(db.open().await);
    let p1 = desk
        .register(
            Priority::P1,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    let refund_id = Uuid::new_v4();
    desk.run(
        p1,
        &agent(),
        RequestRefund {
            refund_id,
            kind: RefundKind::ReceivedWithReturn,
            amount: Money::cny(5_000),
            reason: "外观破损".into(),
            payee_account: None,
        },
    )
    .await;
    let mut scheduler = desk.scheduler().await;

    // Nothing is due yet.
    assert_eq!(scheduler.run_once().await.unwrap().issued, 0);

    // Three hours on, the P1 first-response deadline has passed.
    desk.clock.set(monday_10am() + Duration::hours(3));
    let head = desk.store.head().await.unwrap();
    assert_eq!(scheduler.run_once().await.unwrap().issued, 1);
    assert_eq!(
        desk.store.head().await.unwrap(),
        head + 2,
        "a breach and an escalation"
    );
    // Running again appends nothing new.
    let head = desk.store.head().await.unwrap();
    assert_eq!(scheduler.run_once().await.unwrap().issued, 0);
    assert_eq!(desk.store.head().await.unwrap(), head);

    // Seven days on: the refund is auto-accepted and the resolution deadline breached.
    desk.clock
        .set(monday_10am() + Duration::days(7) + Duration::minutes(1));
    let run = scheduler.run_once().await.unwrap();
    assert_eq!(run.issued, 2);
    let (_, case) = desk.cases.load(p1).await.unwrap();
    assert_eq!(case.pending_refunds(), 0);
    // A second scheduler (another process) finds nothing left to do.
    let mut other = desk.scheduler().await;
    assert_eq!(other.run_once().await.unwrap().issued, 0);
}
