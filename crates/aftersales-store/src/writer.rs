//! Group commit: one writer task per store takes the appends waiting at the
//! moment, writes them in one transaction and pays one durable commit for
//! all of them. Concurrent callers share the cost of the disk sync instead of
//! queueing for one each.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::StoreError;
use crate::plan::AppendRequest;
use crate::types::{AppendResult, Position};

/// Appends waiting for the writer before callers are held back.
const QUEUE_DEPTH: usize = 4096;
/// Most events in one commit, whatever the number of appends.
const MAX_EVENTS_PER_COMMIT: usize = 50_000;

pub(crate) type Outcome = Result<AppendResult, StoreError>;

/// A backend's way of writing one batch in one transaction.
#[async_trait]
pub(crate) trait BatchWriter: Send + Sync + 'static {
    /// Writes the batch atomically. `Ok` holds one outcome per request (a
    /// request may fail alone, e.g. on its expected revision); `Err` means the
    /// transaction as a whole failed and nothing of it is known to be written.
    ///
    /// With `look_up_ids` the stored events carrying the batch's ids are read
    /// before planning, so that retried appends are recognised even when the
    /// plan alone would not ask for them. The batch is shared rather than
    /// borrowed so that a backend may hand it to a thread of its own.
    async fn write_batch(
        &self,
        requests: Arc<[AppendRequest]>,
        look_up_ids: bool,
    ) -> Result<Vec<Outcome>, StoreError>;
}

struct Pending {
    request: AppendRequest,
    reply: oneshot::Sender<Outcome>,
}

/// The handle appends go through.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("stream", &self.request.stream)
            .finish()
    }
}

impl Writer {
    /// Starts the writer task. It ends when the last handle is dropped.
    pub fn spawn(
        backend: Arc<dyn BatchWriter>,
        head: Arc<watch::Sender<Position>>,
        max_appends_per_commit: usize,
    ) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(backend, receiver, head, max_appends_per_commit.max(1)));
        Self { queue }
    }

    pub async fn append(&self, request: AppendRequest) -> Outcome {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { request, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(
    backend: Arc<dyn BatchWriter>,
    mut queue: mpsc::Receiver<Pending>,
    head: Arc<watch::Sender<Position>>,
    max_appends: usize,
) {
    while let Some(first) = queue.recv().await {
        let mut events = first.request.events.len();
        let mut requests = Vec::with_capacity(max_appends);
        let mut replies = Vec::with_capacity(max_appends);
        requests.push(first.request);
        replies.push(first.reply);
        while requests.len() < max_appends && events < MAX_EVENTS_PER_COMMIT {
            match queue.try_recv() {
                Ok(next) => {
                    events += next.request.events.len();
                    requests.push(next.request);
                    replies.push(next.reply);
                }
                Err(_) => break,
            }
        }
        let outcomes = commit(&*backend, requests.into()).await;
        let committed = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok().map(|r| r.position))
            .max();
        if let Some(position) = committed {
            head.send_if_modified(|h| {
                let newer = position > *h;
                if newer {
                    *h = position;
                }
                newer
            });
        }
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A caller that gave up waiting no longer listens; its append
            // stands all the same.
            let _ = reply.send(outcome);
        }
    }
}

/// Writes a batch, giving every append its own answer.
async fn commit(backend: &dyn BatchWriter, batch: Arc<[AppendRequest]>) -> Vec<Outcome> {
    match write(backend, batch.clone(), false).await {
        Ok(outcomes) => return outcomes,
        Err(error) => {
            if let Some(shared) = error.shared() {
                return batch.iter().map(|_| Err(shared.clone_shared())).collect();
            }
        }
    }
    // Something in the batch broke the transaction, most likely an event id
    // that is already stored: plan again knowing the stored ids, and if that
    // fails too, write the appends one by one so each gets its own answer.
    match write(backend, batch.clone(), true).await {
        Ok(outcomes) => outcomes,
        Err(error) if batch.len() == 1 => vec![Err(error)],
        Err(_) => {
            let mut outcomes = Vec::with_capacity(batch.len());
            for request in batch.iter() {
                let alone = Arc::from([request.clone()]);
                let outcome = match write(backend, alone, true).await {
                    Ok(mut one) => one.pop().unwrap_or(Err(StoreError::Closed)),
                    Err(error) => Err(error),
                };
                outcomes.push(outcome);
            }
            outcomes
        }
    }
}

async fn write(
    backend: &dyn BatchWriter,
    batch: Arc<[AppendRequest]>,
    look_up_ids: bool,
) -> Result<Vec<Outcome>, StoreError> {
    let appends = batch.len();
    match AssertUnwindSafe(backend.write_batch(batch, look_up_ids))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(
                appends,
                "the event writer panicked; the batch was not written"
            );
            Err(StoreError::Unavailable(
                "the event writer failed".to_owned(),
            ))
        }
    }
}
