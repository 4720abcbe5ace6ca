//! The schedule read model: where the scheduler finds what falls due.

use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::reminder::{RegisterUnpaidOrder, UnpaidOrder};
use aftersales_domain::Money;
use aftersales_projections::{admin, schedule};
use aftersales_tests::desk::*;
use aftersales_tests::{on_both_backends, TestDb};
use chrono::Duration;

use crate::{assert_consistent, open};

on_both_backends!(a_case_is_due_from_its_deadline_until_its_clock_stops);

async fn a_case_is_due_from_its_deadline_until_its_clock_stops(db: TestDb) {
    let (store, read) = open(&db).await;
    let desk = Desk::new(store.clone());
    let p1 = desk
        .register(
            Priority::P1,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    let p3 = desk
        .register(
            Priority::P3,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    // An unpaid order that happens to share the P1 case's id: ids are
    // unique within a category only.
    let ordered_at = monday_10am() - Duration::hours(20);
    desk.execute::<UnpaidOrder>(
        Some(p1),
        &agent(),
        RegisterUnpaidOrder {
            order_no: "TB-UNPAID-1".into(),
            buyer_id: "tb_zhou".into(),
            ordered_at,
            amount: Money::cny(15_800),
        }
        .into(),
    )
    .await
    .unwrap();
    admin::catch_up(store.clone(), &read).await.unwrap();
    let unpaid = schedule::due(&read, "unpaid", monday_10am() + Duration::days(8), None, 10)
        .await
        .unwrap();
    assert_eq!(unpaid.len(), 1);
    assert_eq!(
        (unpaid[0].aggregate_id, unpaid[0].due),
        (p1, ordered_at + Duration::hours(72)),
        "the platform closes an unpaid order 72 hours after it was placed"
    );

    let due = |hours: i64| {
        let read = read.clone();
        async move {
            schedule::due(
                &read,
                "case",
                monday_10am() + Duration::hours(hours),
                None,
                10,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.aggregate_id)
            .collect::<Vec<_>>()
        }
    };
    assert!(due(1).await.is_empty(), "nothing is due within the hour");
    assert_eq!(due(3).await, vec![p1], "the P1 first response is late");
    // Both are due a week on, earliest deadline first, a page at a time.
    let week = monday_10am() + Duration::days(8);
    let first = schedule::due(&read, "case", week, None, 1).await.unwrap();
    let rest = schedule::due(&read, "case", week, first.last().copied(), 10)
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 2);
    assert!(first[0].due <= rest[0].due);

    // A paused clock has nothing due. The catch-up starts afresh, as after
    // a restart, so the case is read again from its stream.
    desk.run(
        p1,
        &agent(),
        PauseSla {
            reason: PauseReason::WaitingOnThirdParty,
        },
    )
    .await;
    admin::catch_up(store.clone(), &read).await.unwrap();
    assert!(due(3).await.is_empty());
    let all = schedule::due(&read, "case", week, None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.aggregate_id).collect::<Vec<_>>(),
        vec![p3]
    );
    assert_consistent(&store, &read).await;
}
