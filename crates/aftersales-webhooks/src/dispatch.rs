//! The dispatcher: for each active subscription, one task that follows the
//! log from the subscription's checkpoint and sends every matching event,
//! in order, retrying one until it lands before sending the next.
//!
//! Delivery is at least once. The checkpoint moves only past events the
//! receiver has acknowledged, and is saved with the delivery log at most
//! every [`FLUSH_EVERY`] (or [`FLUSH_AFTER`] attempts); after a crash the
//! events since the last save are sent again, with the same `webhook-id`.
//! A subscription's task never waits on another's: a receiver that is
//! down delays only its own subscription.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aftersales_domain::personal;
use aftersales_domain::webhook::{Webhook, WebhookState};
use aftersales_store::{
    subscribe, EventMetadata, RecordedEvent, SubscribeFrom, SubscriptionMessage,
};
use chrono::Utc;
use rand::Rng;
use reqwest::header::CONTENT_TYPE;
use reqwest::Url;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::db::{Delivery, WebhookDb};
use crate::error::WebhookError;
use crate::signing::{signature_header, Secret};
use crate::subscriptions::{log_filter, Subscriptions};

/// How often the dispatcher looks for new, changed and removed subscriptions.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);
/// Longest the delivery log and checkpoint wait in memory.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Most attempts kept in memory before they are written.
const FLUSH_AFTER: usize = 1_000;
/// How much of a receiver's answer is read (and thrown away).
const MAX_ANSWER: usize = 4 * 1024;
/// Batches the delivery log's writer may fall behind before delivery waits.
const WRITES_QUEUED: usize = 16;
/// How often old attempts are pruned from the delivery log.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Sends the log's events to every active subscription until dropped.
#[derive(Debug)]
pub struct Dispatcher {
    subscriptions: Subscriptions,
    client: reqwest::Client,
    running: HashMap<Uuid, Running>,
}

#[derive(Debug)]
struct Running {
    revision: u64,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Dispatcher {
    pub fn new(subscriptions: Subscriptions) -> Result<Self, WebhookError> {
        let settings = subscriptions.settings();
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(4)
            .user_agent(concat!("aftersales-webhooks/", env!("CARGO_PKG_VERSION")));
        if !settings.allow_private_targets {
            client = client.dns_resolver(crate::target::public_only());
        }
        let client = client
            .build()
            .map_err(|e| WebhookError::Refused(format!("no HTTP client: {e}")))?;
        Ok(Self {
            subscriptions,
            client,
            running: HashMap::new(),
        })
    }

    /// Runs until the task is dropped.
    pub async fn run(mut self) {
        let mut pruned = Instant::now();
        loop {
            if let Err(error) = self.reconcile().await {
                tracing::warn!(%error, "webhook subscriptions could not be read");
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                let keep = self.subscriptions.settings().keep_deliveries;
                let before = Utc::now() - chrono::Duration::from_std(keep).unwrap_or_default();
                if let Err(error) = self.subscriptions.db().prune(before).await {
                    tracing::warn!(%error, "old webhook deliveries could not be pruned");
                }
            }
            tokio::time::sleep(RECONCILE_EVERY).await;
        }
    }

    /// Starts a task for each active subscription without one, and stops
    /// those of subscriptions changed, paused, disabled or deleted. A
    /// changed subscription's new task starts only once the old one has
    /// finished, so that two never send to one subscriber at once.
    async fn reconcile(&mut self) -> Result<(), WebhookError> {
        let active: Vec<Webhook> = self
            .subscriptions
            .list()
            .await?
            .into_iter()
            .filter(|webhook| webhook.state == WebhookState::Active)
            .collect();
        for (id, running) in &self.running {
            let current = active.iter().find(|webhook| webhook.id == *id);
            if current.is_none_or(|webhook| webhook.revision != running.revision) {
                let _ = running.stop.send(true);
            }
        }
        self.running
            .retain(|_, running| !running.task.is_finished());
        for webhook in active {
            if self.running.contains_key(&webhook.id) {
                continue;
            }
            let (stop, stopped) = watch::channel(false);
            let revision = webhook.revision;
            let id = webhook.id;
            let delivery = Delivering {
                subscriptions: self.subscriptions.clone(),
                client: self.client.clone(),
                stopped,
            };
            let task = tokio::spawn(async move {
                if let Err(error) = delivery.follow(webhook).await {
                    tracing::warn!(%error, webhook = %id, "webhook delivery stopped; restarting");
                }
            });
            self.running.insert(
                id,
                Running {
                    revision,
                    stop,
                    task,
                },
            );
        }
        Ok(())
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        for running in self.running.values() {
            running.task.abort();
        }
    }
}

/// One subscription's delivery task.
struct Delivering {
    subscriptions: Subscriptions,
    client: reqwest::Client,
    stopped: watch::Receiver<bool>,
}

/// How sending one event ended.
enum Sent {
    Delivered,
    /// The subscription must stop: the receiver is gone, or kept failing.
    Disable(String),
    Stopped,
}

impl Delivering {
    async fn follow(mut self, webhook: Webhook) -> Result<(), WebhookError> {
        let db = self.subscriptions.db().clone();
        // On PostgreSQL another process may already send this subscription.
        let _leadership = loop {
            if let Some(leadership) = db.lead(webhook.id).await? {
                break leadership;
            }
            if self.pause(Duration::from_secs(2)).await {
                return Ok(());
            }
        };
        let url = match crate::target::check_url(
            &webhook.url,
            self.subscriptions.settings().allow_private_targets,
        ) {
            Ok(url) => url,
            Err(error) => {
                let after = db.checkpoint(&webhook.checkpoint_name()).await?;
                let at = after.unwrap_or_else(|| webhook.first_after()) + 1;
                return self.disable(&webhook, error.to_string(), at).await;
            }
        };
        let secrets = db.secrets(webhook.id, &webhook.secret_ids).await?;
        if secrets.is_empty() {
            return Err(WebhookError::Refused(format!(
                "subscription {} has no secret to sign with",
                webhook.id
            )));
        }
        let checkpoint = webhook.checkpoint_name();
        let after = db
            .checkpoint(&checkpoint)
            .await?
            .unwrap_or_else(|| webhook.first_after());
        let mut log = subscribe(
            self.subscriptions.store().clone(),
            SubscribeFrom::After(after),
            log_filter(&webhook.filter),
        );
        let mut pending = Pending::new(after, db.clone(), webhook.id, checkpoint);
        loop {
            let message = tokio::select! {
                biased;
                _ = self.stopped.changed() => break,
                _ = tokio::time::sleep_until(pending.deadline()), if pending.dirty() => {
                    pending.flush().await?;
                    continue;
                }
                message = log.next() => message,
            };
            let event = match message {
                None => break,
                Some(Err(error)) => {
                    pending.finish().await?;
                    return Err(error.into());
                }
                Some(Ok(SubscriptionMessage::Event(event))) => event,
                Some(Ok(
                    SubscriptionMessage::Checkpoint { position }
                    | SubscriptionMessage::CaughtUp { position },
                )) => {
                    pending.passed(position);
                    continue;
                }
            };
            match self.send(&url, &secrets, &event, &mut pending).await {
                Sent::Delivered => pending.passed(event.position),
                Sent::Stopped => break,
                Sent::Disable(reason) => {
                    pending.finish().await?;
                    return self.disable(&webhook, reason, event.position).await;
                }
            }
            if pending.full() {
                pending.flush().await?;
            }
        }
        pending.finish().await
    }

    /// Sends one event until the receiver takes it, the retry period ends,
    /// or the task is stopped.
    async fn send(
        &mut self,
        url: &Url,
        secrets: &[Secret],
        event: &RecordedEvent,
        pending: &mut Pending,
    ) -> Sent {
        let settings = self.subscriptions.settings().clone();
        let message_id = message_id(event);
        // Shared, not copied, by every attempt.
        let body = bytes::Bytes::from(message_body(event));
        let first_failure = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let timestamp = Utc::now().timestamp();
            let answer = self
                .client
                .post(url.clone())
                .header(CONTENT_TYPE, "application/json")
                .header("webhook-id", &message_id)
                .header("webhook-timestamp", timestamp)
                .header(
                    "webhook-signature",
                    signature_header(secrets, &message_id, timestamp, &body),
                )
                .body(body.clone())
                .send()
                .await;
            let (status, error) = match answer {
                Ok(mut response) => {
                    let status = response.status();
                    // Read a little of the answer so that the connection
                    // can be used again; a long answer is cut off.
                    let mut read = 0;
                    while read < MAX_ANSWER {
                        match response.chunk().await {
                            Ok(Some(chunk)) => read += chunk.len(),
                            _ => break,
                        }
                    }
                    (Some(status), None)
                }
                Err(error) => (None, Some(describe(&error))),
            };
            let outcome = match status {
                Some(status) if status.is_success() => "delivered",
                Some(reqwest::StatusCode::GONE) => "gone",
                _ => "failed",
            };
            pending.attempts.push(Delivery {
                id: 0,
                message_id: message_id.clone(),
                position: event.position,
                event_type: event.event_type.clone(),
                attempt,
                outcome: outcome.to_owned(),
                http_status: status.map(|s| s.as_u16()),
                error: error.clone().or_else(|| {
                    status
                        .filter(|s| !s.is_success())
                        .map(|s| format!("the receiver answered {s}"))
                }),
                latency_ms: started.elapsed().as_secs_f64() * 1_000.0,
                at: Utc::now(),
            });
            match outcome {
                "delivered" => return Sent::Delivered,
                "gone" => {
                    return Sent::Disable("the receiver answered 410 Gone".to_owned());
                }
                _ => {}
            }
            if first_failure.elapsed() >= settings.retry_for {
                return Sent::Disable(format!(
                    "position {} could not be delivered for {} s: {}",
                    event.position,
                    settings.retry_for.as_secs(),
                    error.unwrap_or_else(|| format!(
                        "answered {}",
                        status.map_or(0, |s| s.as_u16())
                    ))
                ));
            }
            let delay = backoff(attempt, settings.first_backoff, settings.max_backoff);
            if self.pause(delay).await {
                return Sent::Stopped;
            }
        }
    }

    async fn disable(
        &self,
        webhook: &Webhook,
        reason: String,
        position: u64,
    ) -> Result<(), WebhookError> {
        tracing::warn!(webhook = %webhook.id, %reason, "webhook subscription disabled");
        match self
            .subscriptions
            .disable(webhook.id, reason, position)
            .await
        {
            // Paused, deleted or changed meanwhile: the newer word stands.
            Ok(_) | Err(WebhookError::Refused(_) | WebhookError::Concurrent) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Waits `delay`; true if the task was told to stop meanwhile.
    async fn pause(&mut self, delay: Duration) -> bool {
        tokio::select! {
            _ = self.stopped.changed() => true,
            _ = tokio::time::sleep(delay) => false,
        }
    }
}

/// Attempts and progress not yet written. They are handed to a writer
/// task of their own, so that a slow commit never holds up the next
/// message; the writer commits them in order, so the checkpoint saved never
/// passes an event whose delivery is not yet acknowledged.
struct Pending {
    attempts: Vec<Delivery>,
    saved: u64,
    passed: u64,
    since: tokio::time::Instant,
    writer: mpsc::Sender<Batch>,
    written: JoinHandle<Result<(), WebhookError>>,
}

struct Batch {
    attempts: Vec<Delivery>,
    delivered: Option<u64>,
}

impl Pending {
    fn new(after: u64, db: WebhookDb, webhook: Uuid, checkpoint: String) -> Self {
        let (writer, batches) = mpsc::channel(WRITES_QUEUED);
        Self {
            attempts: Vec::new(),
            saved: after,
            passed: after,
            since: tokio::time::Instant::now(),
            writer,
            written: tokio::spawn(write(db, webhook, checkpoint, batches)),
        }
    }

    fn passed(&mut self, position: u64) {
        self.passed = self.passed.max(position);
    }

    fn dirty(&self) -> bool {
        !self.attempts.is_empty() || self.passed > self.saved
    }

    fn full(&self) -> bool {
        self.attempts.len() >= FLUSH_AFTER || self.since.elapsed() >= FLUSH_EVERY
    }

    fn deadline(&self) -> tokio::time::Instant {
        self.since + FLUSH_EVERY
    }

    /// Hands what is pending to the writer (waiting only when it is
    /// [`WRITES_QUEUED`] batches behind).
    async fn flush(&mut self) -> Result<(), WebhookError> {
        if self.dirty() {
            let batch = Batch {
                attempts: std::mem::take(&mut self.attempts),
                delivered: (self.passed > self.saved).then_some(self.passed),
            };
            if self.writer.send(batch).await.is_err() {
                return Err(WebhookError::Refused(
                    "the delivery log's writer stopped".into(),
                ));
            }
            self.saved = self.passed;
        }
        self.since = tokio::time::Instant::now();
        Ok(())
    }

    /// Writes everything still pending and waits until it is committed.
    async fn finish(mut self) -> Result<(), WebhookError> {
        let flushed = self.flush().await;
        drop(self.writer);
        let written = self
            .written
            .await
            .map_err(|e| WebhookError::Refused(format!("the delivery log's writer failed: {e}")))?;
        flushed.and(written)
    }
}

/// Commits batches of attempts with their checkpoint, in order, taking
/// whatever has queued up meanwhile into one transaction.
async fn write(
    db: WebhookDb,
    webhook: Uuid,
    checkpoint: String,
    mut batches: mpsc::Receiver<Batch>,
) -> Result<(), WebhookError> {
    while let Some(Batch {
        mut attempts,
        mut delivered,
    }) = batches.recv().await
    {
        while let Ok(next) = batches.try_recv() {
            attempts.extend(next.attempts);
            delivered = next.delivered.or(delivered);
        }
        db.record(webhook, &checkpoint, delivered, &attempts)
            .await?;
    }
    Ok(())
}

/// The `webhook-id` of an event's message: the same on every attempt and
/// every replay, so that a receiver can drop what it has seen.
pub fn message_id(event: &RecordedEvent) -> String {
    format!("msg_{}", event.id.simple())
}

/// The message for one event: its type, when it was recorded, and where it
/// stands in the log, with its data; personal data is masked, as in the
/// feed, since a subscriber is a system, not a person answering for a case.
pub fn message_body(event: &RecordedEvent) -> String {
    let metadata: EventMetadata = event.metadata_as().unwrap_or_default();
    let mut data: Value = serde_json::from_str(event.data.get()).unwrap_or(Value::Null);
    personal::mask_json(&mut data);
    json!({
        "type": event.event_type,
        "timestamp": event.recorded_at,
        "data": {
            "event_id": event.id,
            "stream": event.stream,
            "revision": event.revision,
            "position": event.position,
            "recorded_at": event.recorded_at,
            "actor_id": metadata.actor_id,
            "actor_role": metadata.actor_role,
            "event": data,
        }
    })
    .to_string()
}

/// The wait before attempt `attempt + 1`: doubling from `first` up to
/// `max`, with jitter over its upper half so that many subscriptions
/// failing together do not come back together.
fn backoff(attempt: u32, first: Duration, max: Duration) -> Duration {
    let full = first
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    let half = full / 2;
    half + half.mul_f64(rand::thread_rng().gen::<f64>())
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "no answer within the timeout".to_owned()
    } else if error.is_connect() {
        format!("could not connect: {}", root_cause(error))
    } else {
        root_cause(error)
    }
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling_with_jitter() {
        let (first, max) = (Duration::from_secs(1), Duration::from_secs(600));
        for (attempt, full) in [(1, 1), (2, 2), (3, 4), (10, 512), (11, 600), (40, 600)] {
            let delay = backoff(attempt, first, max);
            let full = Duration::from_secs(full);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
    }
}
