//! Catch-up subscriptions to `$all`: replay from a checkpoint, then follow
//! new events live.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::StoreError;
use crate::store::EventStore;
use crate::types::{AllFilter, AllFrom, AllQuery, Direction, Position, RecordedEvent};

/// Events read per page while catching up.
const PAGE: usize = 1_000;
/// Messages a slow consumer may leave unread before the reader waits.
const BUFFER: usize = 1_024;
/// How often a live subscription looks for events that no notification
/// announced (appends by another process on the same SQLite file).
const POLL: Duration = Duration::from_millis(200);
/// Longest wait between retries while the database is unavailable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeFrom {
    /// From the first event.
    Start,
    /// After a checkpoint: the first event delivered has a greater position.
    After(Position),
    /// Only events committed after the subscription started.
    End,
}

/// What a subscription delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionMessage {
    Event(RecordedEvent),
    /// The subscription has delivered the whole history up to `position` and
    /// goes live. Sent once.
    CaughtUp {
        position: Position,
    },
    /// A filtered subscription has looked at every event up to `position`;
    /// a subscriber may save it as its checkpoint to avoid rescanning.
    Checkpoint {
        position: Position,
    },
}

/// A running subscription. Dropping it stops the reader.
#[derive(Debug)]
pub struct Subscription {
    messages: mpsc::Receiver<Result<SubscriptionMessage, StoreError>>,
    reader: JoinHandle<()>,
}

impl Subscription {
    /// The next message; `None` after the store has been closed or a
    /// permanent error was delivered.
    pub async fn next(&mut self) -> Option<Result<SubscriptionMessage, StoreError>> {
        self.messages.recv().await
    }

    /// The next message if one is waiting, without waiting: lets a consumer
    /// take what the reader has read ahead as one batch.
    pub fn try_next(&mut self) -> Option<Result<SubscriptionMessage, StoreError>> {
        self.messages.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl futures::Stream for Subscription {
    type Item = Result<SubscriptionMessage, StoreError>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.messages.poll_recv(cx)
    }
}

/// Subscribes to `$all` (narrowed by `filter`) from `from`.
pub fn subscribe(
    store: Arc<dyn EventStore>,
    from: SubscribeFrom,
    filter: AllFilter,
) -> Subscription {
    let (sender, messages) = mpsc::channel(BUFFER);
    let reader = tokio::spawn(async move {
        // The consumer has gone when a send fails; stop quietly.
        let _ = follow(store, from, filter, &sender).await;
    });
    Subscription { messages, reader }
}

struct Gone;

async fn follow(
    store: Arc<dyn EventStore>,
    from: SubscribeFrom,
    filter: AllFilter,
    sender: &mpsc::Sender<Result<SubscriptionMessage, StoreError>>,
) -> Result<(), Gone> {
    let mut head_watch = store.head_watch();
    let mut after = match from {
        SubscribeFrom::Start => 0,
        SubscribeFrom::After(position) => position,
        SubscribeFrom::End => retry(sender, || store.head()).await?,
    };
    let mut caught_up = false;
    loop {
        let query = AllQuery {
            from: AllFrom::Position(after + 1),
            direction: Direction::Forwards,
            limit: PAGE,
            filter: filter.clone(),
        };
        let page = retry(sender, || store.read_all(&query)).await?;
        for event in page.events {
            after = event.position;
            send(sender, Ok(SubscriptionMessage::Event(event))).await?;
        }
        if page.scanned_to > after {
            after = page.scanned_to;
            send(
                sender,
                Ok(SubscriptionMessage::Checkpoint { position: after }),
            )
            .await?;
        }
        if !page.is_end {
            continue;
        }
        if !caught_up {
            caught_up = true;
            send(
                sender,
                Ok(SubscriptionMessage::CaughtUp { position: after }),
            )
            .await?;
        }
        if *head_watch.borrow_and_update() > after {
            continue;
        }
        if let Ok(Err(_)) = tokio::time::timeout(POLL, head_watch.changed()).await {
            return Err(Gone); // the store was closed
        }
    }
}

/// Runs a read, retrying with backoff while the database is unavailable;
/// a permanent error is delivered to the consumer and ends the subscription.
async fn retry<T, F, Fut>(
    sender: &mpsc::Sender<Result<SubscriptionMessage, StoreError>>,
    mut read: F,
) -> Result<T, Gone>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut backoff = Duration::from_millis(50);
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_transient() => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "subscription read failed");
                if sender.is_closed() {
                    return Err(Gone);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(error) => {
                let _ = sender.send(Err(error)).await;
                return Err(Gone);
            }
        }
    }
}

async fn send(
    sender: &mpsc::Sender<Result<SubscriptionMessage, StoreError>>,
    message: Result<SubscriptionMessage, StoreError>,
) -> Result<(), Gone> {
    sender.send(message).await.map_err(|_| Gone)
}
