//! Sandbox stores: a store made for rehearsing the rules (a shop trying a
//! new policy, a trainee walking a case through a week) whose clock an
//! administrator sets and advances. The scheduler, the SLA clocks and every
//! time a decision records follow it.
//!
//! A store is a sandbox when the first event of its log is
//! `SandboxOpened`: the mark is set on a new store or never. The clock is
//! the `ClockSet` events of `clock-shop`: it reads what the newest one set,
//! plus the wall-clock time since, and only ever moves forward.

use std::sync::{Arc, RwLock};

use aftersales_domain::streams::{ClockEvent, ClockSet, SandboxOpened, CLOCK_STREAM};
use aftersales_domain::{Actor, DomainEvent};
use aftersales_store::{
    AllQuery, Direction, EventMetadata, EventStore, ExpectedRevision, NewEvent, StoreError,
    StreamFrom, StreamName,
};
use chrono::{DateTime, Duration, Utc};

use crate::clock::Clock;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("this store is not a sandbox: its clock is the real one and cannot be set (a sandbox is made new, with `aftersales migrate --sandbox`)")]
    NotSandbox,
    #[error("only a new, empty store can be made a sandbox: this one has a history")]
    NotEmpty,
    #[error("the clock only moves forward: it reads {now}, not before {to}")]
    Backwards {
        now: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error("the clock stream holds an event that cannot be read: {0}")]
    Undecodable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the sandbox's clock stands: it read `virtual_at` at the wall-clock
/// moment `real_at`.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    virtual_at: DateTime<Utc>,
    real_at: DateTime<Utc>,
    /// Whether an administrator has set it (else it is the real clock).
    set: bool,
}

/// A sandbox's clock, as the log says it was set.
#[derive(Debug)]
pub struct SandboxClock {
    anchor: RwLock<Anchor>,
}

impl Clock for SandboxClock {
    fn now(&self) -> DateTime<Utc> {
        let anchor = self.anchor();
        anchor.virtual_at + (Utc::now() - anchor.real_at).max(Duration::zero())
    }

    fn set_by_hand(&self) -> bool {
        self.anchor().set
    }

    fn sandbox(&self) -> Option<&SandboxClock> {
        Some(self)
    }
}

impl SandboxClock {
    fn anchor(&self) -> Anchor {
        *self
            .anchor
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The sandbox's clock, or `None` for a store that is not a sandbox.
    pub async fn load(store: &dyn EventStore) -> Result<Option<Arc<Self>>, SandboxError> {
        if !is_sandbox(store).await? {
            return Ok(None);
        }
        let clock = Arc::new(Self {
            anchor: RwLock::new(real_anchor()),
        });
        clock.refresh(store).await?;
        Ok(Some(clock))
    }

    /// Reads the newest setting of the clock again.
    pub async fn refresh(&self, store: &dyn EventStore) -> Result<(), SandboxError> {
        if let Some(set) = newest_setting(store).await? {
            *self
                .anchor
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Anchor {
                virtual_at: set.to,
                real_at: set.at,
                set: true,
            };
        }
        Ok(())
    }

    /// Follows the clock stream for as long as the service runs, so that a
    /// clock set from the command line moves the service's too.
    pub async fn follow(self: Arc<Self>, store: Arc<dyn EventStore>) {
        crate::follow::on_new_events(store, |store| {
            let clock = self.clone();
            async move {
                if let Err(error) = clock.refresh(store.as_ref()).await {
                    tracing::warn!(%error, "reading the sandbox clock failed; trying again");
                }
            }
        })
        .await;
    }

    /// Sets the clock to `to`, recorded with `actor`.
    pub async fn set(
        &self,
        store: &dyn EventStore,
        to: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<ClockSet, SandboxError> {
        self.refresh(store).await?;
        let now = self.now();
        if to < now {
            return Err(SandboxError::Backwards { now, to });
        }
        let set = ClockSet {
            to,
            previous: now,
            at: Utc::now(),
        };
        append(
            store,
            ClockEvent::from(set.clone()),
            actor,
            ExpectedRevision::StreamExists,
        )
        .await?;
        self.refresh(store).await?;
        Ok(set)
    }

    /// Moves the clock forward by `by`.
    pub async fn advance(
        &self,
        store: &dyn EventStore,
        by: Duration,
        actor: &Actor,
    ) -> Result<ClockSet, SandboxError> {
        self.refresh(store).await?;
        self.set(store, self.now() + by, actor).await
    }
}

fn real_anchor() -> Anchor {
    let now = Utc::now();
    Anchor {
        virtual_at: now,
        real_at: now,
        set: false,
    }
}

/// Whether the store is a sandbox: its log begins with `SandboxOpened`.
pub async fn is_sandbox(store: &dyn EventStore) -> Result<bool, SandboxError> {
    let page = store.read_all(&AllQuery::forwards(0, 1)).await?;
    Ok(page
        .events
        .first()
        .is_some_and(|first| first.stream == CLOCK_STREAM && first.event_type == "SandboxOpened"))
}

/// Makes a new, empty store a sandbox.
pub async fn open(store: &dyn EventStore, actor: &Actor) -> Result<(), SandboxError> {
    if store.head().await? != 0 {
        return Err(SandboxError::NotEmpty);
    }
    let opened = ClockEvent::from(SandboxOpened { at: Utc::now() });
    let position = append(store, opened, actor, ExpectedRevision::NoStream).await?;
    // Another writer may have slipped in first: then this is no sandbox.
    if position != 1 {
        return Err(SandboxError::NotEmpty);
    }
    Ok(())
}

async fn newest_setting(store: &dyn EventStore) -> Result<Option<ClockSet>, SandboxError> {
    let stream = StreamName::new(CLOCK_STREAM).map_err(StoreError::from)?;
    let newest = store
        .read_stream(&stream, StreamFrom::End, Direction::Backwards, 1)
        .await?;
    let Some(event) = newest.first() else {
        return Ok(None);
    };
    match ClockEvent::decode(&event.event_type, event.data.get()) {
        Ok(ClockEvent::ClockSet(set)) => Ok(Some(set)),
        Ok(ClockEvent::SandboxOpened(_)) => Ok(None),
        Err(error) => Err(SandboxError::Undecodable(error.to_string())),
    }
}

async fn append(
    store: &dyn EventStore,
    event: ClockEvent,
    actor: &Actor,
    expected: ExpectedRevision,
) -> Result<u64, SandboxError> {
    let stream = StreamName::new(CLOCK_STREAM).map_err(StoreError::from)?;
    let metadata = EventMetadata {
        actor_id: Some(actor.id.clone()),
        actor_role: Some(actor.role.as_str().to_owned()),
        schema_version: Some(ClockEvent::SCHEMA_VERSION),
        ..EventMetadata::default()
    };
    let data = event
        .encode()
        .map_err(|e| SandboxError::Undecodable(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&data).map_err(|e| SandboxError::Undecodable(e.to_string()))?;
    let new = NewEvent::new(event.event_type(), value).with_metadata(metadata.to_value());
    match store.append(&stream, expected, vec![new]).await {
        Ok(result) => Ok(result.position),
        Err(StoreError::WrongExpectedRevision { .. })
            if expected == ExpectedRevision::StreamExists =>
        {
            Err(SandboxError::NotSandbox)
        }
        Err(StoreError::WrongExpectedRevision { .. }) => Err(SandboxError::NotEmpty),
        Err(error) => Err(error.into()),
    }
}
