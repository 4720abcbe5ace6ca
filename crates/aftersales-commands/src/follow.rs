//! Following the log for a change a process must take in while it runs
//! (the policy, a sandbox's clock), without a subscription of its own.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aftersales_store::EventStore;

/// How long a missed notification can go unnoticed.
const LOOK_AGAIN: Duration = Duration::from_secs(5);
/// The least time between two looks: under load the head moves with every
/// commit, and what is followed here changes rarely.
const AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// Calls `look` when the log's head has moved (at most once a second, and
/// now and then anyway in case a notification was missed), for as long as
/// the caller runs.
pub(crate) async fn on_new_events<F, Fut>(store: Arc<dyn EventStore>, look: F)
where
    F: Fn(Arc<dyn EventStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut head = store.head_watch();
    let mut seen = *head.borrow();
    loop {
        let _ = tokio::time::timeout(LOOK_AGAIN, head.changed()).await;
        let now = *head.borrow();
        if now != seen {
            seen = now;
            look(store.clone()).await;
            tokio::time::sleep(AT_MOST_EVERY).await;
        }
    }
}
