use std::sync::Arc;

use aftersales_commands::{Envelope, Handler, HandlerError, Policies};
use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::{DomainError, Policy};
use aftersales_store::{CurrentRevision, Direction, EventMetadata, StreamFrom, StreamName};
use aftersales_tests::{on_both_backends, TestDb};
use uuid::Uuid;

use crate::{agent, registration, Desk, Refused};

on_both_backends!(
    an_accepted_command_appends_its_events_with_the_actor_and_ids_in_metadata,
    a_rejected_command_appends_nothing_and_names_the_rule,
    a_concurrent_write_makes_the_handler_decide_again,
    a_stale_if_match_revision_is_refused,
    the_cache_survives_only_as_long_as_the_stream_agrees,
    a_refusal_on_cached_state_is_checked_against_the_stream,
    a_retry_of_a_recorded_command_gets_its_first_answer,
);

async fn an_accepted_command_appends_its_events_with_the_actor_and_ids_in_metadata(db: TestDb) {
    let desk = Desk::new(db.open().await);
    let case_id = Uuid::new_v4();
    let mut envelope = Envelope::new(
        case_id,
        registration(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .into(),
        agent(),
    );
    envelope.causation_id = Some(Uuid::new_v4());
    let outcome = desk.cases.execute(&envelope).await.unwrap();
    assert_eq!(outcome.revision, Some(0));
    let stream = StreamName::of("case", case_id).unwrap();
    let stored = desk
        .store
        .read_stream(&stream, StreamFrom::Start, Direction::Forwards, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].event_type, "CaseRegistered");
    // The case's id is its stream's, not anything the request said.
    let registered: CaseRegistered = stored[0].data_as().unwrap();
    assert_eq!(registered.case_id, case_id);
    let metadata: EventMetadata = stored[0].metadata_as().unwrap();
    assert_eq!(metadata.actor_id.as_deref(), Some("agent-1"));
    assert_eq!(metadata.actor_role.as_deref(), Some("agent"));
    assert_eq!(metadata.correlation_id, Some(envelope.correlation_id));
    assert_eq!(metadata.causation_id, envelope.causation_id);
    assert_eq!(metadata.schema_version, Some(1));
    assert_eq!(metadata.extra["command"], "RegisterCase");
}

async fn a_rejected_command_appends_nothing_and_names_the_rule(db: TestDb) {
    let desk = Desk::new(db.open().await);
    let case_id = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    let head = desk.store.head().await.unwrap();
    let refund = RequestRefund {
        refund_id: Uuid::new_v4(),
        kind: RefundKind::ReceivedNoReturn,
        amount: aftersales_domain::Money::cny(99_999),
        reason: "质量问题".into(),
        payee_account: None,
    };
    match desk.try_run(case_id, &agent(), refund).await {
        Err(Refused::Handler(HandlerError::Rejected(
            error @ DomainError::RefundExceedsPaid { .. },
        ))) => {
            assert_eq!(error.code(), "refund-exceeds-paid");
        }
        other => panic!("expected the refund rule, got {other:?}"),
    }
    assert_eq!(desk.store.head().await.unwrap(), head);
}

async fn a_concurrent_write_makes_the_handler_decide_again(db: TestDb) {
    let store = db.open().await;
    let desk = Desk::new(store.clone());
    let case_id = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    // A second service process with its own cache.
    let other = Handler::<Case>::new(
        store.clone(),
        Policies::fixed(Policy::default()),
        desk.clock.clone(),
    );
    other
        .execute(&Envelope::new(
            case_id,
            AssignCase {
                agent_id: "agent-2".into(),
            }
            .into(),
            agent(),
        ))
        .await
        .unwrap();
    // The first handler's cached state is now one revision behind.
    let outcome = desk
        .cases
        .execute(&Envelope::new(
            case_id,
            AssignCase {
                agent_id: "agent-3".into(),
            }
            .into(),
            agent(),
        ))
        .await
        .unwrap();
    assert_eq!(outcome.conflicts, 1);
    assert_eq!(outcome.revision, Some(2));
    match &outcome.events[0] {
        CaseEvent::CaseAssigned(assigned) => {
            assert_eq!(assigned.previous_agent_id.as_deref(), Some("agent-2"))
        }
        other => panic!("{other:?}"),
    }
    // Many racing writers on one case: every command lands exactly once.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let handler = Arc::new(Handler::<Case>::new(
            store.clone(),
            Policies::fixed(Policy::default()),
            desk.clock.clone(),
        ));
        tasks.push(tokio::spawn(async move {
            handler
                .execute(&Envelope::new(
                    case_id,
                    AssignCase {
                        agent_id: format!("agent-x{n}"),
                    }
                    .into(),
                    agent(),
                ))
                .await
        }));
    }
    let mut landed = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            landed += 1;
        }
    }
    let (revision, _) = desk.cases.load(case_id).await.unwrap();
    assert_eq!(revision, CurrentRevision::Revision(2 + landed));
    assert!(landed >= 1);
}

async fn a_stale_if_match_revision_is_refused(db: TestDb) {
    let desk = Desk::new(db.open().await);
    let case_id = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    desk.run(
        case_id,
        &agent(),
        AssignCase {
            agent_id: "agent-2".into(),
        },
    )
    .await;
    let mut envelope = Envelope::new(
        case_id,
        AssignCase {
            agent_id: "agent-3".into(),
        }
        .into(),
        agent(),
    );
    envelope.expected_revision = Some(0);
    assert!(matches!(
        desk.cases.execute(&envelope).await,
        Err(HandlerError::StaleRevision {
            expected: 0,
            actual: CurrentRevision::Revision(1),
            ..
        })
    ));
    envelope.expected_revision = Some(1);
    assert!(desk.cases.execute(&envelope).await.is_ok());
}

async fn the_cache_survives_only_as_long_as_the_stream_agrees(db: TestDb) {
    let store = db.open().await;
    let desk = Desk::new(store.clone());
    let case_id = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    // Someone closes the case behind the handler's back.
    let other = Handler::<Case>::new(
        store,
        Policies::fixed(Policy::default()),
        desk.clock.clone(),
    );
    other
        .execute(&Envelope::new(
            case_id,
            CloseCase {
                solution: "客户撤回".into(),
                resolution: Resolution::Abandoned,
            }
            .into(),
            agent(),
        ))
        .await
        .unwrap();
    // The stale cache thinks the case is open; the stream wins.
    let result = desk
        .try_run(
            case_id,
            &agent(),
            AssignCase {
                agent_id: "agent-5".into(),
            },
        )
        .await;
    assert!(
        matches!(
            result,
            Err(Refused::Handler(HandlerError::Rejected(
                DomainError::CaseClosed
            )))
        ),
        "{result:?}"
    );
}

async fn a_refusal_on_cached_state_is_checked_against_the_stream(db: TestDb) {
    let store = db.open().await;
    let desk = Desk::new(store.clone());
    let case_id = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    desk.run(
        case_id,
        &agent(),
        CloseCase {
            solution: "客户撤回".into(),
            resolution: Resolution::Abandoned,
        },
    )
    .await;
    // Another process reopens it; this handler's cache still says closed.
    let other = Handler::<Case>::new(
        store,
        Policies::fixed(Policy::default()),
        desk.clock.clone(),
    );
    other
        .execute(&Envelope::new(
            case_id,
            ReopenCase {
                reason: "客户再次来电".into(),
            }
            .into(),
            agent(),
        ))
        .await
        .unwrap();
    let result = desk
        .try_run(
            case_id,
            &agent(),
            AssignCase {
                agent_id: "agent-5".into(),
            },
        )
        .await;
    assert!(result.is_ok(), "{result:?}");
}

/// The answer to a command can be lost after its events were recorded (the
/// process died, the connection dropped). Its retry, with the same command
/// id, meets the state the first attempt made: it must get the first
/// answer, not a refusal ("already registered") or a conflict (the same
/// event ids decided at another revision).
async fn a_retry_of_a_recorded_command_gets_its_first_answer(db: TestDb) {
    let desk = Desk::new(db.open().await);
    let case_id = Uuid::new_v4();
    let register = Envelope::new(
        case_id,
        registration(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .into(),
        agent(),
    );
    let first = desk.cases.execute(&register).await.unwrap();
    let call = Envelope::new(
        case_id,
        LogCall {
            call_id: Uuid::new_v4(),
            direction: CallDirection::Outbound,
            with_customer: true,
            party_name: None,
            number: "13912345678".into(),
            called_at: "2026-03-02T02:00:00Z".parse().unwrap(),
            content: "核实物流".into(),
            product: None,
            fault: None,
            warranty: WarrantyStatus::InWarranty,
            outcome: CallOutcome::Connected,
            follow_up: FollowUpStatus::Notified,
        }
        .into(),
        agent(),
    );
    // The first call also records the first response; a second would not.
    let logged = desk.cases.execute(&call).await.unwrap();
    assert_eq!(logged.events.len(), 2);

    let again = desk.cases.execute(&register).await.unwrap();
    assert_eq!(
        (again.revision, again.position),
        (first.revision, first.position)
    );
    assert_eq!(again.events, first.events);
    let again = desk.cases.execute(&call).await.unwrap();
    assert_eq!(
        (again.revision, again.position),
        (logged.revision, logged.position)
    );
    assert_eq!(again.events, logged.events);

    let stream = StreamName::of("case", case_id).unwrap();
    let stored = desk
        .store
        .read_stream(&stream, StreamFrom::Start, Direction::Forwards, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 3, "a retry appended again");
}
