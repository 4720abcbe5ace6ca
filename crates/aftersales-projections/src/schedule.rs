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
use aftersales_domain::repair::RepairOrder;
use aftersales_domain::{Aggregate, DomainEvent, Scheduled};
use aftersales_store::{
    Direction, EventStore, Position, RecordedEvent, Revision, StoreError, StreamFrom, StreamName,
    MAX_READ_LIMIT,
};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use lru::LruCache;
use uuid::Uuid;

use crate::db::{ListQuery, ReadDb, RowWrite};
use crate::envelope::{AnyEvent, Envelope};
use crate::error::ProjectionError;
use crate::runner::{table_name, Checkpoint, Projector, Target};

/// The read model's name.
pub const NAME: &str = "schedule";
/// Bump when the rows change meaning (for example when a rule's timing
/// changes): the service rebuilds the schedule at start-up.
pub const VERSION: u32 = 2;

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
/// The row of an aggregate: deleted when nothing is due.
fn row(collection: &'static str, id: Uuid, due: Option<DateTime<Utc>>) -> RowWrite {
    RowWrite {
        collection,
        key: id.to_string(),
        sort: due.map(sort_key).unwrap_or_default(),
        doc: due.map(|due| serde_json::json!({ "due": due }).to_string()),
        retag: false,
        untag: Vec::new(),
        tags: Vec::new(),
        entry: false,
    }
}

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
    Repair(RepairOrder),
}

impl Folded {
    /// The empty state of the aggregate `event` belongs to, if it has timers.
    fn new(event: &AnyEvent) -> Option<Self> {
        match event {
            AnyEvent::Case(_) => Some(Folded::Case(Case::default())),
            AnyEvent::Reminder(_) => Some(Folded::Unpaid(UnpaidOrder::default())),
            AnyEvent::Grant(_) => Some(Folded::Grant(AccessGrant::default())),
            AnyEvent::Repair(_) => Some(Folded::Repair(RepairOrder::default())),
            AnyEvent::Audit(_) => None,
        }
    }

    fn category(&self) -> &'static str {
        match self {
            Folded::Case(_) => Case::CATEGORY,
            Folded::Unpaid(_) => UnpaidOrder::CATEGORY,
            Folded::Grant(_) => AccessGrant::CATEGORY,
            Folded::Repair(_) => RepairOrder::CATEGORY,
        }
    }

    /// Folds an event read from the aggregate's stream.
    fn evolve_recorded(&mut self, recorded: &RecordedEvent) -> Result<(), ProjectionError> {
        fn decode<E: DomainEvent>(recorded: &RecordedEvent) -> Result<E, ProjectionError> {
            E::decode(&recorded.event_type, recorded.data.get()).map_err(|e| {
                ProjectionError::Undecodable {
                    position: recorded.position,
                    event_type: recorded.event_type.clone(),
                    reason: e.to_string(),
                }
            })
        }
        match self {
            Folded::Case(state) => state.evolve(&decode(recorded)?),
            Folded::Unpaid(state) => state.evolve(&decode(recorded)?),
            Folded::Grant(state) => state.evolve(&decode(recorded)?),
            Folded::Repair(state) => state.evolve(&decode(recorded)?),
        }
        Ok(())
    }

    fn evolve(&mut self, event: &Envelope) -> Result<(), ProjectionError> {
        match (self, &event.event) {
            (Folded::Case(state), AnyEvent::Case(e)) => state.evolve(e),
            (Folded::Unpaid(state), AnyEvent::Reminder(e)) => state.evolve(e),
            (Folded::Grant(state), AnyEvent::Grant(e)) => state.evolve(e),
            (Folded::Repair(state), AnyEvent::Repair(e)) => state.evolve(e),
            _ => {
                return Err(ProjectionError::Inconsistent {
                    position: event.position,
                    reason: format!("{} holds events of another aggregate", event.stream),
                })
            }
        }
        Ok(())
    }

    fn next_due(&self) -> Option<DateTime<Utc>> {
        match self {
            Folded::Case(state) => state.next_due(),
            Folded::Unpaid(state) => state.next_due(),
            Folded::Grant(state) => state.next_due(),
            Folded::Repair(state) => state.next_due(),
        }
    }
}

/// The schedule's runtime.
pub struct Schedule {
    store: Arc<dyn EventStore>,
    checkpoint: Checkpoint,
    /// By category and id: ids are unique within a category only.
    states: LruCache<(&'static str, Uuid), (Revision, Folded)>,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("checkpoint", &self.checkpoint)
            .field("cached_states", &self.states.len())
            .finish_non_exhaustive()
    }
}

impl Schedule {
    pub fn new(store: Arc<dyn EventStore>, target: Target) -> Self {
        Self {
            store,
            checkpoint: Checkpoint::new(NAME, VERSION, target),
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
                return Ok(state.next_due());
            }
            Some((revision, state)) if *revision + 1 == event.revision => {
                state.evolve(event)?;
                *revision = event.revision;
                return Ok(state.next_due());
            }
            _ => {}
        }
        let state = if event.revision == 0 {
            let mut state = Folded::new(&event.event);
            if let Some(state) = &mut state {
                state.evolve(event)?;
            }
            state
        } else {
            self.read(&event.event, event.aggregate_id, |e| {
                e.revision <= event.revision
            })
            .await?
        };
        let Some(state) = state else {
            return Ok(None);
        };
        let due = state.next_due();
        self.states.put(key, (event.revision, state));
        Ok(due)
    }

    /// The aggregate `kind`'s events belong to, folded from its stream
    /// through the last event `within` accepts, passing over the events
    /// this schedule was told to; `None` for aggregates without timers.
    async fn read(
        &self,
        kind: &AnyEvent,
        id: Uuid,
        within: impl Fn(&RecordedEvent) -> bool,
    ) -> Result<Option<Folded>, ProjectionError> {
        let Some(mut state) = Folded::new(kind) else {
            return Ok(None);
        };
        let stream = StreamName::of(state.category(), id).map_err(StoreError::from)?;
        let mut next = 0;
        loop {
            let page = self
                .store
                .read_stream(
                    &stream,
                    StreamFrom::Revision(next),
                    Direction::Forwards,
                    MAX_READ_LIMIT,
                )
                .await?;
            let Some(last) = page.last() else { break };
            next = last.revision + 1;
            for recorded in page.iter().take_while(|e| within(e)) {
                if self.checkpoint.passes_over(recorded.position) {
                    continue;
                }
                state.evolve_recorded(recorded)?;
            }
            if page.len() < MAX_READ_LIMIT || !within(last) {
                break;
            }
        }
        Ok(Some(state))
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

    fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError> {
        self.states.clear();
        self.checkpoint.load(db).await
    }

    fn pass_over(&mut self, position: Position) {
        // A state folded through this event is wrong without it.
        self.states.clear();
        self.checkpoint.pass_over(position);
    }

    async fn retry(&mut self, db: &ReadDb, event: &Envelope) -> Result<(), ProjectionError> {
        // The row stands for the aggregate as of the checkpoint: fold it
        // again through there, the parked event included.
        self.states.clear();
        self.checkpoint.take_back(event.position);
        let checkpoint = self.position();
        let state = self
            .read(&event.event, event.aggregate_id, |e| {
                e.position <= checkpoint
            })
            .await
            .map_err(|e| e.at_event(event.position))?;
        let rows: Vec<RowWrite> = state
            .map(|state| {
                let due = state.next_due();
                row(state.category(), event.aggregate_id, due)
            })
            .into_iter()
            .collect();
        self.checkpoint.unpark(db, &rows, event.position).await
    }

    async fn process(
        &mut self,
        db: &ReadDb,
        batch: &[Envelope],
        to: Position,
    ) -> Result<(), ProjectionError> {
        if to <= self.position() {
            return Ok(());
        }
        let batch = self.checkpoint.unapplied(batch);
        let result = async {
            // The last due time of each aggregate the batch touched.
            let mut touched: HashMap<(&'static str, Uuid), Option<DateTime<Utc>>> = HashMap::new();
            for event in batch {
                // Only aggregates with timers are scheduled.
                let Some(category) = Folded::new(&event.event).map(|state| state.category()) else {
                    continue;
                };
                if self.checkpoint.passes_over(event.position) {
                    continue;
                }
                let due = self
                    .next_due(category, event)
                    .await
                    .map_err(|e| e.at_event(event.position))?;
                touched.insert((category, event.aggregate_id), due);
            }
            let rows: Vec<RowWrite> = touched
                .into_iter()
                .map(|((collection, id), due)| row(collection, id, due))
                .collect();
            self.checkpoint.commit(db, &rows, to).await
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(error) => {
                // The cached states may be ahead of the checkpoint now.
                self.states.clear();
                Err(error)
            }
        }
    }
}
