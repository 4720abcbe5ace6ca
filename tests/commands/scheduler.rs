use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::repair::{self, RepairOrder};
use aftersales_domain::Money;
use aftersales_domain::{Actor, Role};
use aftersales_tests::{on_both_backends, write_behind_the_api, TestDb};
use chrono::Duration;
use uuid::Uuid;

use crate::{agent, monday_10am, Desk};

on_both_backends!(
    the_scheduler_issues_due_commands_once,
    a_case_that_cannot_be_read_does_not_stop_the_scheduler,
    a_returned_repair_puts_its_revisit_on_the_case_once,
    a_revisit_arranged_late_is_due_at_once,
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

/// 维修后3天内回访: once a repaired device is back with the customer, the
/// scheduler puts the revisit on the repair's case, due three days on; a
/// pass interrupted after the case got it (a crash) finishes without a
/// second revisit.
async fn a_returned_repair_puts_its_revisit_on_the_case_once(db: TestDb) {
    let desk = Desk::new(db.open().await);
    let mut repairs = Vec::new();
    for _ in 0..2 {
        repairs.push(returned_repair(&desk).await);
    }
    let due = monday_10am() + Duration::days(3);
    // The first repair's pass was cut short: its case got the revisit,
    // the repair did not record it.
    let (first_repair, first_case) = repairs[0];
    let revisit_id = Uuid::new_v5(&first_repair, b"revisit");
    desk.run(
        first_case,
        &Actor::system(),
        ScheduleRevisit {
            revisit_id,
            kind: RevisitKind::AfterRepair,
            due_at: due,
        },
    )
    .await;

    let mut scheduler = desk.scheduler().await;
    let run = scheduler.run_once().await.unwrap();
    assert_eq!((run.issued, run.failed), (2, 0), "{run:?}");
    for (repair_id, case) in &repairs {
        let (_, state) = desk.cases.load(*case).await.unwrap();
        assert_eq!(state.revisits.len(), 1, "one revisit on case {case}");
        let revisit = Uuid::new_v5(repair_id, b"revisit");
        assert!(state.revisits.contains_key(&revisit));
        let (_, repair) = desk
            .handler::<RepairOrder>()
            .load(*repair_id)
            .await
            .unwrap();
        assert!(repair.revisit_arranged);
    }
    // The second case's revisit is after the repair, due three days on.
    let scheduled = revisits_scheduled(&desk, repairs[1].1).await;
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].kind, RevisitKind::AfterRepair);
    assert_eq!(scheduled[0].due_at, due);
    // Nothing is left to do.
    let head = desk.store.head().await.unwrap();
    let run = scheduler.run_once().await.unwrap();
    assert_eq!(run.issued, 0, "{run:?}");
    assert_eq!(desk.store.head().await.unwrap(), head);
}

/// A scheduler that comes back after the revisit's day (the service was
/// down for a week) still puts the revisit on the case, due at once, and
/// the repair is done with: no pass after it retries or fails.
async fn a_revisit_arranged_late_is_due_at_once(db: TestDb) {
    let desk = Desk::new(db.open().await);
    let (repair_id, case) = returned_repair(&desk).await;
    let late = monday_10am() + Duration::days(7);
    desk.clock.set(late);

    let mut scheduler = desk.scheduler().await;
    // A week on, the case's own deadlines are due as well.
    let run = scheduler.run_once().await.unwrap();
    assert_eq!(run.failed, 0, "{run:?}");
    let scheduled = revisits_scheduled(&desk, case).await;
    assert_eq!(scheduled.len(), 1);
    assert_eq!(
        scheduled[0].revisit_id,
        Uuid::new_v5(&repair_id, b"revisit")
    );
    assert_eq!(scheduled[0].due_at, late);
    let (_, repair) = desk.handler::<RepairOrder>().load(repair_id).await.unwrap();
    assert!(repair.revisit_arranged);
    let run = scheduler.run_once().await.unwrap();
    assert_eq!(run.failed, 0, "{run:?}");
}

async fn revisits_scheduled(desk: &Desk, case: Uuid) -> Vec<RevisitScheduled> {
    let stream = aftersales_store::StreamName::of("case", case).unwrap();
    desk.store
        .read_stream(
            &stream,
            aftersales_store::StreamFrom::Start,
            aftersales_store::Direction::Forwards,
            100,
        )
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == "RevisitScheduled")
        .map(|e| serde_json::from_str(e.data.get()).unwrap())
        .collect()
}

/// A repair of a new case's device, repaired in warranty and returned to
/// the customer: (repair, case).
async fn returned_repair(desk: &Desk) -> (Uuid, Uuid) {
    let technician = Actor::new("tech-1", Role::Technician);
    let case = desk
        .register(
            Priority::P2,
            Category::Repair,
            PlatformState::TradeSucceeded,
        )
        .await;
    let repair_id = aftersales_tests::scenarios::repaired_in_warranty(desk, Some(case)).await;
    let returned = repair::ReturnDevice {
        tracking_no: "SF1".into(),
    };
    desk.execute::<RepairOrder>(Some(repair_id), &technician, returned.into())
        .await
        .unwrap();
    (repair_id, case)
}
