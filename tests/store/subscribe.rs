use std::time::Duration;

use aftersales_store::{
    subscribe, AllFilter, ExpectedRevision, SubscribeFrom, Subscription, SubscriptionMessage,
};
use aftersales_tests::{on_both_backends, TestDb};

use crate::{events, stream};

on_both_backends!(
    a_subscription_replays_history_then_delivers_live_events,
    a_subscription_resumes_after_a_checkpoint_with_a_category_filter,
    a_subscription_from_the_end_sees_only_new_events,
    checkpoints_are_kept_per_subscriber,
);

/// Generous: a missing event fails the test, a slow machine does not.
const PATIENCE: Duration = Duration::from_secs(20);

async fn next(subscription: &mut Subscription) -> SubscriptionMessage {
    tokio::time::timeout(PATIENCE, subscription.next())
        .await
        .expect("a message in time")
        .expect("the subscription is open")
        .expect("no error")
}

/// The positions of the next `n` events, skipping other messages.
async fn next_events(subscription: &mut Subscription, n: usize) -> Vec<u64> {
    let mut positions = Vec::new();
    while positions.len() < n {
        if let SubscriptionMessage::Event(event) = next(subscription).await {
            positions.push(event.position);
        }
    }
    positions
}

async fn a_subscription_replays_history_then_delivers_live_events(db: TestDb) {
    let store = db.open().await;
    store
        .append(&stream("case-1"), ExpectedRevision::Any, events(0, 3))
        .await
        .unwrap();
    let mut subscription = subscribe(store.clone(), SubscribeFrom::Start, AllFilter::default());
    assert_eq!(next_events(&mut subscription, 3).await, vec![1, 2, 3]);
    assert_eq!(
        next(&mut subscription).await,
        SubscriptionMessage::CaughtUp { position: 3 }
    );
    store
        .append(&stream("case-2"), ExpectedRevision::Any, events(0, 2))
        .await
        .unwrap();
    assert_eq!(next_events(&mut subscription, 2).await, vec![4, 5]);
    // A second store on the same database, as another process would be.
    let other = db.open().await;
    other
        .append(&stream("case-3"), ExpectedRevision::Any, events(0, 1))
        .await
        .unwrap();
    assert_eq!(next_events(&mut subscription, 1).await, vec![6]);
}

async fn a_subscription_resumes_after_a_checkpoint_with_a_category_filter(db: TestDb) {
    let store = db.open().await;
    store
        .append(&stream("case-1"), ExpectedRevision::Any, events(0, 2))
        .await
        .unwrap();
    store
        .append(&stream("parcel-1"), ExpectedRevision::Any, events(0, 2))
        .await
        .unwrap();
    store
        .append(&stream("case-2"), ExpectedRevision::Any, events(0, 2))
        .await
        .unwrap();
    let mut subscription = subscribe(
        store.clone(),
        SubscribeFrom::After(1),
        AllFilter::category("case"),
    );
    assert_eq!(next_events(&mut subscription, 3).await, vec![2, 5, 6]);
    store
        .append(&stream("parcel-1"), ExpectedRevision::Any, events(2, 1))
        .await
        .unwrap();
    store
        .append(&stream("case-1"), ExpectedRevision::Any, events(2, 1))
        .await
        .unwrap();
    assert_eq!(next_events(&mut subscription, 1).await, vec![8]);
}

async fn a_subscription_from_the_end_sees_only_new_events(db: TestDb) {
    let store = db.open().await;
    store
        .append(&stream("case-1"), ExpectedRevision::Any, events(0, 4))
        .await
        .unwrap();
    let mut subscription = subscribe(store.clone(), SubscribeFrom::End, AllFilter::default());
    assert_eq!(
        next(&mut subscription).await,
        SubscriptionMessage::CaughtUp { position: 4 }
    );
    store
        .append(&stream("case-1"), ExpectedRevision::Any, events(4, 1))
        .await
        .unwrap();
    assert_eq!(next_events(&mut subscription, 1).await, vec![5]);
}

async fn checkpoints_are_kept_per_subscriber(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.load_checkpoint("case-views").await.unwrap(), None);
    store.save_checkpoint("case-views", 10).await.unwrap();
    store.save_checkpoint("ledger", 3).await.unwrap();
    store.save_checkpoint("case-views", 12).await.unwrap();
    assert_eq!(store.load_checkpoint("case-views").await.unwrap(), Some(12));
    assert_eq!(store.load_checkpoint("ledger").await.unwrap(), Some(3));
    assert!(store.save_checkpoint("", 1).await.is_err());
}
