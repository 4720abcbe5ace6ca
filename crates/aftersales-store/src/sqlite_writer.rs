//! The log's writer on SQLite: a thread of its own holds one connection to
//! the file and writes each batch (begin, read the head and the revisions,
//! insert, synced commit) in one go, with its statements prepared once.
//!
//! Through the async driver every statement is a hand-off to the driver's
//! thread and back, and on a small machine those thread wake-ups cost more
//! than the statements; here a batch costs one hand-off each way.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, Row, Transaction, TransactionBehavior};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::error::StoreError;
use crate::plan::{now_micros, plan_batch, AppendRequest, LogState};
use crate::sql::{to_i64, InsertRow, EVENT_COLUMNS};
use crate::sqlite::TextRow;
use crate::sqlite_checkpoint::Checkpointer;
use crate::types::{CurrentRevision, Position, RecordedEvent};
use crate::writer::{BatchWriter, Outcome};

type Written = Result<Vec<Outcome>, StoreError>;

struct Job {
    requests: Arc<[AppendRequest]>,
    look_up_ids: bool,
    reply: oneshot::Sender<Written>,
}

/// The handle the store's group-commit task writes batches through. The
/// threads end when the handle is dropped.
pub(crate) struct SqliteWriter {
    jobs: mpsc::Sender<Job>,
    /// Dropped with the writer, which ends its thread.
    _checkpointer: Checkpointer,
}

impl SqliteWriter {
    /// Connects to the (migrated) store at `path` and starts the threads.
    pub fn start(
        path: &Path,
        unsafe_fast: bool,
        busy_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let conn = connect(path, unsafe_fast, busy_timeout)?;
        // Checkpoints run on a thread of their own (see `Checkpointer`).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = Checkpointer::start(connect(path, unsafe_fast, busy_timeout)?)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || serve(conn, queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            jobs,
            _checkpointer: checkpointer,
        })
    }
}

#[async_trait]
impl BatchWriter for SqliteWriter {
    async fn write_batch(&self, requests: Arc<[AppendRequest]>, look_up_ids: bool) -> Written {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                requests,
                look_up_ids,
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn connect(
    path: &Path,
    unsafe_fast: bool,
    busy_timeout: Duration,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(
        None,
        "synchronous",
        if unsafe_fast { "OFF" } else { "FULL" },
    )?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // The store's other connections put the file in WAL mode; a writer
    // that found it otherwise would commit without the store's guarantees.
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    if !unsafe_fast && !journal.eq_ignore_ascii_case("wal") {
        return Err(StoreError::UnsafeDurability(format!(
            "SQLite journal_mode is {journal}, not wal"
        )));
    }
    Ok(conn)
}

fn serve(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        let written = std::panic::catch_unwind(AssertUnwindSafe(|| {
            write(&mut conn, &job.requests, job.look_up_ids)
        }))
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the event writer failed".to_owned(),
            ))
        });
        // The group-commit task always waits for the answer; if it is gone
        // the store is closing.
        let _ = job.reply.send(written);
    }
}

/// Writes the batch in one immediate transaction; see [`BatchWriter`].
fn write(conn: &mut Connection, requests: &[AppendRequest], look_up_ids: bool) -> Written {
    // A statement that failed on a full disk may leave SQLite's own
    // transaction open; start from a clean connection.
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let requests: Vec<&AppendRequest> = requests.iter().collect();
    let recorded_at = now_micros();
    let state = read_log_state(&tx, &requests)?;
    let known;
    let plan = match plan_batch(&requests, &state, &[], recorded_at) {
        plan if !look_up_ids && !plan.needs_known_ids() => plan,
        _ => {
            known = read_events_by_id(&tx, requests.iter().flat_map(|r| r.event_ids()))?;
            plan_batch(&requests, &state, &known, recorded_at)
        }
    };
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (position, event_id, stream_name, revision, category, event_type, data, metadata, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut id = Uuid::encode_buffer();
        for row in &plan.rows {
            let row = InsertRow::planned(row, plan.recorded_at);
            insert.execute(params![
                to_i64(row.position),
                &*row.id.hyphenated().encode_lower(&mut id),
                row.stream,
                to_i64(row.revision),
                row.category,
                row.event_type,
                row.data,
                row.metadata,
                row.recorded_at.timestamp_micros(),
            ])?;
        }
    }
    tx.commit()?;
    Ok(plan.outcomes)
}

/// The head and the current revisions of the batch's streams.
fn read_log_state(
    tx: &Transaction<'_>,
    requests: &[&AppendRequest],
) -> Result<LogState, StoreError> {
    let head: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(position), 0) FROM events")?
        .query_row([], |row| row.get(0))?;
    let mut last_revision =
        tx.prepare_cached("SELECT MAX(revision) FROM events WHERE stream_name = ?1")?;
    let mut revisions = HashMap::with_capacity(requests.len());
    for request in requests {
        let stream = request.stream.as_str();
        if revisions.contains_key(stream) {
            continue;
        }
        let last: Option<i64> = last_revision.query_row([stream], |row| row.get(0))?;
        revisions.insert(
            stream.to_owned(),
            CurrentRevision::from_last(last.map(|r| r as u64)),
        );
    }
    Ok(LogState {
        head: head as Position,
        revisions,
    })
}

/// The stored events that carry one of `ids`.
fn read_events_by_id(
    tx: &Transaction<'_>,
    ids: impl Iterator<Item = Uuid>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut by_id = tx.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?1"
    ))?;
    let mut found = Vec::new();
    for id in ids {
        let mut rows = by_id.query([id.hyphenated().to_string()])?;
        while let Some(row) = rows.next()? {
            found.push(decode_event(row)?);
        }
    }
    Ok(found)
}

fn decode_event(row: &Row<'_>) -> Result<RecordedEvent, StoreError> {
    TextRow {
        position: row.get("position")?,
        id: row.get("event_id")?,
        stream: row.get("stream_name")?,
        revision: row.get("revision")?,
        event_type: row.get("event_type")?,
        data: row.get("data")?,
        metadata: row.get("metadata")?,
        recorded_at: row.get("recorded_at")?,
    }
    .into_event()
}
