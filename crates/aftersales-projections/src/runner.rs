//! Feeding projections from a catch-up subscription, a batch at a time.
//!
//! Each projection writes its documents and its checkpoint in one
//! transaction, so after a crash it resumes exactly after the last batch it
//! committed. The checkpoint update is conditional on the position it
//! started from: if another process moved it (a second service, or a rebuild
//! that was swapped in), the commit fails and the runner starts again from
//! the stored checkpoint instead of applying events twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aftersales_store::{
    subscribe, AllFilter, EventStore, Position, SubscribeFrom, SubscriptionMessage,
};
use async_trait::async_trait;

pub use crate::db::{status_name, table_name, Target};
use crate::db::{ReadDb, RowWrite};
use crate::docs::Docs;
use crate::envelope::{Envelope, CATEGORIES};
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

/// A projection with its working set, behind an object-safe face so a set
/// of them can share one feed.
#[async_trait]
pub trait Projector: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    fn target(&self) -> Target;
    /// The last position applied.
    fn position(&self) -> Position;
    /// Starts from the stored checkpoint, forgetting cached documents.
    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError>;
    /// Applies the events of `batch` after its checkpoint and moves the
    /// checkpoint to `to`, in one transaction.
    async fn process(
        &mut self,
        db: &ReadDb,
        batch: &[Envelope],
        to: Position,
    ) -> Result<(), ProjectionError>;
}

/// The runtime of one projection.
#[derive(Debug)]
pub struct Runtime<P: Projection> {
    projection: P,
    target: Target,
    table: String,
    status: String,
    position: Position,
    docs: Docs<P::Doc>,
}

impl<P: Projection> Runtime<P> {
    pub fn new(projection: P, target: Target) -> Self {
        Self {
            projection,
            target,
            table: table_name(P::NAME, target),
            status: status_name(P::NAME, target),
            position: 0,
            docs: Docs::default(),
        }
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
                .load(&self.table, collection, &keys)
                .await?
                .into_iter()
                .collect();
            for key in keys {
                let doc: Option<P::Doc> = match found.remove(&key) {
                    Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                        ProjectionError::CorruptRow(format!(
                            "{}/{collection}/{key}: {e}",
                            self.table
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
                    tags: Vec::new(),
                });
                continue;
            };
            let mut tags = Vec::new();
            self.projection.tags(doc, &mut tags);
            // Most events leave a document's search terms as they were.
            let unchanged = change.stored && change.tags == Some(tags.as_slice());
            let text = serde_json::to_string(doc)
                .map_err(|e| ProjectionError::CorruptRow(e.to_string()))?;
            rows.push(RowWrite {
                collection: change.collection,
                key: change.key.to_owned(),
                sort: self.projection.sort_key(doc),
                doc: Some(text),
                retag: change.stored && !unchanged,
                tags: if unchanged { Vec::new() } else { tags.clone() },
            });
            written_tags.push((change.collection, change.key.to_owned(), tags));
        }
        for (collection, key, tags) in written_tags {
            self.docs.set_tags(collection, &key, tags);
        }
        Ok(rows)
    }
}

#[async_trait]
impl<P: Projection> Projector for Runtime<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn version(&self) -> u32 {
        P::VERSION
    }

    fn target(&self) -> Target {
        self.target
    }

    fn position(&self) -> Position {
        self.position
    }

    async fn load(&mut self, db: &ReadDb) -> Result<(), ProjectionError> {
        self.docs.clear();
        self.position = checkpoint(db, &self.status, &self.table, P::VERSION, self.target).await?;
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
        let batch = &batch[start..];
        let result = async {
            self.fill(db, batch).await?;
            for event in batch {
                self.projection.apply(event, &mut self.docs)?;
            }
            let rows = self.writes()?;
            db.commit(&self.status, &self.table, &rows, self.position, to)
                .await
        }
        .await;
        match result {
            Ok(()) => {
                self.docs.committed(CACHE_DOCS);
                self.position = to;
                Ok(())
            }
            Err(error) => {
                self.docs.clear();
                Err(error)
            }
        }
    }
}

/// Where a projection's tables stand, creating them if missing; a failed
/// projection is marked running again, to retry its event.
pub(crate) async fn checkpoint(
    db: &ReadDb,
    status: &str,
    table: &str,
    version: u32,
    target: Target,
) -> Result<Position, ProjectionError> {
    match db.status(status).await? {
        Some(row) => {
            if row.state == "failed" {
                db.set_state(status, target.state(), None).await?;
            }
            Ok(row.position)
        }
        None => {
            db.create(status, table, version, target).await?;
            Ok(0)
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
/// checkpoints. `progress` is told after every batch. A projection whose
/// event fails is marked failed with that event and left behind; the others
/// go on. Returns the projections that failed.
pub async fn run(
    store: Arc<dyn EventStore>,
    db: &ReadDb,
    projectors: &mut [Box<dyn Projector>],
    until: Until,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<Vec<(&'static str, ProjectionError)>, ProjectionError> {
    'restart: loop {
        for projector in projectors.iter_mut() {
            projector.load(db).await?;
        }
        let mut failed: Vec<(&'static str, ProjectionError)> = Vec::new();
        let mut healthy: Vec<usize> = (0..projectors.len()).collect();
        let Some(start) = healthy.iter().map(|&i| projectors[i].position()).min() else {
            return Ok(failed);
        };
        let head = store.head().await?;
        let stop_at = match until {
            Until::CaughtUp => Some(head),
            Until::Position(position) => Some(position),
            Until::Forever => None,
        };
        if stop_at.is_some_and(|stop| start >= stop) {
            return Ok(failed);
        }
        let filter = AllFilter {
            categories: CATEGORIES.iter().map(|c| (*c).to_owned()).collect(),
            event_types: Vec::new(),
        };
        let mut subscription = subscribe(store.clone(), SubscribeFrom::After(start), filter);
        let mut events = 0u64;
        let mut head = head;
        let mut caught_up = false;
        let limit = batch_limit(projectors);
        loop {
            let mut batch = Vec::new();
            let mut to = None;
            let mut undecodable = None;
            let first = subscription
                .next()
                .await
                .ok_or(ProjectionError::Interrupted)?;
            let mut message = Some(first);
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
                        match Envelope::decode(&recorded) {
                            Ok(Some(envelope)) => batch.push(envelope),
                            Ok(None) => {}
                            Err(error) => {
                                undecodable = Some(error);
                                break;
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
            if let Some(error) = undecodable {
                // Everything before the bad event is applied; every
                // projection then stops at it.
                if let Some(to) = to {
                    for &i in &healthy {
                        match projectors[i].process(db, &batch, to).await {
                            Err(ProjectionError::Busy(_)) => continue 'restart,
                            other => other?,
                        }
                    }
                }
                let position = failed_position(&error);
                for &i in &healthy {
                    let projector = &projectors[i];
                    mark_failed(db, projector.as_ref(), position, &error).await?;
                    failed.push((
                        projector.name(),
                        ProjectionError::Inconsistent {
                            position,
                            reason: error.to_string(),
                        },
                    ));
                }
                return Ok(failed);
            }
            let Some(to) = to else { continue };
            for &i in &healthy.clone() {
                match projectors[i].process(db, &batch, to).await {
                    Ok(()) => {}
                    Err(ProjectionError::Busy(_)) => continue 'restart,
                    Err(error) if is_event_failure(&error) => {
                        mark_failed(db, projectors[i].as_ref(), failed_position(&error), &error)
                            .await?;
                        healthy.retain(|&j| j != i);
                        failed.push((projectors[i].name(), error));
                    }
                    Err(error) => return Err(error),
                }
            }
            events += batch.len() as u64;
            head = head.max(to);
            progress(Progress {
                position: to,
                head,
                events,
            });
            if healthy.is_empty() || stop_at.is_some_and(|stop| to >= stop) {
                return Ok(failed);
            }
        }
    }
}

async fn mark_failed(
    db: &ReadDb,
    projector: &dyn Projector,
    position: Position,
    error: &ProjectionError,
) -> Result<(), ProjectionError> {
    tracing::error!(projection = projector.name(), position, %error, "projection failed");
    let status = status_name(projector.name(), projector.target());
    db.set_state(&status, "failed", Some((position, &error.to_string())))
        .await
}

fn is_event_failure(error: &ProjectionError) -> bool {
    matches!(
        error,
        ProjectionError::Undecodable { .. } | ProjectionError::Inconsistent { .. }
    )
}

fn failed_position(error: &ProjectionError) -> Position {
    match error {
        ProjectionError::Undecodable { position, .. }
        | ProjectionError::Inconsistent { position, .. } => *position,
        _ => 0,
    }
}
