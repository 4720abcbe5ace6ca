//! Feeding projections from a catch-up subscription, a batch at a time.
//!
//! Each projection writes its documents and its checkpoint in one
//! transaction, so after a crash it resumes exactly after the last batch it
//! committed. The checkpoint update is conditional on the position and the
//! epoch it started from: if another process moved it (a second service, a
//! rebuild that was swapped in, a reset, a retry of parked events), the
//! commit fails and the runner starts again from the stored checkpoint
//! instead of applying events twice or overwriting what changed. While idle
//! it looks for such changes every second, so that a reset made from the
//! command line is picked up without a new event.
//!
//! An event a projection cannot decode or apply is parked for that
//! projection ([`ParkedEvent`]) and the projection goes on with the next
//! one: one bad event never stops the read models. Events an operator
//! skipped for good (`readmodel-<name>` in the log) are passed over, in
//! rebuilds too.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aftersales_domain::streams::{ReadModelEvent, POLICY, READ_MODEL_RECORDS};
use aftersales_domain::DomainEvent;
use aftersales_store::{
    subscribe, AllFilter, Direction, EventStore, Position, RecordedEvent, StreamFrom, StreamName,
    SubscribeFrom, SubscriptionMessage, MAX_READ_LIMIT,
};
use async_trait::async_trait;
use chrono::Utc;

pub use crate::db::{status_name, table_name, ParkedEvent, Target};
use crate::db::{Move, ReadDb, RowWrite};
use crate::docs::{Docs, Tag};
use crate::envelope::{Envelope, Zones, CATEGORIES};
use crate::error::ProjectionError;
use crate::projection::{DocKey, Projection};

/// Events applied per transaction at most, unless `AFTERSALES_PROJECTION_BATCH`
/// says otherwise. Live, small batches keep the read models close behind the
/// log; a rebuild or a replay takes large ones, since every batch rewrites
/// the documents it touched. Memory grows with the batch, not with the log.
const LIVE_BATCH: usize = 2_000;
const REBUILD_BATCH: usize = 20_000;

fn batch_limit(projectors: &[Box<dyn Projector>]) -> usize {
    static CONFIGURED: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let configured = CONFIGURED.get_or_init(|| {
        std::env::var("AFTERSALES_PROJECTION_BATCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
    });
    configured.unwrap_or(if projectors.iter().any(|p| p.target() == Target::Live) {
        LIVE_BATCH
    } else {
        REBUILD_BATCH
    })
}
/// Documents kept in memory between batches.
const CACHE_DOCS: usize = 20_000;
/// How long a live runner waits for an event before it looks whether its
/// tables were changed behind its back (a reset, a rebuild, a retry).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// A projection with its working set, behind an object-safe face so a set
/// of them can share one feed.
#[async_trait]
pub trait Projector: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    /// Where its tables stand.
    fn checkpoint(&self) -> &Checkpoint;
    fn target(&self) -> Target {
        self.checkpoint().target
    }
    /// The last position applied.
    fn position(&self) -> Position {
        self.checkpoint().position
    }
    /// The epoch of the tables it holds documents of.
    fn epoch(&self) -> i64 {
        self.checkpoint().epoch
    }
    /// Starts from the stored checkpoint, forgetting cached documents and
    /// the events it was told to pass over.
    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError>;
    /// Never applies the event at `position` (parked or skipped).
    fn pass_over(&mut self, position: Position);
    /// Applies the events of `batch` after its checkpoint, except those
    /// passed over, and moves the checkpoint to `to`, in one transaction.
    /// An event's failure names that event's position
    /// ([`ProjectionError::failed_event`]) and commits nothing.
    async fn process(
        &mut self,
        db: &ReadDb,
        batch: &[Envelope],
        to: Position,
    ) -> Result<(), ProjectionError>;
    /// Applies a parked event after all and unparks it, leaving the
    /// checkpoint where it is.
    async fn retry(&mut self, db: &ReadDb, event: &Envelope) -> Result<(), ProjectionError>;
}

/// Where a runtime's tables stand: their names, the checkpoint and epoch
/// it loaded, and the events it passes over. Every runtime loads and
/// commits through it, so the rules of a conditional checkpoint live here
/// once.
#[derive(Debug)]
pub struct Checkpoint {
    target: Target,
    table: String,
    status: String,
    version: u32,
    position: Position,
    epoch: i64,
    passed_over: HashSet<Position>,
}

impl Checkpoint {
    pub fn new(name: &str, version: u32, target: Target) -> Self {
        Self {
            target,
            table: table_name(name, target),
            status: status_name(name, target),
            version,
            position: 0,
            epoch: 0,
            passed_over: HashSet::new(),
        }
    }

    /// The table of its documents.
    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// Reads the stored checkpoint and epoch, forgetting what to pass over.
    pub(crate) async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError> {
        self.passed_over.clear();
        (self.position, self.epoch) =
            checkpoint(db, &self.status, &self.table, self.version, self.target).await?;
        Ok(())
    }

    pub(crate) fn pass_over(&mut self, position: Position) {
        self.passed_over.insert(position);
    }

    pub(crate) fn passes_over(&self, position: Position) -> bool {
        self.passed_over.contains(&position)
    }

    /// Applies a parked event after all: it is no longer passed over.
    pub(crate) fn take_back(&mut self, position: Position) {
        self.passed_over.remove(&position);
    }

    /// The events of `batch` after the checkpoint.
    pub(crate) fn unapplied<'a>(&self, batch: &'a [Envelope]) -> &'a [Envelope] {
        &batch[batch.partition_point(|event| event.position <= self.position)..]
    }

    /// Writes `rows` and moves the checkpoint to `to`, if the tables are
    /// still where this runtime loaded them.
    pub(crate) async fn commit(
        &mut self,
        db: &ReadDb,
        rows: &[RowWrite],
        to: Position,
    ) -> Result<(), ProjectionError> {
        let how = Move::Checkpoint {
            from: self.position,
            to,
            epoch: self.epoch,
        };
        db.commit(&self.status, &self.table, rows, how).await?;
        self.position = to;
        // Behind the checkpoint nothing is applied again.
        self.passed_over.retain(|&position| position > to);
        Ok(())
    }

    /// Writes what applying the parked event at `position` made, and
    /// unparks it; the checkpoint stays.
    pub(crate) async fn unpark(
        &self,
        db: &ReadDb,
        rows: &[RowWrite],
        position: Position,
    ) -> Result<(), ProjectionError> {
        db.commit(&self.status, &self.table, rows, Move::Unpark { position })
            .await
    }
}

/// The runtime of one projection.
#[derive(Debug)]
pub struct Runtime<P: Projection> {
    projection: P,
    checkpoint: Checkpoint,
    docs: Docs<P::Doc>,
}

impl<P: Projection> Runtime<P> {
    pub fn new(projection: P, target: Target) -> Self {
        Self {
            projection,
            checkpoint: Checkpoint::new(P::NAME, P::VERSION, target),
            docs: Docs::default(),
        }
    }

    /// Applies `batch` to the documents in memory and returns the rows to
    /// write.
    async fn apply(
        &mut self,
        db: &ReadDb,
        batch: &[Envelope],
    ) -> Result<Vec<RowWrite>, ProjectionError> {
        self.fill(db, batch).await?;
        for event in batch {
            if self.checkpoint.passes_over(event.position) {
                continue;
            }
            self.projection
                .apply(event, &mut self.docs)
                .map_err(|e| e.at_event(event.position))?;
        }
        self.writes()
    }

    async fn fill(&mut self, db: &ReadDb, batch: &[Envelope]) -> Result<(), ProjectionError> {
        let mut wanted: Vec<DocKey> = Vec::new();
        for event in batch {
            self.projection.reads(event, &mut wanted);
        }
        let mut missing: HashMap<&'static str, HashSet<String>> = HashMap::new();
        for (collection, key) in wanted {
            if !self.docs.touch(collection, &key) {
                missing.entry(collection).or_default().insert(key);
            }
        }
        for (collection, keys) in missing {
            let keys: Vec<String> = keys.into_iter().collect();
            let mut found: HashMap<String, String> = db
                .load(self.checkpoint.table(), collection, &keys)
                .await?
                .into_iter()
                .collect();
            for key in keys {
                let doc: Option<P::Doc> = match found.remove(&key) {
                    Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                        ProjectionError::CorruptRow(format!(
                            "{}/{collection}/{key}: {e}",
                            self.checkpoint.table()
                        ))
                    })?),
                    None => None,
                };
                let mut tags = Vec::new();
                if let Some(doc) = &doc {
                    self.projection.tags(doc, &mut tags);
                }
                self.docs.loaded(collection, key, doc, tags);
            }
        }
        Ok(())
    }

    fn writes(&mut self) -> Result<Vec<RowWrite>, ProjectionError> {
        let mut rows = Vec::new();
        let mut written_tags = Vec::new();
        for change in self.docs.changes() {
            let Some(doc) = change.doc else {
                rows.push(RowWrite {
                    collection: change.collection,
                    key: change.key.to_owned(),
                    sort: String::new(),
                    doc: None,
                    retag: change.stored,
                    untag: Vec::new(),
                    tags: Vec::new(),
                    entry: false,
                });
                continue;
            };
            let mut tags = Vec::new();
            self.projection.tags(doc, &mut tags);
            // Most events leave a document's search terms as they were, or
            // move one of them.
            let (retag, untag, added) = match (change.stored, change.tags) {
                (true, Some(old)) => (false, missing_from(old, &tags), missing_from(&tags, old)),
                (stored, _) => (stored, Vec::new(), tags.clone()),
            };
            let text = serde_json::to_string(doc)
                .map_err(|e| ProjectionError::CorruptRow(e.to_string()))?;
            rows.push(RowWrite {
                collection: change.collection,
                key: change.key.to_owned(),
                sort: self.projection.sort_key(doc),
                doc: Some(text),
                retag,
                untag,
                tags: added,
                entry: false,
            });
            written_tags.push((change.collection, change.key.to_owned(), tags));
        }
        for (collection, key, tags) in written_tags {
            self.docs.set_tags(collection, &key, tags);
        }
        for (collection, key, doc) in self.docs.take_appended() {
            rows.push(RowWrite {
                collection,
                key,
                sort: String::new(),
                doc: Some(doc),
                retag: false,
                untag: Vec::new(),
                tags: Vec::new(),
                entry: true,
            });
        }
        Ok(rows)
    }
}

/// The terms of `these` that are not among `those`.
fn missing_from(these: &[Tag], those: &[Tag]) -> Vec<Tag> {
    these
        .iter()
        .filter(|tag| !those.contains(tag))
        .cloned()
        .collect()
}

#[async_trait]
impl<P: Projection> Projector for Runtime<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn version(&self) -> u32 {
        P::VERSION
    }

    fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError> {
        self.docs.clear();
        self.checkpoint.load(db).await
    }

    fn pass_over(&mut self, position: Position) {
        self.checkpoint.pass_over(position);
    }

    async fn process(
        &mut self,
        db: &ReadDb,
        batch: &[Envelope],
        to: Position,
    ) -> Result<(), ProjectionError> {
        if to <= self.checkpoint.position {
            return Ok(());
        }
        let batch = self.checkpoint.unapplied(batch);
        let result = match self.apply(db, batch).await {
            Ok(rows) => self.checkpoint.commit(db, &rows, to).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                self.docs.committed(CACHE_DOCS);
                Ok(())
            }
            Err(error) => {
                self.docs.clear();
                Err(error)
            }
        }
    }

    async fn retry(&mut self, db: &ReadDb, event: &Envelope) -> Result<(), ProjectionError> {
        self.docs.clear();
        self.checkpoint.take_back(event.position);
        let result = match self.apply(db, std::slice::from_ref(event)).await {
            Ok(rows) => self.checkpoint.unpark(db, &rows, event.position).await,
            Err(error) => Err(error),
        };
        // What the runner holds is stale either way: it reloads.
        self.docs.clear();
        result
    }
}

/// Where a projection's tables stand (checkpoint and epoch), creating them
/// if missing. A projection marked failed by an earlier version is marked
/// running again: events no longer stop it.
pub(crate) async fn checkpoint(
    db: &ReadDb,
    status: &str,
    table: &str,
    version: u32,
    target: Target,
) -> Result<(Position, i64), ProjectionError> {
    match db.status(status).await? {
        Some(row) => {
            if row.state == "failed" {
                db.set_state(status, target.state(), None).await?;
            }
            db.ensure_entries(table).await?;
            Ok((row.position, row.epoch))
        }
        None => {
            db.create(status, table, version, target).await?;
            let created = db.status(status).await?;
            Ok((0, created.map_or(0, |row| row.epoch)))
        }
    }
}

/// How far a run has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub position: Position,
    pub head: Position,
    pub events: u64,
}

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// When it has caught up with the log as it was when it started.
    CaughtUp,
    /// After applying the event at this position (a report "as of" it).
    Position(Position),
    /// Never: the service follows the log live.
    Forever,
}

/// Runs a set of projections over the log from the lowest of their
/// checkpoints. `progress` is told after every batch. An event a projection
/// cannot decode or apply is parked for it and passed over; returns the
/// events parked during the run.
///
/// Each projection applies and commits a batch in a task of its own, so
/// that they share the cores and, on PostgreSQL, the database's
/// connections; while catching up, the next batch is read and decoded as
/// they work on the last one.
pub async fn run(
    store: Arc<dyn EventStore>,
    db: &ReadDb,
    projectors: &mut Vec<Box<dyn Projector>>,
    until: Until,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<Vec<ParkedEvent>, ProjectionError> {
    let mut parked = Vec::new();
    'restart: loop {
        // What operators skipped for good, per projection.
        let mut skips: Vec<HashSet<Position>> = Vec::with_capacity(projectors.len());
        for projector in projectors.iter_mut() {
            projector.load(db).await?;
            let skipped: HashSet<Position> = skipped(store.as_ref(), projector.name())
                .await?
                .into_iter()
                .collect();
            for &position in &skipped {
                projector.pass_over(position);
            }
            skips.push(skipped);
        }
        let Some(start) = projectors.iter().map(|p| p.position()).min() else {
            return Ok(parked);
        };
        let head = store.head().await?;
        let stop_at = match until {
            Until::CaughtUp => Some(head),
            Until::Position(position) => Some(position),
            Until::Forever => None,
        };
        if stop_at.is_some_and(|stop| start >= stop) {
            return Ok(parked);
        }
        // The policy stream too: its time zone counts the business days.
        let mut zones = Zones::load(store.as_ref()).await?;
        let filter = AllFilter {
            categories: CATEGORIES
                .iter()
                .chain([&POLICY])
                .map(|c| (*c).to_owned())
                .collect(),
            event_types: Vec::new(),
        };
        let mut subscription = subscribe(store.clone(), SubscribeFrom::After(start), filter);
        let mut done = Done {
            events: 0,
            head,
            stop_at,
        };
        let mut caught_up = false;
        let limit = batch_limit(projectors);
        // The batch the projections are working on, if any.
        let mut working: Option<Working> = None;
        loop {
            // Catching up, a batch fills to its limit: room for it at once
            // spares copying a large vector as it grows. Live batches are
            // short.
            let mut batch = Vec::with_capacity(if caught_up { 0 } else { limit });
            let mut to = None;
            let first = if caught_up && until == Until::Forever {
                loop {
                    match tokio::time::timeout(IDLE_CHECK, subscription.next()).await {
                        Ok(message) => break message,
                        Err(_) if changed_behind(db, projectors).await? => continue 'restart,
                        Err(_) => {}
                    }
                }
            } else {
                subscription.next().await
            };
            let mut message = Some(first.ok_or(ProjectionError::Interrupted)?);
            while let Some(next) = message.take() {
                let mut reached_head = false;
                match next? {
                    SubscriptionMessage::Event(recorded) => {
                        if let Some(stop) = stop_at.filter(|&stop| recorded.position > stop) {
                            // Events come in order: everything up to the stop
                            // has been seen, even if none of it was followed.
                            to = Some(to.map_or(stop, |to: Position| to.max(stop)));
                            break;
                        }
                        let decoded = zones
                            .observe(&recorded)
                            .and_then(|()| Envelope::decode(&recorded, &zones));
                        match decoded {
                            Ok(Some(envelope)) => batch.push(envelope),
                            Ok(None) => {}
                            Err(error) => {
                                // The projections are needed here: the batch
                                // before this one is finished first.
                                if let Some(earlier) = working.take() {
                                    match earlier.finish(projectors, &mut parked).await {
                                        Ok(to) => done.report(to, &mut progress),
                                        Err(ProjectionError::Busy(_)) => continue 'restart,
                                        Err(error) => return Err(error),
                                    }
                                }
                                // No projection can read it: each that has
                                // not passed it parks it.
                                for (projector, skipped) in projectors.iter_mut().zip(&skips) {
                                    if projector.position() < recorded.position
                                        && !skipped.contains(&recorded.position)
                                    {
                                        let event = Parked::of_recorded(&recorded);
                                        parked.push(
                                            park(db, projector.as_mut(), event, &error).await?,
                                        );
                                    }
                                }
                            }
                        }
                        to = Some(recorded.position);
                    }
                    SubscriptionMessage::Checkpoint { position } => {
                        let position = stop_at.map_or(position, |stop| position.min(stop));
                        to = Some(to.map_or(position, |to: Position| to.max(position)));
                    }
                    SubscriptionMessage::CaughtUp { position } => {
                        caught_up = true;
                        reached_head = true;
                        let position = stop_at.map_or(position, |stop| position.min(stop));
                        to = Some(to.map_or(position, |to: Position| to.max(position)));
                    }
                }
                let at_stop = matches!((to, stop_at), (Some(to), Some(stop)) if to >= stop);
                if batch.len() >= limit || at_stop || reached_head {
                    break;
                }
                // While catching up the next page is already on its way, so a
                // batch waits for it: fewer, larger transactions rebuild
                // faster. Live, a batch is whatever has arrived.
                message = if caught_up {
                    subscription.try_next()
                } else {
                    Some(
                        subscription
                            .next()
                            .await
                            .ok_or(ProjectionError::Interrupted)?,
                    )
                };
            }
            let Some(to) = to else { continue };
            if let Some(earlier) = working.take() {
                match earlier.finish(projectors, &mut parked).await {
                    Ok(to) => done.report(to, &mut progress),
                    Err(ProjectionError::Busy(_)) => continue 'restart,
                    Err(error) => return Err(error),
                }
            }
            let started = Working::start(db, projectors, batch, to);
            // Live, or at the end of the run, nothing is read meanwhile:
            // the batch is finished at once, so that readers waiting for it
            // hear of it.
            if caught_up || done.stops_at(to) {
                match started.finish(projectors, &mut parked).await {
                    Ok(to) => done.report(to, &mut progress),
                    Err(ProjectionError::Busy(_)) => continue 'restart,
                    Err(error) => return Err(error),
                }
                if done.stops_at(to) {
                    return Ok(parked);
                }
            } else {
                working = Some(started);
            }
        }
    }
}

/// How far a run has come, and where it stops.
struct Done {
    events: u64,
    head: Position,
    stop_at: Option<Position>,
}

impl Done {
    fn report(&mut self, (to, events): (Position, u64), progress: &mut impl FnMut(Progress)) {
        self.events += events;
        self.head = self.head.max(to);
        progress(Progress {
            position: to,
            head: self.head,
            events: self.events,
        });
    }

    fn stops_at(&self, to: Position) -> bool {
        self.stop_at.is_some_and(|stop| to >= stop)
    }
}

/// A batch the projections work on, each in a task of its own.
struct Working {
    to: Position,
    events: u64,
    tasks: Vec<tokio::task::JoinHandle<Worked>>,
}

/// What a projection's task gives back: the projection itself, with its
/// outcome and the events it parked.
type Worked = (
    Box<dyn Projector>,
    Result<(), ProjectionError>,
    Vec<ParkedEvent>,
);

impl Working {
    /// Hands `batch` to each of `projectors`, which leave the vector until
    /// [`Working::finish`] gives them back.
    fn start(
        db: &ReadDb,
        projectors: &mut Vec<Box<dyn Projector>>,
        batch: Vec<Envelope>,
        to: Position,
    ) -> Self {
        let events = batch.len() as u64;
        let batch = Arc::new(batch);
        let tasks = std::mem::take(projectors)
            .into_iter()
            .map(|mut projector| {
                let (db, batch) = (db.clone(), batch.clone());
                tokio::spawn(async move {
                    let mut parked = Vec::new();
                    let result = process(&db, projector.as_mut(), &batch, to, &mut parked).await;
                    (projector, result, parked)
                })
            })
            .collect();
        Self { to, events, tasks }
    }

    /// Waits for every projection and puts them back in `projectors`, in
    /// their order. Returns the position reached and the events applied, or
    /// the first error (another process's commit first: `Busy`, for the
    /// caller to start again).
    async fn finish(
        self,
        projectors: &mut Vec<Box<dyn Projector>>,
        parked: &mut Vec<ParkedEvent>,
    ) -> Result<(Position, u64), ProjectionError> {
        let mut failure = None;
        for task in self.tasks {
            match task.await {
                Ok((projector, result, more)) => {
                    projectors.push(projector);
                    parked.extend(more);
                    if let Err(error) = result {
                        failure.get_or_insert(error);
                    }
                }
                // A projection that panicked is gone: the run cannot go on
                // with the others alone.
                Err(error) => {
                    failure = Some(ProjectionError::Panicked(error.to_string()));
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok((self.to, self.events)),
        }
    }
}

/// Processes a batch, parking each event the projection fails on and
/// trying the batch again without it, until the batch commits.
async fn process(
    db: &ReadDb,
    projector: &mut dyn Projector,
    batch: &[Envelope],
    to: Position,
    parked: &mut Vec<ParkedEvent>,
) -> Result<(), ProjectionError> {
    let mut failed: HashSet<Position> = HashSet::new();
    loop {
        let error = match projector.process(db, batch, to).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        let event = error
            .failed_event()
            .filter(|&position| failed.insert(position))
            .and_then(|position| batch.iter().find(|e| e.position == position));
        // A failure that names no event of this batch is not the batch's
        // fault: it is the caller's to retry.
        let Some(event) = event else {
            return Err(error);
        };
        parked.push(park(db, projector, Parked::of_envelope(event), &error).await?);
    }
}

/// Where a parked event was recorded.
struct Parked<'a> {
    position: Position,
    event_id: uuid::Uuid,
    stream: &'a str,
    event_type: &'a str,
}

impl<'a> Parked<'a> {
    fn of_recorded(event: &'a RecordedEvent) -> Self {
        Self {
            position: event.position,
            event_id: event.id,
            stream: event.stream.as_str(),
            event_type: &event.event_type,
        }
    }

    fn of_envelope(event: &'a Envelope) -> Self {
        Self {
            position: event.position,
            event_id: event.event_id,
            stream: &event.stream,
            event_type: event.event.event_type(),
        }
    }
}

/// Records `event` as parked for `projector`, which then passes over it.
async fn park(
    db: &ReadDb,
    projector: &mut dyn Projector,
    event: Parked<'_>,
    error: &ProjectionError,
) -> Result<ParkedEvent, ProjectionError> {
    tracing::warn!(
        projection = projector.name(),
        position = event.position,
        event_type = event.event_type,
        %error,
        "event parked: the read model goes on without it"
    );
    let parked = ParkedEvent {
        projection: status_name(projector.name(), projector.target()),
        position: event.position,
        event_id: event.event_id,
        stream: event.stream.to_owned(),
        event_type: event.event_type.to_owned(),
        error: error.to_string(),
        attempts: 1,
        parked_at: Utc::now().to_rfc3339(),
    };
    db.park(&parked).await?;
    projector.pass_over(event.position);
    Ok(parked)
}

/// The positions an operator skipped for good for the read model `name`.
pub async fn skipped(store: &dyn EventStore, name: &str) -> Result<Vec<Position>, ProjectionError> {
    let stream = skip_stream(name)?;
    let mut positions = Vec::new();
    let mut from = StreamFrom::Start;
    loop {
        let page = store
            .read_stream(&stream, from, Direction::Forwards, MAX_READ_LIMIT)
            .await?;
        let Some(last) = page.last().map(|e| e.revision) else {
            return Ok(positions);
        };
        for recorded in &page {
            // Only the product writes this stream (an owned category), and
            // always this event; anything else is not a skip.
            if let Ok(ReadModelEvent::ParkedEventSkipped(skip)) =
                ReadModelEvent::decode(&recorded.event_type, recorded.data.get())
            {
                positions.push(skip.position);
            }
        }
        if page.len() < MAX_READ_LIMIT {
            return Ok(positions);
        }
        from = StreamFrom::Revision(last + 1);
    }
}

/// `readmodel-<name>`: the operators' decisions on a read model.
pub fn skip_stream(name: &str) -> Result<StreamName, ProjectionError> {
    StreamName::new(format!("{READ_MODEL_RECORDS}-{name}"))
        .map_err(|e| ProjectionError::Store(e.into()))
}

/// Whether a projection's tables were reset, swapped or retried into since
/// it loaded them.
async fn changed_behind(
    db: &ReadDb,
    projectors: &[Box<dyn Projector>],
) -> Result<bool, ProjectionError> {
    // One read of every status row, whatever the number of projections.
    let rows = db.all_statuses().await?;
    Ok(projectors.iter().any(|projector| {
        let status = status_name(projector.name(), projector.target());
        !rows.iter().any(|row| {
            row.name == status
                && row.position == projector.position()
                && row.epoch == projector.epoch()
        })
    }))
}
