//! Random sequences of commands, projected a few at a time, equal a rebuild.

use aftersales_commands::Envelope;
use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::Money;
use aftersales_projections::admin;
use aftersales_tests::desk::*;
use aftersales_tests::{on_both_backends, TestDb};
use chrono::Duration;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::{assert_consistent, open};

on_both_backends!(
    incremental_read_models_equal_a_rebuild,
    a_rebuild_swaps_in_and_an_interrupted_one_resumes,
    the_case_list_filters_and_pages_in_registration_order
);

/// A command on a case, picked at random; many are refused by the rules,
/// which is part of the point: refused commands leave no trace.
fn random_command(
    rng: &mut StdRng,
    ids: &mut Vec<Uuid>,
) -> (aftersales_domain::Actor, CaseCommand) {
    let id = |rng: &mut StdRng, ids: &mut Vec<Uuid>| {
        if ids.is_empty() || rng.gen_bool(0.3) {
            let new = Uuid::new_v4();
            ids.push(new);
            new
        } else {
            ids[rng.gen_range(0..ids.len())]
        }
    };
    let amount = Money::cny(rng.gen_range(1..40_000));
    let command: CaseCommand = match rng.gen_range(0..17) {
        0 => AssignCase {
            agent_id: format!("agent-{}", rng.gen_range(1..4)),
        }
        .into(),
        1 => RequestRefund {
            refund_id: id(rng, ids),
            kind: RefundKind::NotReceived,
            amount,
            reason: "未收到".into(),
            payee_account: None,
        }
        .into(),
        2 => ApproveRefund {
            refund_id: id(rng, ids),
        }
        .into(),
        3 => ExecuteRefund {
            refund_id: id(rng, ids),
            channel: PayoutChannel::Platform,
            reference: "R".into(),
        }
        .into(),
        4 => OfferCompensation {
            compensation_id: id(rng, ids),
            approval_id: id(rng, ids),
            amount,
            issue: "补偿".into(),
        }
        .into(),
        5 => PayCompensation {
            compensation_id: id(rng, ids),
            channel: PayoutChannel::Alipay,
            reference: "A".into(),
        }
        .into(),
        6 => ApproveRequest {
            approval_id: id(rng, ids),
            note: None,
        }
        .into(),
        7 => ReportParcelProblem {
            tracking_no: format!("YT{}", rng.gen::<u16>()),
            carrier: "圆通".into(),
            class: ParcelClass::Damaged,
            note: None,
        }
        .into(),
        8 => AddParcelPhotos {
            photos: vec!["p.jpg".into()],
        }
        .into(),
        9 => FileCourierClaim {
            claim_id: id(rng, ids),
            amount,
        }
        .into(),
        10 => SettleCourierClaim {
            claim_id: id(rng, ids),
            amount,
        }
        .into(),
        11 => RequestPriceDifferenceRefund {
            price_refund_id: id(rng, ids),
            approval_id: id(rng, ids),
            amount,
            reason: "降价".into(),
        }
        .into(),
        12 => PayPriceDifferenceRefund {
            price_refund_id: id(rng, ids),
            channel: PayoutChannel::Bank,
            reference: "B".into(),
        }
        .into(),
        13 => RequestExchange {
            cause: ReturnCause::Company,
            reason: "错发".into(),
            resellable: true,
        }
        .into(),
        14 => RecordAdvancedPostage {
            amount: Money::cny(rng.gen_range(1..2_000)),
        }
        .into(),
        15 => InformCustomer {
            channel: ContactChannel::Phone,
            summary: "处理结果".into(),
            about: InformedAbout::Result,
            proof: Vec::new(),
        }
        .into(),
        _ => CloseCase {
            solution: "完成".into(),
            resolution: Resolution::Resolved,
        }
        .into(),
    };
    let actor = match &command {
        CaseCommand::ExecuteRefund(_)
        | CaseCommand::PayCompensation(_)
        | CaseCommand::SettleCourierClaim(_)
        | CaseCommand::PayPriceDifferenceRefund(_) => finance(),
        CaseCommand::ApproveRequest(_) | CaseCommand::RequestPriceDifferenceRefund(_) => {
            supervisor(rng.gen_range(1..3))
        }
        _ => agent(),
    };
    (actor, command)
}

async fn incremental_read_models_equal_a_rebuild(db: TestDb) {
    let (store, read) = open(&db).await;
    let desk = Desk::new(store.clone());
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut cases = Vec::new();
        let mut ids = Vec::new();
        for step in 0..120 {
            if cases.is_empty() || rng.gen_bool(0.1) {
                cases.push(
                    desk.register(
                        Priority::P2,
                        Category::Logistics,
                        PlatformState::SellerShipped,
                    )
                    .await,
                );
            }
            let case = cases[rng.gen_range(0..cases.len())];
            let (actor, command) = random_command(&mut rng, &mut ids);
            desk.clock.set(monday_10am() + Duration::minutes(step));
            let _ = desk
                .cases
                .execute(&Envelope::new(case, command, actor))
                .await;
            // Project a few events at a time, as the live service does.
            if rng.gen_bool(0.2) {
                assert!(admin::catch_up(store.clone(), &read)
                    .await
                    .unwrap()
                    .is_empty());
            }
        }
    }
    assert_consistent(&store, &read).await;
}

async fn a_rebuild_swaps_in_and_an_interrupted_one_resumes(db: TestDb) {
    let (store, read) = open(&db).await;
    let desk = Desk::new(store.clone());
    for _ in 0..60 {
        let case = desk
            .register(
                Priority::P1,
                Category::Logistics,
                PlatformState::SellerShipped,
            )
            .await;
        desk.run(
            case,
            &agent(),
            AssignCase {
                agent_id: "agent-1".into(),
            },
        )
        .await;
    }
    assert!(admin::catch_up(store.clone(), &read)
        .await
        .unwrap()
        .is_empty());
    let before = aftersales_projections::case_views::list(&read, &Default::default(), None, 500)
        .await
        .unwrap();
    assert_eq!(before.cases.len(), 60);

    // Interrupt a rebuild after its first batch: the live tables are untouched
    // and the shadow keeps its checkpoint.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let rebuilding = {
        let (store, read) = (store.clone(), read.clone());
        tokio::spawn(async move {
            admin::rebuild(store, &read, &["case_views".to_owned()], false, move |p| {
                let _ = tx.send(p);
                // Slow enough for the test to stop it between batches.
                std::thread::sleep(std::time::Duration::from_millis(50));
            })
            .await
        })
    };
    rx.recv().await.unwrap();
    rebuilding.abort();
    let _ = rebuilding.await;
    let after_abort =
        aftersales_projections::case_views::list(&read, &Default::default(), None, 500)
            .await
            .unwrap();
    assert_eq!(
        after_abort, before,
        "an interrupted rebuild leaves the live read model as it was"
    );
    // Resume it: it finishes and swaps in the same content.
    admin::rebuild(
        store.clone(),
        &read,
        &["case_views".to_owned()],
        false,
        |_| {},
    )
    .await
    .unwrap();
    let rebuilt = aftersales_projections::case_views::list(&read, &Default::default(), None, 500)
        .await
        .unwrap();
    assert_eq!(rebuilt, before);
    let statuses = read.all_statuses().await.unwrap();
    assert!(
        statuses.iter().all(|s| !s.name.contains('@')),
        "no shadow left behind: {statuses:?}"
    );
    // New events after the swap are applied to the swapped-in tables.
    let case = desk
        .register(
            Priority::P3,
            Category::Consultation,
            PlatformState::TradeSucceeded,
        )
        .await;
    assert!(admin::catch_up(store.clone(), &read)
        .await
        .unwrap()
        .is_empty());
    assert!(aftersales_projections::case_views::get(&read, case)
        .await
        .unwrap()
        .is_some());
    assert_consistent(&store, &read).await;
}

/// On PostgreSQL one service process runs the read models; when it stops,
/// another takes over and carries on from the checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_takes_over_the_read_models_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (store, first_db) = open(&db).await;
    let second_db = aftersales_projections::ReadDb::open(&db.url, None, false)
        .await
        .unwrap();
    let desk = Desk::new(store.clone());
    let caught_up = |read: aftersales_projections::ReadDb| {
        let store = store.clone();
        async move {
            for _ in 0..200 {
                let head = store.head().await.unwrap();
                let statuses = read.all_statuses().await.unwrap();
                if statuses.len() == admin::READ_MODELS.len()
                    && statuses.iter().all(|s| s.position == head)
                {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the read models did not catch up");
        }
    };
    let first = tokio::spawn(admin::run_live(store.clone(), first_db.clone(), |_| {}));
    desk.register(
        Priority::P2,
        Category::Logistics,
        PlatformState::SellerShipped,
    )
    .await;
    caught_up(first_db.clone()).await;
    let second = tokio::spawn(admin::run_live(store.clone(), second_db.clone(), |_| {}));
    first.abort();
    let _ = first.await;
    let case = desk
        .register(
            Priority::P1,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    caught_up(second_db.clone()).await;
    assert!(aftersales_projections::case_views::get(&second_db, case)
        .await
        .unwrap()
        .is_some());
    second.abort();
    assert_consistent(&store, &second_db).await;
}

async fn the_case_list_filters_and_pages_in_registration_order(db: TestDb) {
    use aftersales_projections::case_views::{list, CaseFilter};
    let (store, read) = open(&db).await;
    let desk = Desk::new(store.clone());
    let mut p1 = Vec::new();
    for minute in 0..7 {
        desk.clock.set(monday_10am() + Duration::minutes(minute));
        let priority = if minute % 2 == 0 {
            Priority::P1
        } else {
            Priority::P3
        };
        let case = desk
            .register(priority, Category::Logistics, PlatformState::SellerShipped)
            .await;
        if priority == Priority::P1 {
            desk.run(
                case,
                &agent(),
                AssignCase {
                    agent_id: "agent-7".into(),
                },
            )
            .await;
            p1.push(case);
        }
    }
    assert!(admin::catch_up(store.clone(), &read)
        .await
        .unwrap()
        .is_empty());
    let filter = CaseFilter {
        priority: Some(Priority::P1),
        assignee: Some("agent-7".into()),
        ..CaseFilter::default()
    };
    let first = list(&read, &filter, None, 3).await.unwrap();
    let cursor = first.next.clone().expect("a second page");
    let second = list(&read, &filter, Some(&cursor), 3).await.unwrap();
    assert_eq!(second.next, None);
    let listed: Vec<Uuid> = first
        .cases
        .iter()
        .chain(&second.cases)
        .map(|c| c.case_id)
        .collect();
    assert_eq!(listed, p1, "P1 cases of agent-7, oldest first, each once");
    let since = CaseFilter {
        created_from: Some(monday_10am() + Duration::minutes(5)),
        ..CaseFilter::default()
    };
    assert_eq!(list(&read, &since, None, 50).await.unwrap().cases.len(), 2);
    let bad = list(&read, &filter, Some("not-a-cursor"), 3).await;
    assert!(
        matches!(
            bad,
            Err(aftersales_projections::ProjectionError::InvalidCursor(_))
        ),
        "{bad:?}"
    );
}
