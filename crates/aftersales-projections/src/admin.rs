//! What operators do with read models: prepare them at start-up, keep them
//! caught up, rebuild, verify and reset them, report their status, and
//! produce a report as of a past position.

use std::sync::Arc;
use std::time::Duration;

use aftersales_domain::streams::{ParkedEventSkipped, ReadModelEvent};
use aftersales_domain::{Actor, DomainEvent};
use aftersales_store::{
    AllFrom, AllQuery, Direction, EventMetadata, EventStore, ExpectedRevision, NewEvent, Position,
    RecordedEvent,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::case_views::CaseViews;
use crate::db::{ParkedEvent, ReadDb};
use crate::envelope::{Envelope, Zones};
use crate::error::ProjectionError;
use crate::ledger::Ledger;
use crate::projection::Projection;
use crate::reports::{catalogue, Reports};
use crate::resources::ResourceViews;
use crate::runner::{self, status_name, table_name, Progress, Projector, Runtime, Target, Until};
use crate::schedule::{self, Schedule};
use crate::table::Table;

/// A read model: what it is called, which version of its code it is, and
/// how to run it.
#[derive(Debug)]
pub struct ReadModel {
    pub name: &'static str,
    /// Bumped when its documents change shape or meaning: the service
    /// rebuilds it at start-up.
    pub version: u32,
    /// A runtime writing `target`'s tables. The schedule reads aggregates it
    /// no longer holds from the store.
    runtime: fn(&Arc<dyn EventStore>, Target) -> Box<dyn Projector>,
}

/// Every read model, in the order they are listed. Adding one is one line
/// here.
pub const READ_MODELS: &[ReadModel] = &[
    ReadModel {
        name: CaseViews::NAME,
        version: CaseViews::VERSION,
        runtime: |_, target| Box::new(Runtime::new(CaseViews, target)),
    },
    ReadModel {
        name: Ledger::NAME,
        version: Ledger::VERSION,
        runtime: |_, target| Box::new(Runtime::new(Ledger, target)),
    },
    ReadModel {
        name: Reports::NAME,
        version: Reports::VERSION,
        runtime: |_, target| Box::new(Runtime::new(Reports, target)),
    },
    ReadModel {
        name: ResourceViews::NAME,
        version: ResourceViews::VERSION,
        runtime: |_, target| Box::new(Runtime::new(ResourceViews, target)),
    },
    ReadModel {
        name: schedule::NAME,
        version: schedule::VERSION,
        runtime: |store, target| Box::new(Schedule::new(store.clone(), target)),
    },
];

/// The read model called `name`.
pub fn read_model(name: &str) -> Result<&'static ReadModel, ProjectionError> {
    READ_MODELS
        .iter()
        .find(|model| model.name == name)
        .ok_or_else(|| ProjectionError::UnknownProjection(name.to_owned()))
}

fn version_of(name: &str) -> Option<u32> {
    read_model(name).ok().map(|model| model.version)
}

/// The runtimes of the named projections (all when `names` is empty).
pub fn projectors(
    store: &Arc<dyn EventStore>,
    names: &[String],
    target: Target,
) -> Result<Vec<Box<dyn Projector>>, ProjectionError> {
    let mut models: Vec<&ReadModel> = if names.is_empty() {
        READ_MODELS.iter().collect()
    } else {
        names
            .iter()
            .map(|name| read_model(name))
            .collect::<Result<_, _>>()?
    };
    // One runtime per read model: two would race for the same checkpoint.
    models.sort_unstable_by_key(|model| model.name);
    models.dedup_by_key(|model| model.name);
    Ok(models
        .into_iter()
        .map(|model| (model.runtime)(store, target))
        .collect())
}

/// At start-up: creates missing read models and resets those whose code
/// version changed, so they are rebuilt as the runner catches up. Returns
/// the names reset.
pub async fn prepare(db: &ReadDb) -> Result<Vec<&'static str>, ProjectionError> {
    let mut reset = Vec::new();
    for &ReadModel { name, version, .. } in READ_MODELS {
        match db.status(name).await? {
            Some(status) if status.version == version => {}
            Some(status) => {
                tracing::info!(
                    projection = name,
                    from = status.version,
                    to = version,
                    "projection version changed: rebuilding"
                );
                db.create(name, &table_name(name, Target::Live), version, Target::Live)
                    .await?;
                reset.push(name);
            }
            None => {
                db.create(name, &table_name(name, Target::Live), version, Target::Live)
                    .await?
            }
        }
    }
    Ok(reset)
}

/// Brings the live read models up to the head of the log and returns the
/// events parked on the way.
pub async fn catch_up(
    store: Arc<dyn EventStore>,
    db: &ReadDb,
) -> Result<Vec<ParkedEvent>, ProjectionError> {
    prepare(db).await?;
    let mut projectors = projectors(&store, &[], Target::Live)?;
    runner::run(store, db, &mut projectors, Until::CaughtUp, |_| {}).await
}

/// Creates the tables of read models that have none yet, so that readers
/// find them empty rather than missing before the runner starts. Never
/// resets a read model: a race with the runner at most has it start over
/// (its conditional checkpoint notices).
pub async fn ensure(db: &ReadDb) -> Result<(), ProjectionError> {
    for &ReadModel { name, version, .. } in READ_MODELS {
        if db.status(name).await?.is_none() {
            db.create(name, &table_name(name, Target::Live), version, Target::Live)
                .await?;
        }
    }
    Ok(())
}

/// The log position every live read model has reached: a read of any of
/// them reflects at least the events up to it.
pub async fn reached(db: &ReadDb) -> Result<Position, ProjectionError> {
    let rows = db.all_statuses().await?;
    Ok(READ_MODELS
        .iter()
        .map(|model| {
            rows.iter()
                .find(|row| row.name == model.name)
                .map_or(0, |row| row.position)
        })
        .min()
        .unwrap_or(0))
}

/// Keeps the live read models caught up until the task is dropped, telling
/// `reached` the position all of them have reached after every batch. On
/// PostgreSQL only the process holding the projections' advisory lock runs
/// them; the others wait and take over when it goes away.
pub async fn run_live(
    store: Arc<dyn EventStore>,
    db: ReadDb,
    reached: impl Fn(Position) + Send + Sync,
) -> Result<(), ProjectionError> {
    let _lock = match &db {
        ReadDb::Postgres(pool) => Some(exclusive(pool).await?),
        ReadDb::Sqlite(_) => None,
    };
    prepare(&db).await?;
    loop {
        let mut projectors = projectors(&store, &[], Target::Live)?;
        let progress = |progress: Progress| reached(progress.position);
        match runner::run(
            store.clone(),
            &db,
            &mut projectors,
            Until::Forever,
            progress,
        )
        .await
        {
            // Following the log live ends only with an error.
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "projection runner stopped; restarting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Key of the advisory lock the projection runner holds on PostgreSQL
/// ("readmode" in ASCII); it must differ from the store's append lock.
const RUNNER_LOCK: i64 = 0x7265_6164_6d6f_6465;

async fn exclusive(pool: &sqlx::PgPool) -> Result<sqlx::PgConnection, ProjectionError> {
    loop {
        let mut connection = pool.acquire().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(RUNNER_LOCK)
            .fetch_one(&mut *connection)
            .await?;
        if locked {
            // The lock lives as long as this session: the connection leaves
            // the pool, and closes (releasing the lock) when the runner stops.
            return Ok(connection.detach());
        }
        drop(connection);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Rebuilds the named read models into shadow tables while the live ones
/// keep serving, then swaps each in. An interrupted rebuild resumes from
/// its shadow checkpoint unless `restart`.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    db: &ReadDb,
    names: &[String],
    restart: bool,
    progress: impl FnMut(Progress) + Send,
) -> Result<(), ProjectionError> {
    let mut shadows = projectors(&store, names, Target::Shadow)?;
    for shadow in &shadows {
        let name = shadow.name();
        let status = status_name(name, Target::Shadow);
        let fresh = restart
            || db
                .status(&status)
                .await?
                .is_none_or(|s| s.version != shadow.version());
        if fresh {
            db.create(
                &status,
                &table_name(name, Target::Shadow),
                shadow.version(),
                Target::Shadow,
            )
            .await?;
        }
    }
    runner::run(store, db, &mut shadows, Until::CaughtUp, progress).await?;
    for shadow in &shadows {
        let name = shadow.name();
        db.swap(
            name,
            &table_name(name, Target::Live),
            &table_name(name, Target::Shadow),
        )
        .await?;
    }
    Ok(())
}

/// A difference between a read model and its rebuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub projection: String,
    pub collection: String,
    pub key: String,
    /// live-only | rebuild-only | differs
    pub kind: String,
}

/// Rebuilds the named read models privately up to the live checkpoint and
/// compares them row by row with the live tables.
pub async fn verify(
    store: Arc<dyn EventStore>,
    db: &ReadDb,
    names: &[String],
    mut progress: impl FnMut(Progress) + Send,
) -> Result<Vec<Difference>, ProjectionError> {
    let mut differences = Vec::new();
    for projector in projectors(&store, names, Target::Verify)? {
        let name = projector.name();
        let status = status_name(name, Target::Verify);
        let verify_table = table_name(name, Target::Verify);
        db.create(&status, &verify_table, projector.version(), Target::Verify)
            .await?;
        let mut single = vec![projector];
        let result = async {
            // The live model may move on while we rebuild: follow it until
            // both stand at the same position.
            for _ in 0..10 {
                let live = db
                    .status(name)
                    .await?
                    .ok_or_else(|| ProjectionError::UnknownProjection(name.to_owned()))?;
                runner::run(
                    store.clone(),
                    db,
                    &mut single,
                    Until::Position(live.position),
                    &mut progress,
                )
                .await?;
                let live_rows = db.dump(&table_name(name, Target::Live)).await?;
                let again = db.status(name).await?.map(|s| s.position);
                if again == Some(live.position) {
                    let rebuilt = db.dump(&verify_table).await?;
                    return Ok(compare(name, &live_rows, &rebuilt));
                }
            }
            Err(ProjectionError::Busy(name.to_owned()))
        }
        .await;
        db.drop(&status, &verify_table).await?;
        differences.extend(result?);
    }
    Ok(differences)
}

type DumpRow = (String, String, String, String);

fn compare(name: &str, live: &[DumpRow], rebuilt: &[DumpRow]) -> Vec<Difference> {
    use std::collections::BTreeMap;
    let index = |rows: &[DumpRow]| -> BTreeMap<(String, String, String), String> {
        rows.iter()
            .map(|(c, k, s, d)| ((c.clone(), k.clone(), s.clone()), d.clone()))
            .collect()
    };
    let (live, rebuilt) = (index(live), index(rebuilt));
    let mut differences = Vec::new();
    let mut note = |(collection, key, _): &(String, String, String), kind: &str| {
        differences.push(Difference {
            projection: name.to_owned(),
            collection: collection.clone(),
            key: key.clone(),
            kind: kind.to_owned(),
        });
    };
    for (row, doc) in &live {
        match rebuilt.get(row) {
            None => note(row, "live-only"),
            Some(other) if !same_json(other, doc) => note(row, "differs"),
            Some(_) => {}
        }
    }
    for row in rebuilt.keys().filter(|row| !live.contains_key(*row)) {
        note(row, "rebuild-only");
    }
    differences
}

/// JSON documents compare by value: PostgreSQL may store them re-spaced.
fn same_json(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// Empties a read model; the runner rebuilds it from the start of the log.
pub async fn reset(db: &ReadDb, name: &str) -> Result<(), ProjectionError> {
    let version = read_model(name)?.version;
    db.create(name, &table_name(name, Target::Live), version, Target::Live)
        .await
}

/// One line of `projections status`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Status {
    pub name: String,
    pub version: u32,
    pub code_version: Option<u32>,
    pub state: String,
    pub checkpoint: Position,
    pub head: Position,
    pub lag_events: u64,
    pub lag_seconds: f64,
    /// Events set aside because they could not be decoded or applied.
    pub parked: u64,
}

pub async fn status(store: &dyn EventStore, db: &ReadDb) -> Result<Vec<Status>, ProjectionError> {
    let head = store.head().await?;
    let head_time = recorded_at(store, head).await?;
    let parked = db.parked_counts().await?;
    let mut lines = Vec::new();
    for row in db.all_statuses().await? {
        let base = row.name.split('@').next().unwrap_or_default();
        // How old the oldest event not yet applied is, against the newest.
        let lag_seconds = match head_time {
            Some(head_time) if row.position < head => {
                let behind = recorded_at(store, row.position.max(1))
                    .await?
                    .unwrap_or(head_time);
                (head_time - behind).num_milliseconds().max(0) as f64 / 1000.0
            }
            _ => 0.0,
        };
        lines.push(Status {
            code_version: version_of(base),
            lag_events: head.saturating_sub(row.position),
            lag_seconds,
            head,
            checkpoint: row.position,
            parked: parked
                .iter()
                .find(|(name, _)| *name == row.name)
                .map_or(0, |(_, n)| *n),
            name: row.name,
            version: row.version,
            state: row.state,
        });
    }
    Ok(lines)
}

/// What became of a parked event given another try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retried {
    pub position: Position,
    /// `None`: applied and unparked; else why it stays parked.
    pub error: Option<String>,
}

/// Applies the events parked for `projector` (or only the one at
/// `position`) again, in log order, after the cause was mended: each one
/// that applies now is unparked; the others stay parked with their new
/// error. The checkpoint stays where it is, and a runner serving the same
/// tables reloads them.
pub async fn retry(
    store: &dyn EventStore,
    db: &ReadDb,
    projector: &mut dyn Projector,
    position: Option<Position>,
) -> Result<Vec<Retried>, ProjectionError> {
    projector.load(db).await?;
    let status = status_name(projector.name(), projector.target());
    let parked: Vec<ParkedEvent> = db
        .parked(Some(&status))
        .await?
        .into_iter()
        .filter(|p| position.is_none_or(|wanted| p.position == wanted))
        .collect();
    if let (Some(position), true) = (position, parked.is_empty()) {
        return Err(ProjectionError::NotParked {
            projection: status,
            position,
        });
    }
    let zones = Zones::load(store).await?;
    let mut outcomes = Vec::new();
    for mut event in parked {
        let recorded = event_at(store, event.position).await?;
        let result = match Envelope::decode(&recorded, &zones) {
            Ok(Some(envelope)) => projector.retry(db, &envelope).await,
            // A category the read models no longer follow: nothing to apply.
            Ok(None) => db.forget_parked(&status, event.position).await.map(drop),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => outcomes.push(Retried {
                position: event.position,
                error: None,
            }),
            Err(error) if error.failed_event().is_some() => {
                event.error = error.to_string();
                event.parked_at = Utc::now().to_rfc3339();
                db.park(&event).await?;
                outcomes.push(Retried {
                    position: event.position,
                    error: Some(event.error),
                });
            }
            Err(error) => return Err(error),
        }
    }
    Ok(outcomes)
}

/// Skips a parked event for good: the decision is appended to the log
/// (`readmodel-<name>`, with who decided and why), so that rebuilds pass
/// over the event too and the audit shows it; then it is unparked.
pub async fn skip(
    store: &dyn EventStore,
    db: &ReadDb,
    name: &str,
    position: Position,
    reason: &str,
    actor: &Actor,
) -> Result<(), ProjectionError> {
    read_model(name)?;
    let parked = db
        .parked(Some(name))
        .await?
        .into_iter()
        .find(|p| p.position == position)
        .ok_or_else(|| ProjectionError::NotParked {
            projection: name.to_owned(),
            position,
        })?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ProjectionError::Refused(
            "a skip needs a reason, for the audit".to_owned(),
        ));
    }
    let skipped = ParkedEventSkipped {
        projection: name.to_owned(),
        position,
        event_id: parked.event_id,
        reason: reason.to_owned(),
        at: Utc::now(),
    };
    let metadata = EventMetadata {
        actor_id: Some(actor.id.clone()),
        actor_role: Some(actor.role.as_str().to_owned()),
        schema_version: Some(ReadModelEvent::SCHEMA_VERSION),
        ..EventMetadata::default()
    };
    let event_type = ReadModelEvent::from(skipped.clone()).event_type();
    let event = NewEvent::encode(event_type, &skipped)
        .map_err(|e| ProjectionError::Refused(e.to_string()))?
        .with_metadata(metadata.to_value());
    if !runner::skipped(store, name).await?.contains(&position) {
        store
            .append(
                &runner::skip_stream(name)?,
                ExpectedRevision::Any,
                vec![event],
            )
            .await?;
    }
    db.forget_parked(name, position).await?;
    Ok(())
}

/// The event at `position` of the log.
async fn event_at(
    store: &dyn EventStore,
    position: Position,
) -> Result<RecordedEvent, ProjectionError> {
    let page = store.read_all(&AllQuery::forwards(position, 1)).await?;
    page.events
        .into_iter()
        .find(|event| event.position == position)
        .ok_or_else(|| ProjectionError::BeyondHead {
            position,
            head: page.scanned_to,
        })
}

/// When the event at or before `position` was recorded.
async fn recorded_at(
    store: &dyn EventStore,
    position: Position,
) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    if position == 0 {
        return Ok(None);
    }
    let page = store
        .read_all(&AllQuery {
            from: AllFrom::Position(position),
            direction: Direction::Backwards,
            limit: 1,
            filter: Default::default(),
        })
        .await?;
    Ok(page.events.first().map(|event| event.recorded_at))
}

/// The position of the last event recorded at or before `time` (0 if none).
pub async fn position_at(
    store: &dyn EventStore,
    time: DateTime<Utc>,
) -> Result<Position, ProjectionError> {
    let (mut low, mut high) = (0, store.head().await?);
    // Recording times rise with positions: search for the last one <= time.
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        match recorded_at(store, middle).await? {
            Some(at) if at <= time => low = middle,
            _ => high = middle - 1,
        }
    }
    Ok(low)
}

/// A report over `period` as it read when the log ended at `position`: the
/// report facts are replayed into a private in-memory database up to that
/// position.
pub async fn report_as_of(
    store: Arc<dyn EventStore>,
    name: &str,
    position: Position,
    period: catalogue::Period,
) -> Result<Table, ProjectionError> {
    if !catalogue::REPORTS.iter().any(|(report, _)| *report == name) {
        return Err(ProjectionError::UnknownReport(name.to_owned()));
    }
    // A position not reached yet would have the replay wait for it.
    let head = store.head().await?;
    if position > head {
        return Err(ProjectionError::BeyondHead { position, head });
    }
    let memory = ReadDb::memory().await?;
    let mut projectors = projectors(&store, &[Reports::NAME.to_owned()], Target::Live)?;
    runner::run(
        store,
        &memory,
        &mut projectors,
        Until::Position(position),
        |_| {},
    )
    .await?;
    catalogue::build(&memory, name, period).await
}
