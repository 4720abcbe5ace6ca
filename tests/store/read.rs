use aftersales_store::{
    AllFilter, AllFrom, AllQuery, Direction, ExpectedRevision, NewEvent, StoreError, StreamFrom,
    MAX_READ_LIMIT,
};
use aftersales_tests::{on_both_backends, TestDb};
use serde_json::json;

use crate::{events, stream};

on_both_backends!(
    a_stream_reads_forwards_from_a_revision_with_a_limit,
    a_stream_reads_backwards_from_the_end_or_a_revision,
    all_reads_forwards_in_pages,
    all_reads_backwards,
    all_filters_by_category_and_event_type,
    a_filtered_page_says_how_far_it_looked,
    oversized_reads_are_refused,
    everything_survives_a_restart,
);

async fn seed(store: &dyn aftersales_store::EventStore) {
    // case-1: revisions 0..=4 at positions 1..=5; parcel-9: 0..=1 at 6..=7; case-2: 0 at 8
    store
        .append(&stream("case-1"), ExpectedRevision::NoStream, events(0, 5))
        .await
        .unwrap();
    store
        .append(
            &stream("parcel-9"),
            ExpectedRevision::NoStream,
            vec![
                NewEvent::new("ParcelReportedLost", json!({})),
                NewEvent::new("ParcelReshipped", json!({})),
            ],
        )
        .await
        .unwrap();
    store
        .append(&stream("case-2"), ExpectedRevision::NoStream, events(0, 1))
        .await
        .unwrap();
}

fn revisions(events: &[aftersales_store::RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.revision).collect()
}

fn positions(events: &[aftersales_store::RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

async fn a_stream_reads_forwards_from_a_revision_with_a_limit(db: TestDb) {
    let store = db.open().await;
    seed(&*store).await;
    let case = stream("case-1");
    let page = store
        .read_stream(&case, StreamFrom::Revision(1), Direction::Forwards, 3)
        .await
        .unwrap();
    assert_eq!(revisions(&page), vec![1, 2, 3]);
    let rest = store
        .read_stream(&case, StreamFrom::Revision(4), Direction::Forwards, 3)
        .await
        .unwrap();
    assert_eq!(revisions(&rest), vec![4]);
    let beyond = store
        .read_stream(&case, StreamFrom::End, Direction::Forwards, 3)
        .await
        .unwrap();
    assert!(beyond.is_empty());
    let missing = store
        .read_stream(
            &stream("case-404"),
            StreamFrom::Start,
            Direction::Forwards,
            3,
        )
        .await
        .unwrap();
    assert!(missing.is_empty());
}

async fn a_stream_reads_backwards_from_the_end_or_a_revision(db: TestDb) {
    let store = db.open().await;
    seed(&*store).await;
    let case = stream("case-1");
    let last_two = store
        .read_stream(&case, StreamFrom::End, Direction::Backwards, 2)
        .await
        .unwrap();
    assert_eq!(revisions(&last_two), vec![4, 3]);
    let from_two = store
        .read_stream(&case, StreamFrom::Revision(2), Direction::Backwards, 10)
        .await
        .unwrap();
    assert_eq!(revisions(&from_two), vec![2, 1, 0]);
}

async fn all_reads_forwards_in_pages(db: TestDb) {
    let store = db.open().await;
    seed(&*store).await;
    let first = store.read_all(&AllQuery::forwards(1, 3)).await.unwrap();
    assert_eq!(positions(&first.events), vec![1, 2, 3]);
    assert_eq!((first.scanned_to, first.is_end), (3, false));
    let second = store
        .read_all(&AllQuery::forwards(first.scanned_to + 1, 10))
        .await
        .unwrap();
    assert_eq!(positions(&second.events), vec![4, 5, 6, 7, 8]);
    assert_eq!((second.scanned_to, second.is_end), (8, true));
    let past_the_end = store.read_all(&AllQuery::forwards(9, 10)).await.unwrap();
    assert!(past_the_end.events.is_empty() && past_the_end.is_end);
    let from_end = store
        .read_all(&AllQuery {
            from: AllFrom::End,
            ..AllQuery::forwards(0, 10)
        })
        .await
        .unwrap();
    assert!(from_end.events.is_empty());
    assert_eq!(from_end.scanned_to, 8);
}

async fn all_reads_backwards(db: TestDb) {
    let store = db.open().await;
    seed(&*store).await;
    let query = AllQuery {
        from: AllFrom::End,
        direction: Direction::Backwards,
        limit: 3,
        filter: AllFilter::default(),
    };
    let page = store.read_all(&query).await.unwrap();
    assert_eq!(positions(&page.events), vec![8, 7, 6]);
    let next = store
        .read_all(&AllQuery {
            from: AllFrom::Position(page.scanned_to - 1),
            limit: 10,
            ..query
        })
        .await
        .unwrap();
    assert_eq!(positions(&next.events), vec![5, 4, 3, 2, 1]);
    assert!(next.is_end);
}

async fn all_filters_by_category_and_event_type(db: TestDb) {
    let store = db.open().await;
    seed(&*store).await;
    let cases = store
        .read_all(&AllQuery::forwards(1, 100).with_filter(AllFilter::category("case")))
        .await
        .unwrap();
    assert_eq!(positions(&cases.events), vec![1, 2, 3, 4, 5, 8]);
    let reships = store
        .read_all(&AllQuery::forwards(1, 100).with_filter(AllFilter {
            categories: vec![],
            event_types: vec!["ParcelReshipped".into(), "NoSuchType".into()],
        }))
        .await
        .unwrap();
    assert_eq!(positions(&reships.events), vec![7]);
    let both = store
        .read_all(&AllQuery::forwards(1, 100).with_filter(AllFilter {
            categories: vec!["parcel".into()],
            event_types: vec!["ParcelReportedLost".into()],
        }))
        .await
        .unwrap();
    assert_eq!(positions(&both.events), vec![6]);
}

async fn a_filtered_page_says_how_far_it_looked(db: TestDb) {
    let store = db.open().await;
    seed(&*store).await;
    let parcels = AllFilter::category("parcel");
    let page = store
        .read_all(&AllQuery::forwards(1, 1).with_filter(parcels.clone()))
        .await
        .unwrap();
    assert_eq!(positions(&page.events), vec![6]);
    assert_eq!((page.scanned_to, page.is_end), (6, false));
    let rest = store
        .read_all(&AllQuery::forwards(7, 5).with_filter(parcels))
        .await
        .unwrap();
    assert_eq!(positions(&rest.events), vec![7]);
    assert_eq!((rest.scanned_to, rest.is_end), (8, true));
}

async fn oversized_reads_are_refused(db: TestDb) {
    let store = db.open().await;
    let error = store
        .read_all(&AllQuery::forwards(1, MAX_READ_LIMIT + 1))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput(_)), "{error:?}");
    let error = store
        .read_stream(
            &stream("case-1"),
            StreamFrom::Start,
            Direction::Forwards,
            MAX_READ_LIMIT + 1,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput(_)), "{error:?}");
}

async fn everything_survives_a_restart(db: TestDb) {
    let before = {
        let store = db.open().await;
        seed(&*store).await;
        store.save_checkpoint("case-views", 5).await.unwrap();
        store
            .read_all(&AllQuery::forwards(1, 100))
            .await
            .unwrap()
            .events
    };
    let store = db.open().await;
    let after = store
        .read_all(&AllQuery::forwards(1, 100))
        .await
        .unwrap()
        .events;
    assert_eq!(after, before);
    assert_eq!(store.load_checkpoint("case-views").await.unwrap(), Some(5));
    let next = store
        .append(&stream("case-1"), ExpectedRevision::Exact(4), events(5, 1))
        .await
        .unwrap();
    assert_eq!((next.next_expected_revision, next.position), (5, 9));
}
