//! The schedule (时限表): when each aggregate's next time-driven command
//! falls due, so that the scheduler finds due work with one indexed query
//! instead of holding every open case in memory.
//!
//! A row is `(category, aggregate id)` with the due time as its sort key,
//! and exists only while something waits on the clock. The due time is a
//! function of the aggregate's whole state, so this read model folds
//! aggregates rather than documents: recently touched states stay in a
//! bounded cache, and one that fell out of it is read again from its stream
//! up to the event at hand. The rows depend on the log alone, so a rebuild
//! compares equal to the live table.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use aftersales_domain::case::Case;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::{Aggregate, DomainEvent, Policy, Scheduled};
use aftersales_store::{
    Direction, EventStore, Position, Revision, StoreError, StreamFrom, StreamName, MAX_READ_LIMIT,
};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use lru::LruCache;
use uuid::Uuid;

use crate::db::{ListQuery, ReadDb, RowWrite};
use crate::envelope::{AnyEvent, Envelope};
use crate::error::ProjectionError;
use crate::runner::{checkpoint, status_name, table_name, Projector, Target};

/// The read model's name.
pub const NAME: &str = "schedule";
/// Bump when the rows change meaning (for example when a rule's timing
/// changes): the service rebuilds the schedule at start-up.
pub const VERSION: u32 = 1;

/// Aggregate states kept between batches.
const CACHED_STATES: usize = 10_000;

/// One aggregate whose next command falls due at `due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub due: DateTime<Utc>,
    pub aggregate_id: Uuid,
}

/// A page of the aggregates of `category` due at `now`, earliest first,
/// after `after` (the last one of the previous page).
pub async fn due(
    db: &ReadDb,
    category: &'static str,
    now: DateTime<Utc>,
    after: Option<Due>,
    limit: usize,
) -> Result<Vec<Due>, ProjectionError> {
    let query = ListQuery {
        collection: category,
        sort_until: Some(sort_key(now + chrono::Duration::nanoseconds(1))),
        after: after.map(|a| (sort_key(a.due), a.aggregate_id.to_string())),
        limit,
        ..ListQuery::default()
    };
    db.list(&table_name(NAME, Target::Live), &query)
        .await?
        .into_iter()
        .map(|row| {
            let corrupt = |reason: String| {
                ProjectionError::CorruptRow(format!("{NAME}/{category}/{}: {reason}", row.key))
            };
            Ok(Due {
                due: DateTime::parse_from_rfc3339(&row.sort)
                    .map_err(|e| corrupt(e.to_string()))?
                    .with_timezone(&Utc),
                aggregate_id: Uuid::parse_str(&row.key).map_err(|e| corrupt(e.to_string()))?,
            })
        })
        .collect()
}

/// Fixed width, so that text order is time order on both backends.
fn sort_key(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The state of an aggregate with time-driven rules.
#[derive(Debug, Clone)]
// Nearly every cached state is a case: boxing would add an allocation to
// save memory on the few others.
#[allow(clippy::large_enum_variant)]
enum Folded {
    Case(Case),
    Unpaid(UnpaidOrder),
    Grant(AccessGrant),
}

impl Folded {
    fn evolve(&mut self, event: &Envelope) -> Result<(), ProjectionError> {
        match (self, &event.event) {
            (Folded::Case(state), AnyEvent::Case(e)) => state.evolve(e),
            (Folded::Unpaid(state), AnyEvent::Reminder(e)) => state.evolve(e),
            (Folded::Grant(state), AnyEvent::Grant(e)) => state.evolve(e),
            _ => {
                return Err(ProjectionError::Inconsistent {
                    position: event.position,
                    reason: format!("{} holds events of another aggregate", event.stream),
                })
            }
        }
        Ok(())
    }

    fn next_due(&self, policy: &Policy) -> Option<DateTime<Utc>> {
        match self {
            Folded::Case(state) => state.next_due(policy),
            Folded::Unpaid(state) => state.next_due(policy),
            Folded::Grant(state) => state.next_due(policy),
        }
    }
}

/// The schedule's runtime.
pub struct Schedule {
    store: Arc<dyn EventStore>,
    policy: Policy,
    target: Target,
    table: String,
    status: String,
    position: Position,
    /// By category and id: ids are unique within a category only.
    states: LruCache<(&'static str, Uuid), (Revision, Folded)>,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("target", &self.target)
            .field("position", &self.position)
            .field("cached_states", &self.states.len())
            .finish_non_exhaustive()
    }
}

impl Schedule {
    /// The policy must be the one the scheduler's handlers decide with.
    pub fn new(store: Arc<dyn EventStore>, policy: Policy, target: Target) -> Self {
        Self {
            store,
            policy,
            target,
            table: table_name(NAME, target),
            status: status_name(NAME, target),
            position: 0,
            states: LruCache::new(NonZeroUsize::new(CACHED_STATES).expect("non-zero")),
        }
    }

    /// The aggregate's next due time after `event`, folding it onto the
    /// cached state or reading the aggregate from its stream.
    async fn next_due(
        &mut self,
        category: &'static str,
        event: &Envelope,
    ) -> Result<Option<DateTime<Utc>>, ProjectionError> {
        let key = (category, event.aggregate_id);
        match self.states.get_mut(&key) {
            // Folded already: the stream was read through this event.
            Some((revision, state)) if *revision >= event.revision => {
                return Ok(state.next_due(&self.policy));
            }
            Some((revision, state)) if *revision + 1 == event.revision => {
                state.evolve(event)?;
                *revision = event.revision;
                return Ok(state.next_due(&self.policy));
            }
            _ => {}
        }
        let mut state = match &event.event {
            AnyEvent::Case(_) => Folded::Case(self.read(event).await?),
            AnyEvent::Reminder(_) => Folded::Unpaid(self.read(event).await?),
            AnyEvent::Grant(_) => Folded::Grant(self.read(event).await?),
            AnyEvent::Audit(_) | AnyEvent::Repair(_) => return Ok(None),
        };
        if event.revision == 0 {
            state.evolve(event)?;
        }
        let due = state.next_due(&self.policy);
        self.states.put(key, (event.revision, state));
        Ok(due)
    }

    /// The aggregate folded from its stream through `event`; a new stream
    /// (the event is its first) needs no read.
    async fn read<A: Aggregate>(&self, through: &Envelope) -> Result<A, ProjectionError> {
        let mut state = A::default();
        if through.revision == 0 {
            return Ok(state);
        }
        let stream = StreamName::of(A::CATEGORY, through.aggregate_id).map_err(StoreError::from)?;
        let mut next = 0;
        while next <= through.revision {
            let wanted = usize::try_from(through.revision - next + 1).unwrap_or(MAX_READ_LIMIT);
            let page = self
                .store
                .read_stream(
                    &stream,
                    StreamFrom::Revision(next),
                    Direction::Forwards,
                    wanted.min(MAX_READ_LIMIT),
                )
                .await?;
            let Some(last) = page.last() else { break };
            next = last.revision + 1;
            for recorded in &page {
                let event =
                    A::Event::decode(&recorded.event_type, recorded.data.get()).map_err(|e| {
                        ProjectionError::Undecodable {
                            position: recorded.position,
                            event_type: recorded.event_type.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                state.evolve(&event);
            }
        }
        Ok(state)
    }
}

#[async_trait]
impl Projector for Schedule {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn target(&self) -> Target {
        self.target
    }

    fn position(&self) -> Position {
        self.position
    }

    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError> {
        self.states.clear();
        self.position = checkpoint(db, &self.status, &self.table, VERSION, self.target).await?;
        Ok(())
    }

    async fn process(
        &mut self,
        db: &ReadDb,
        batch: &[Envelope],
        to: Position,
    ) -> Result<(), ProjectionError> {
        if to <= self.position {
            return Ok(());
        }
        let start = batch.partition_point(|event| event.position <= self.position);
        let result = async {
            // The last due time of each aggregate the batch touched.
            let mut touched: HashMap<(&'static str, Uuid), Option<DateTime<Utc>>> = HashMap::new();
            for event in &batch[start..] {
                let category = match event.event {
                    AnyEvent::Case(_) => Case::CATEGORY,
                    AnyEvent::Reminder(_) => UnpaidOrder::CATEGORY,
                    AnyEvent::Grant(_) => AccessGrant::CATEGORY,
                    AnyEvent::Audit(_) | AnyEvent::Repair(_) => continue,
                };
                let due = self.next_due(category, event).await?;
                touched.insert((category, event.aggregate_id), due);
            }
            let rows: Vec<RowWrite> = touched
                .into_iter()
                .map(|((collection, id), due)| RowWrite {
                    collection,
                    key: id.to_string(),
                    sort: due.map(sort_key).unwrap_or_default(),
                    doc: due.map(|due| serde_json::json!({ "due": due }).to_string()),
                    retag: false,
                    tags: Vec::new(),
                })
                .collect();
            db.commit(&self.status, &self.table, &rows, self.position, to)
                .await
        }
        .await;
        match result {
            Ok(()) => {
                self.position = to;
                Ok(())
            }
            Err(error) => {
                // The cached states may be ahead of the checkpoint now.
                self.states.clear();
                Err(error)
            }
        }
    }
}
