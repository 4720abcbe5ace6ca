//! The shop's policy as the log records it: the one in force for the
//! handlers, its history, and putting a new one in force.
//!
//! The policy stream (`policy-shop`) holds a `PolicyChanged` per change,
//! each with the whole policy. The handlers decide under the newest; a
//! service follows the stream, so a policy another process applied takes
//! effect here within a moment, and every event names the digest of the
//! policy it was decided under.

use std::sync::{Arc, RwLock};

use aftersales_domain::streams::{PolicyChanged, PolicyEvent, POLICY_STREAM};
use aftersales_domain::{Actor, DomainEvent, Policy, PolicyError};
use aftersales_store::{
    Direction, EventMetadata, EventStore, ExpectedRevision, NewEvent, Position, RecordedEvent,
    StoreError, StreamFrom, StreamName, MAX_READ_LIMIT,
};
use chrono::{DateTime, Utc};

pub use aftersales_domain::policy::PolicyInForce;

#[derive(Debug, thiserror::Error)]
pub enum PolicyStoreError {
    #[error(transparent)]
    Invalid(#[from] PolicyError),
    /// The log holds no policy yet: `serve` or `policy apply` puts one in force.
    #[error("no policy is in force yet: apply one (aftersales policy apply FILE, or start the service with its configuration)")]
    NoPolicy,
    #[error("the policy recorded at position {position} cannot be read: {reason}")]
    Undecodable { position: Position, reason: String },
    #[error("the policy could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("another process changed the policy at the same moment; look at it and apply again")]
    Concurrent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One policy of the stream, with where and by whom it was recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedPolicy {
    pub position: Position,
    pub recorded_at: DateTime<Utc>,
    pub actor_id: Option<String>,
    pub changed: PolicyChanged,
}

/// What applying a policy did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub digest: String,
    /// Where the `PolicyChanged` was recorded; `None` when the policy was
    /// already in force and nothing was appended.
    pub position: Option<Position>,
}

/// The policy the handlers decide under.
#[derive(Debug)]
pub struct Policies {
    current: RwLock<Arc<PolicyInForce>>,
}

impl Policies {
    /// A policy not taken from the log: for tests and benchmarks.
    pub fn fixed(policy: Policy) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(PolicyInForce::new(policy))),
        })
    }

    /// The newest policy of the log.
    pub async fn load(store: &dyn EventStore) -> Result<Arc<Self>, PolicyStoreError> {
        let newest = history(store)
            .await?
            .pop()
            .ok_or(PolicyStoreError::NoPolicy)?;
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(in_force(newest))),
        }))
    }

    pub fn current(&self) -> Arc<PolicyInForce> {
        // A poisoned lock still holds a whole Arc: writers only swap it.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the log's newest policy again, if it changed.
    pub async fn refresh(&self, store: &dyn EventStore) -> Result<(), PolicyStoreError> {
        let Some(newest) = history(store).await?.pop() else {
            return Ok(());
        };
        if newest.changed.digest != self.current().digest {
            tracing::info!(digest = %newest.changed.digest, "a new policy is in force");
            *self
                .current
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(in_force(newest));
        }
        Ok(())
    }

    /// Follows the policy stream for as long as the service runs.
    pub async fn follow(self: Arc<Self>, store: Arc<dyn EventStore>) {
        crate::follow::on_new_events(store, |store| {
            let policies = self.clone();
            async move {
                if let Err(error) = policies.refresh(store.as_ref()).await {
                    tracing::warn!(%error, "reading the policy stream failed; trying again");
                }
            }
        })
        .await;
    }
}

fn in_force(recorded: RecordedPolicy) -> PolicyInForce {
    PolicyInForce {
        policy: recorded.changed.policy,
        digest: recorded.changed.digest,
        since: Some(recorded.recorded_at),
    }
}

fn stream() -> Result<StreamName, StoreError> {
    Ok(StreamName::new(POLICY_STREAM)?)
}

/// Every policy the shop put in force, oldest first.
pub async fn history(store: &dyn EventStore) -> Result<Vec<RecordedPolicy>, PolicyStoreError> {
    let stream = stream()?;
    let mut policies = Vec::new();
    let mut from = StreamFrom::Start;
    loop {
        let page = store
            .read_stream(&stream, from, Direction::Forwards, MAX_READ_LIMIT)
            .await?;
        let Some(last) = page.last() else { break };
        from = StreamFrom::Revision(last.revision + 1);
        let full = page.len() == MAX_READ_LIMIT;
        for event in &page {
            policies.push(decode(event)?);
        }
        if !full {
            break;
        }
    }
    Ok(policies)
}

/// The policy in force at a moment: the newest recorded at or before it;
/// before the first, the first (the one the service started with).
pub async fn as_of(
    store: &dyn EventStore,
    at: DateTime<Utc>,
) -> Result<RecordedPolicy, PolicyStoreError> {
    let mut history = history(store).await?;
    if history.is_empty() {
        return Err(PolicyStoreError::NoPolicy);
    }
    let index = history
        .iter()
        .rposition(|p| p.recorded_at <= at)
        .unwrap_or(0);
    Ok(history.swap_remove(index))
}

fn decode(event: &RecordedEvent) -> Result<RecordedPolicy, PolicyStoreError> {
    let undecodable = |reason: String| PolicyStoreError::Undecodable {
        position: event.position,
        reason,
    };
    let PolicyEvent::PolicyChanged(changed) =
        PolicyEvent::decode(&event.event_type, event.data.get())
            .map_err(|e| undecodable(e.to_string()))?;
    let metadata: EventMetadata = serde_json::from_str(event.metadata.get()).unwrap_or_default();
    Ok(RecordedPolicy {
        position: event.position,
        recorded_at: event.recorded_at,
        actor_id: metadata.actor_id,
        changed,
    })
}

/// Puts `policy` in force, recorded with `actor`, unless it already is.
/// A policy that is not valid is refused and nothing is written.
pub async fn apply(
    store: &dyn EventStore,
    policy: Policy,
    actor: &Actor,
) -> Result<Applied, PolicyStoreError> {
    policy.validate()?;
    let stream = stream()?;
    let history = history(store).await?;
    let previous = history.last().map(|p| p.changed.digest.clone());
    let digest = policy.digest();
    if previous.as_deref() == Some(digest.as_str()) {
        return Ok(Applied {
            digest,
            position: None,
        });
    }
    let changed = PolicyChanged {
        policy,
        digest: digest.clone(),
        previous,
        at: Utc::now(),
    };
    let metadata = EventMetadata {
        actor_id: Some(actor.id.clone()),
        actor_role: Some(actor.role.as_str().to_owned()),
        schema_version: Some(PolicyEvent::SCHEMA_VERSION),
        ..EventMetadata::default()
    };
    let event_type = PolicyEvent::from(changed.clone()).event_type();
    let event = NewEvent::encode(event_type, &changed)?.with_metadata(metadata.to_value());
    // Appended only onto the history just read: two operators applying at
    // once cannot both believe theirs replaced the same policy.
    let expected = match history.last() {
        None => ExpectedRevision::NoStream,
        Some(_) => ExpectedRevision::Exact(history.len() as u64 - 1),
    };
    match store.append(&stream, expected, vec![event]).await {
        Ok(result) => Ok(Applied {
            digest,
            position: Some(result.position),
        }),
        Err(StoreError::WrongExpectedRevision { .. }) => Err(PolicyStoreError::Concurrent),
        Err(error) => Err(error.into()),
    }
}
