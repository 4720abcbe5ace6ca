use aftersales_store::{
    AllQuery, CurrentRevision, Direction, ExpectedRevision, NewEvent, StoreError, StreamFrom,
};
use aftersales_tests::{on_both_backends, TestDb};
use serde_json::json;

use crate::{events, stream};

on_both_backends!(
    a_new_stream_starts_at_revision_zero,
    positions_are_global_and_consecutive,
    no_stream_is_rejected_once_the_stream_exists,
    stream_exists_is_rejected_for_a_missing_stream,
    exact_revision_must_match_and_the_error_names_the_actual,
    any_appends_wherever_the_stream_is,
    a_rejected_append_writes_nothing,
    the_same_append_again_is_acknowledged_without_writing,
    reused_ids_with_another_expected_revision_fail,
    reused_ids_with_other_content_fail,
    reused_ids_on_another_stream_fail,
    metadata_and_recorded_time_are_kept,
    racing_exact_appends_let_exactly_one_win,
    concurrent_appends_to_many_streams_all_land_in_order,
    a_writer_overtaken_by_another_process_still_checks_revisions,
);

async fn a_new_stream_starts_at_revision_zero(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-1");
    let result = store
        .append(&case, ExpectedRevision::NoStream, events(0, 3))
        .await
        .unwrap();
    assert_eq!(result.next_expected_revision, 2);
    assert_eq!(result.position, 3);
    let read = store
        .read_stream(&case, StreamFrom::Start, Direction::Forwards, 10)
        .await
        .unwrap();
    let revisions: Vec<_> = read.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, vec![0, 1, 2]);
    assert_eq!(
        store.stream_revision(&case).await.unwrap(),
        CurrentRevision::Revision(2)
    );
    assert_eq!(
        store.stream_revision(&stream("case-none")).await.unwrap(),
        CurrentRevision::NoStream
    );
}

async fn positions_are_global_and_consecutive(db: TestDb) {
    let store = db.open().await;
    store
        .append(&stream("case-a"), ExpectedRevision::Any, events(0, 2))
        .await
        .unwrap();
    store
        .append(&stream("parcel-b"), ExpectedRevision::Any, events(0, 1))
        .await
        .unwrap();
    let last = store
        .append(&stream("case-a"), ExpectedRevision::Any, events(2, 2))
        .await
        .unwrap();
    assert_eq!(last.position, 5);
    assert_eq!(store.head().await.unwrap(), 5);
    let all = store.read_all(&AllQuery::forwards(0, 100)).await.unwrap();
    let placed: Vec<_> = all
        .events
        .iter()
        .map(|e| (e.position, e.stream.as_str(), e.revision))
        .collect();
    assert_eq!(
        placed,
        vec![
            (1, "case-a", 0),
            (2, "case-a", 1),
            (3, "parcel-b", 0),
            (4, "case-a", 2),
            (5, "case-a", 3)
        ]
    );
}

async fn no_stream_is_rejected_once_the_stream_exists(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-1");
    store
        .append(&case, ExpectedRevision::NoStream, events(0, 1))
        .await
        .unwrap();
    let error = store
        .append(&case, ExpectedRevision::NoStream, events(1, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::WrongExpectedRevision {
                expected: ExpectedRevision::NoStream,
                actual: CurrentRevision::Revision(0),
                ..
            }
        ),
        "{error:?}"
    );
}

async fn stream_exists_is_rejected_for_a_missing_stream(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-1");
    let error = store
        .append(&case, ExpectedRevision::StreamExists, events(0, 1))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        StoreError::WrongExpectedRevision {
            actual: CurrentRevision::NoStream,
            ..
        }
    ));
    store
        .append(&case, ExpectedRevision::Any, events(0, 1))
        .await
        .unwrap();
    store
        .append(&case, ExpectedRevision::StreamExists, events(1, 1))
        .await
        .unwrap();
    assert_eq!(
        store.stream_revision(&case).await.unwrap(),
        CurrentRevision::Revision(1)
    );
}

async fn exact_revision_must_match_and_the_error_names_the_actual(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-1");
    store
        .append(&case, ExpectedRevision::NoStream, events(0, 3))
        .await
        .unwrap();
    let error = store
        .append(&case, ExpectedRevision::Exact(1), events(3, 1))
        .await
        .unwrap_err();
    match error {
        StoreError::WrongExpectedRevision {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(stream, "case-1");
            assert_eq!(expected, ExpectedRevision::Exact(1));
            assert_eq!(actual, CurrentRevision::Revision(2));
        }
        other => panic!("expected a wrong-expected-revision error, got {other:?}"),
    }
    let ok = store
        .append(&case, ExpectedRevision::Exact(2), events(3, 1))
        .await
        .unwrap();
    assert_eq!(ok.next_expected_revision, 3);
    let missing = store
        .append(&stream("case-2"), ExpectedRevision::Exact(0), events(0, 1))
        .await
        .unwrap_err();
    assert!(matches!(
        missing,
        StoreError::WrongExpectedRevision {
            actual: CurrentRevision::NoStream,
            ..
        }
    ));
}

async fn any_appends_wherever_the_stream_is(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-1");
    store
        .append(&case, ExpectedRevision::Any, events(0, 1))
        .await
        .unwrap();
    let result = store
        .append(&case, ExpectedRevision::Any, events(1, 1))
        .await
        .unwrap();
    assert_eq!(result.next_expected_revision, 1);
}

async fn a_rejected_append_writes_nothing(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-1");
    store
        .append(&case, ExpectedRevision::NoStream, events(0, 1))
        .await
        .unwrap();
    let before = store.head().await.unwrap();
    store
        .append(&case, ExpectedRevision::Exact(5), events(1, 50))
        .await
        .unwrap_err();
    store
        .append(
            &case,
            ExpectedRevision::Any,
            vec![NewEvent::new("", json!({}))],
        )
        .await
        .unwrap_err();
    assert_eq!(store.head().await.unwrap(), before);
    assert_eq!(
        store.stream_revision(&case).await.unwrap(),
        CurrentRevision::Revision(0)
    );
}

async fn the_same_append_again_is_acknowledged_without_writing(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-1");
    store
        .append(&case, ExpectedRevision::NoStream, events(0, 1))
        .await
        .unwrap();
    let batch = events(1, 3);
    let first = store
        .append(&case, ExpectedRevision::Exact(0), batch.clone())
        .await
        .unwrap();
    store
        .append(&stream("case-2"), ExpectedRevision::Any, events(0, 1))
        .await
        .unwrap();
    // A client that lost the first answer retries the very same append.
    let retried = store
        .append(&case, ExpectedRevision::Exact(0), batch.clone())
        .await
        .unwrap();
    assert_eq!(retried, first);
    let with_any = store
        .append(&case, ExpectedRevision::Any, batch)
        .await
        .unwrap();
    assert_eq!(with_any, first);
    assert_eq!(store.head().await.unwrap(), 5);
    assert_eq!(
        store.stream_revision(&case).await.unwrap(),
        CurrentRevision::Revision(3)
    );

    let opening = events(0, 1);
    let new_stream = stream("case-3");
    let once = store
        .append(&new_stream, ExpectedRevision::NoStream, opening.clone())
        .await
        .unwrap();
    let twice = store
        .append(&new_stream, ExpectedRevision::NoStream, opening)
        .await
        .unwrap();
    assert_eq!(once, twice);
}

async fn reused_ids_with_another_expected_revision_fail(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-1");
    let batch = events(0, 2);
    store
        .append(&case, ExpectedRevision::NoStream, batch.clone())
        .await
        .unwrap();
    let error = store
        .append(&case, ExpectedRevision::Exact(4), batch)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::IdempotencyConflict { .. }),
        "{error:?}"
    );
    assert_eq!(store.head().await.unwrap(), 2);
}

async fn reused_ids_with_other_content_fail(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-1");
    let original = events(0, 1);
    store
        .append(&case, ExpectedRevision::NoStream, original.clone())
        .await
        .unwrap();
    let mut changed = original.clone();
    changed[0] = NewEvent::new("CallLogged", json!({ "n": 999 })).with_id(original[0].id);
    let error = store
        .append(&case, ExpectedRevision::NoStream, changed)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::IdempotencyConflict { .. }),
        "{error:?}"
    );
    // Part of an earlier append followed by a new event is no retry either.
    let mut extended = original;
    extended.extend(events(1, 1));
    let error = store
        .append(&case, ExpectedRevision::Any, extended)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::IdempotencyConflict { .. }),
        "{error:?}"
    );
    assert_eq!(store.head().await.unwrap(), 1);
}

async fn reused_ids_on_another_stream_fail(db: TestDb) {
    let store = db.open().await;
    let batch = events(0, 1);
    store
        .append(&stream("case-1"), ExpectedRevision::Any, batch.clone())
        .await
        .unwrap();
    let error = store
        .append(&stream("case-2"), ExpectedRevision::Any, batch)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::IdempotencyConflict { .. }),
        "{error:?}"
    );
}

async fn metadata_and_recorded_time_are_kept(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-1");
    let metadata = aftersales_store::EventMetadata {
        correlation_id: Some(uuid::Uuid::new_v4()),
        causation_id: Some(uuid::Uuid::new_v4()),
        actor_id: Some("agent-7".into()),
        actor_role: Some("agent".into()),
        schema_version: Some(1),
        extra: Default::default(),
    };
    let event = NewEvent::new(
        "CaseRegistered",
        json!({ "customer": "张三", "amount_fen": 12900 }),
    )
    .with_metadata(metadata.to_value());
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    store
        .append(&case, ExpectedRevision::NoStream, vec![event.clone()])
        .await
        .unwrap();
    let read = store
        .read_stream(&case, StreamFrom::Start, Direction::Forwards, 1)
        .await
        .unwrap();
    let recorded = &read[0];
    assert_eq!(recorded.id, event.id);
    assert_eq!(recorded.event_type, "CaseRegistered");
    assert_eq!(
        recorded.data_as::<serde_json::Value>().unwrap(),
        json!({ "customer": "张三", "amount_fen": 12900 })
    );
    assert_eq!(
        recorded
            .metadata_as::<aftersales_store::EventMetadata>()
            .unwrap(),
        metadata
    );
    assert!(recorded.recorded_at >= before && recorded.recorded_at <= chrono::Utc::now());
    assert_eq!(recorded.category(), "case");
}

async fn racing_exact_appends_let_exactly_one_win(db: TestDb) {
    let store = db.open().await;
    let case = stream("case-race");
    store
        .append(&case, ExpectedRevision::NoStream, events(0, 1))
        .await
        .unwrap();
    for round in 0..20u64 {
        let (a, b) = tokio::join!(
            store.append(
                &case,
                ExpectedRevision::Exact(round),
                events(100 + round, 1)
            ),
            store.append(
                &case,
                ExpectedRevision::Exact(round),
                events(200 + round, 1)
            ),
        );
        let wins = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
        assert_eq!(wins, 1, "round {round}: {a:?} / {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert!(matches!(
            loser,
            Err(StoreError::WrongExpectedRevision { .. })
        ));
    }
    assert_eq!(
        store.stream_revision(&case).await.unwrap(),
        CurrentRevision::Revision(20)
    );
}

async fn concurrent_appends_to_many_streams_all_land_in_order(db: TestDb) {
    let store = db.open().await;
    let writers = 32u64;
    let appends = 10u64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let s = stream(&format!("case-{w}"));
            for i in 0..appends {
                let expected = if i == 0 {
                    ExpectedRevision::NoStream
                } else {
                    ExpectedRevision::Exact(i * 2 - 1)
                };
                store.append(&s, expected, events(i * 2, 2)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total = writers * appends * 2;
    assert_eq!(store.head().await.unwrap(), total);
    let all = store
        .read_all(&AllQuery::forwards(1, 10_000))
        .await
        .unwrap();
    let positions: Vec<_> = all.events.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    for w in 0..writers {
        let revisions: Vec<_> = all
            .events
            .iter()
            .filter(|e| e.stream == format!("case-{w}"))
            .map(|e| e.revision)
            .collect();
        assert_eq!(revisions, (0..appends * 2).collect::<Vec<_>>());
    }
}

/// A writer may plan a batch on what it committed itself; once another
/// process has appended, that knowledge is stale and must not decide.
async fn a_writer_overtaken_by_another_process_still_checks_revisions(db: TestDb) {
    let first = db.open().await;
    let second = db.open().await;
    let case = stream("case-1");
    first
        .append(&case, ExpectedRevision::NoStream, events(0, 1))
        .await
        .unwrap();
    second
        .append(&case, ExpectedRevision::Exact(0), events(1, 1))
        .await
        .unwrap();
    // The first writer last saw revision 0.
    let error = first
        .append(&case, ExpectedRevision::Exact(0), events(2, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::WrongExpectedRevision {
                actual: CurrentRevision::Revision(1),
                ..
            }
        ),
        "got {error:?}"
    );
    second
        .append(&stream("case-2"), ExpectedRevision::NoStream, events(0, 1))
        .await
        .unwrap();
    let error = first
        .append(&stream("case-2"), ExpectedRevision::NoStream, events(0, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::WrongExpectedRevision { .. }),
        "got {error:?}"
    );
    // Both go on from the log as it is, positions without a gap.
    let next = first
        .append(&case, ExpectedRevision::Exact(1), events(2, 1))
        .await
        .unwrap();
    assert_eq!((next.next_expected_revision, next.position), (2, 4));
    let next = second
        .append(&case, ExpectedRevision::Exact(2), events(3, 1))
        .await
        .unwrap();
    assert_eq!((next.next_expected_revision, next.position), (3, 5));
}
