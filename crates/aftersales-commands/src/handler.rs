//! Load, decide, append, retry.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use aftersales_domain::{
    Actor, Aggregate, Command, Context, DecodeError, DomainError, DomainEvent,
};
use aftersales_store::{
    AppendResult, CurrentRevision, Direction, EventMetadata, EventStore, ExpectedRevision,
    NewEvent, Position, Revision, StoreError, StreamFrom, StreamName,
};
use lru::LruCache;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::clock::Clock;
use crate::policy::Policies;

/// The metadata key naming the digest of the policy an event was decided under.
pub const POLICY_DIGEST: &str = "policy";

/// The metadata key saying an event was decided under a sandbox's set clock.
pub const SANDBOX_CLOCK: &str = "sandbox_clock";

/// Events read per page when loading a stream.
const LOAD_PAGE: usize = 1_000;

/// A command with who sends it and why.
#[derive(Debug, Clone)]
pub struct Envelope<C> {
    /// The aggregate's id: the stream is `<category>-<id>`.
    pub aggregate_id: Uuid,
    pub command: C,
    pub actor: Actor,
    /// Ties together everything one request or process caused.
    pub correlation_id: Uuid,
    /// The message that caused this command, if any.
    pub causation_id: Option<Uuid>,
    /// Makes event ids deterministic, so that a retried command appends the
    /// same events (and the store acknowledges them without writing twice).
    pub command_id: Uuid,
    /// The revision the sender saw (HTTP `If-Match`); the command is refused
    /// if the aggregate has moved on since.
    pub expected_revision: Option<Revision>,
}

impl<C> Envelope<C> {
    pub fn new(aggregate_id: Uuid, command: C, actor: Actor) -> Self {
        let command_id = Uuid::now_v7();
        Self {
            aggregate_id,
            command,
            actor,
            correlation_id: command_id,
            causation_id: None,
            command_id,
            expected_revision: None,
        }
    }
}

/// What an accepted command did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome<E> {
    pub events: Vec<E>,
    /// The stream's revision after the command.
    pub revision: Option<Revision>,
    pub position: Option<Position>,
    /// How many times a concurrent writer made the handler decide again.
    pub conflicts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The command broke a rule; nothing was appended.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// The aggregate moved on since the sender read it (HTTP 412).
    #[error("the {stream} is at revision {actual}, not {expected}")]
    StaleRevision {
        stream: String,
        expected: Revision,
        actual: CurrentRevision,
    },
    /// Other writers kept changing the aggregate; try again later (HTTP 409).
    #[error("{stream} kept changing under {attempts} attempts")]
    TooManyConflicts { stream: String, attempts: u32 },
    #[error("stored event at position {position} cannot be read: {source}")]
    Undecodable {
        position: Position,
        source: DecodeError,
    },
    #[error("the event data could not be written: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Handles the commands of one aggregate type.
#[derive(Debug)]
pub struct Handler<A: Aggregate> {
    store: Arc<dyn EventStore>,
    policies: Arc<Policies>,
    clock: Arc<dyn Clock>,
    /// Recent states by stream, with the revision they were read at. A stale
    /// entry is harmless: the append's expected revision catches it.
    cache: Mutex<LruCache<Uuid, (Revision, A)>>,
    max_attempts: u32,
}

impl<A: Aggregate> Handler<A> {
    pub fn new(store: Arc<dyn EventStore>, policies: Arc<Policies>, clock: Arc<dyn Clock>) -> Self {
        Self::with_cache(store, policies, clock, 10_000)
    }

    pub fn with_cache(
        store: Arc<dyn EventStore>,
        policies: Arc<Policies>,
        clock: Arc<dyn Clock>,
        capacity: usize,
    ) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            store,
            policies,
            clock,
            cache: Mutex::new(LruCache::new(capacity)),
            max_attempts: 5,
        }
    }

    pub fn stream(id: Uuid) -> Result<StreamName, StoreError> {
        Ok(StreamName::of(A::CATEGORY, id)?)
    }

    pub fn policies(&self) -> &Arc<Policies> {
        &self.policies
    }

    /// Decides the command on the current state and appends its events.
    pub async fn execute(
        &self,
        envelope: &Envelope<A::Command>,
    ) -> Result<CommandOutcome<A::Event>, HandlerError> {
        let stream = Self::stream(envelope.aggregate_id)?;
        let mut conflicts = 0;
        let mut fresh = false;
        loop {
            let (revision, state) = match self.cached(envelope.aggregate_id) {
                Some(entry) if !fresh => entry,
                _ => {
                    fresh = true;
                    self.read(envelope.aggregate_id, &stream).await?
                }
            };
            if let Some(expected) = envelope.expected_revision {
                if revision != CurrentRevision::Revision(expected) {
                    if !fresh {
                        // The cache may be behind; only the stream can tell.
                        fresh = true;
                        continue;
                    }
                    return Err(HandlerError::StaleRevision {
                        stream: stream.to_string(),
                        expected,
                        actual: revision,
                    });
                }
            }
            let in_force = self.policies.current();
            let ctx = Context {
                aggregate_id: envelope.aggregate_id,
                now: self.clock.now(),
                actor: &envelope.actor,
                policy: &in_force.policy,
            };
            let decision = state.handle(&envelope.command, &ctx);
            // A refusal or a no-op decided on cached state must not stand if
            // another writer (a scheduler, another process) has moved the
            // stream since: an append would have caught that, these do not.
            if !fresh && !matches!(&decision, Ok(events) if !events.is_empty()) {
                let current = self.store.stream_revision(&stream).await?;
                if current != revision {
                    fresh = true;
                    continue;
                }
            }
            let events = match decision {
                Ok(events) if !events.is_empty() => events,
                refused_or_nothing => {
                    // A retry whose first attempt was recorded (its answer
                    // lost) meets the state it made itself; refusing or
                    // doing nothing now would be the wrong answer. (Where
                    // there is no stream, nothing was recorded.)
                    if revision != CurrentRevision::NoStream {
                        if let Some(outcome) =
                            self.recorded_before(&stream, envelope, conflicts).await?
                        {
                            return Ok(outcome);
                        }
                    }
                    return Ok(CommandOutcome {
                        events: refused_or_nothing?,
                        revision: revision_of(revision),
                        position: None,
                        conflicts,
                    });
                }
            };
            let expected = match revision {
                CurrentRevision::NoStream => ExpectedRevision::NoStream,
                CurrentRevision::Revision(r) => ExpectedRevision::Exact(r),
            };
            let new_events = self.encode(envelope, &events, &in_force.digest)?;
            match self.store.append(&stream, expected, new_events).await {
                Ok(AppendResult {
                    next_expected_revision,
                    position,
                }) => {
                    let mut state = state;
                    for event in &events {
                        state.evolve(event);
                    }
                    self.remember(envelope.aggregate_id, next_expected_revision, state);
                    return Ok(CommandOutcome {
                        events,
                        revision: Some(next_expected_revision),
                        position: Some(position),
                        conflicts,
                    });
                }
                Err(StoreError::WrongExpectedRevision { .. }) => {
                    conflicts += 1;
                    self.forget(envelope.aggregate_id);
                    if conflicts >= self.max_attempts {
                        return Err(HandlerError::TooManyConflicts {
                            stream: stream.to_string(),
                            attempts: conflicts,
                        });
                    }
                    tracing::debug!(%stream, conflicts, "concurrent write; deciding again");
                    fresh = true;
                }
                Err(error @ StoreError::IdempotencyConflict { .. }) => {
                    // Our event ids are taken: an earlier attempt of this
                    // command was recorded, and decided differently now.
                    self.forget(envelope.aggregate_id);
                    return match self.recorded_before(&stream, envelope, conflicts).await? {
                        Some(outcome) => Ok(outcome),
                        None => Err(error.into()),
                    };
                }
                Err(error) => {
                    self.forget(envelope.aggregate_id);
                    return Err(error.into());
                }
            }
        }
    }

    /// What an earlier attempt of this command appended, found by the event
    /// ids it derives from the command id; `None` if it never was.
    async fn recorded_before(
        &self,
        stream: &StreamName,
        envelope: &Envelope<A::Command>,
        conflicts: u32,
    ) -> Result<Option<CommandOutcome<A::Event>>, HandlerError> {
        let mut found = Vec::new();
        let mut from = StreamFrom::Start;
        'pages: loop {
            let page = self
                .store
                .read_stream(stream, from, Direction::Forwards, LOAD_PAGE)
                .await?;
            for recorded in &page {
                if recorded.id == event_id(envelope.command_id, found.len()) {
                    found.push(recorded.clone());
                } else if !found.is_empty() {
                    break 'pages;
                }
            }
            match page.last() {
                Some(last) if page.len() == LOAD_PAGE => {
                    from = StreamFrom::Revision(last.revision + 1)
                }
                _ => break,
            }
        }
        let Some(last) = found.last() else {
            return Ok(None);
        };
        let (revision, position) = (last.revision, last.position);
        let events = found
            .iter()
            .map(|recorded| {
                A::Event::decode(&recorded.event_type, recorded.data.get()).map_err(|source| {
                    HandlerError::Undecodable {
                        position: recorded.position,
                        source,
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(CommandOutcome {
            events,
            revision: Some(revision),
            position: Some(position),
            conflicts,
        }))
    }

    /// Whether the aggregate's stream exists. Streams are never deleted, so
    /// a cached state answers without asking the store.
    pub async fn exists(&self, id: Uuid) -> Result<bool, HandlerError> {
        if self.cached(id).is_some() {
            return Ok(true);
        }
        let stream = Self::stream(id)?;
        Ok(self.store.stream_revision(&stream).await? != CurrentRevision::NoStream)
    }

    /// The aggregate's current state and revision, read from its stream.
    pub async fn load(&self, id: Uuid) -> Result<(CurrentRevision, A), HandlerError> {
        let stream = Self::stream(id)?;
        self.read(id, &stream).await
    }

    async fn read(
        &self,
        id: Uuid,
        stream: &StreamName,
    ) -> Result<(CurrentRevision, A), HandlerError> {
        let mut state = A::default();
        let mut revision = CurrentRevision::NoStream;
        let mut from = StreamFrom::Start;
        loop {
            let page = self
                .store
                .read_stream(stream, from, Direction::Forwards, LOAD_PAGE)
                .await?;
            for recorded in &page {
                let event = A::Event::decode(&recorded.event_type, recorded.data.get()).map_err(
                    |source| HandlerError::Undecodable {
                        position: recorded.position,
                        source,
                    },
                )?;
                state.evolve(&event);
                revision = CurrentRevision::Revision(recorded.revision);
            }
            match page.last() {
                Some(last) if page.len() == LOAD_PAGE => {
                    from = StreamFrom::Revision(last.revision + 1)
                }
                _ => break,
            }
        }
        if let CurrentRevision::Revision(r) = revision {
            self.remember(id, r, state.clone());
        }
        Ok((revision, state))
    }

    fn cached(&self, id: Uuid) -> Option<(CurrentRevision, A)> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&id)
            .map(|(r, state)| (CurrentRevision::Revision(*r), state.clone()))
    }

    fn remember(&self, id: Uuid, revision: Revision, state: A) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.put(id, (revision, state));
    }

    fn forget(&self, id: Uuid) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.pop(&id);
    }

    fn encode(
        &self,
        envelope: &Envelope<A::Command>,
        events: &[A::Event],
        policy_digest: &str,
    ) -> Result<Vec<NewEvent>, HandlerError> {
        let mut metadata = EventMetadata {
            correlation_id: Some(envelope.correlation_id),
            causation_id: Some(envelope.causation_id.unwrap_or(envelope.command_id)),
            actor_id: Some(envelope.actor.id.clone()),
            actor_role: Some(envelope.actor.role.as_str().to_owned()),
            schema_version: Some(A::Event::SCHEMA_VERSION),
            extra: Default::default(),
        };
        metadata
            .extra
            .insert("command".into(), envelope.command.name().into());
        metadata
            .extra
            .insert(POLICY_DIGEST.into(), policy_digest.into());
        if self.clock.set_by_hand() {
            metadata.extra.insert(SANDBOX_CLOCK.into(), true.into());
        }
        let metadata = serde_json::value::to_raw_value(&metadata)?;
        events
            .iter()
            .enumerate()
            .map(|(index, event)| {
                let data = RawValue::from_string(event.encode()?)?;
                Ok(NewEvent {
                    id: event_id(envelope.command_id, index),
                    event_type: event.event_type().to_owned(),
                    data,
                    metadata: metadata.clone(),
                })
            })
            .collect()
    }
}

/// The id of the `index`-th event a command appends: the same whenever the
/// command is retried, and beginning with the command id's own first six
/// bytes (a time-ordered command id's timestamp), so that the log's index
/// of event ids grows at its end instead of rewriting a page at random for
/// every event.
fn event_id(command_id: Uuid, index: usize) -> Uuid {
    let hashed = Uuid::new_v5(&command_id, &(index as u64).to_be_bytes());
    let mut bytes = *hashed.as_bytes();
    bytes[..6].copy_from_slice(&command_id.as_bytes()[..6]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn revision_of(revision: CurrentRevision) -> Option<Revision> {
    match revision {
        CurrentRevision::NoStream => None,
        CurrentRevision::Revision(r) => Some(r),
    }
}
