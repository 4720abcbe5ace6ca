//! The embedded backend: one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! SQLite allows one writer at a time; every transaction that appends
//! (the writer thread's batches, imports) takes the write lock with
//! `BEGIN IMMEDIATE`, so positions are assigned and committed in order.
//! Readers use their own pool and never block the writer.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::sqlite::SqliteTransactionManager;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection as _, QueryBuilder, Row as _, Sqlite, TransactionManager};
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::StoreError;
use crate::import::plan_import;
use crate::plan::{AppendRequest, LogState};
use crate::sql::{
    all_page, all_range, select_all, select_stream, to_i64, InsertRow, EVENT_COLUMNS,
};
use crate::sqlite_writer::SqliteWriter;
use crate::store::{check_read_limit, check_subscriber, Backend, EventStore, StoreOptions};
use crate::types::{
    AllPage, AllQuery, AppendResult, CurrentRevision, Direction, ExpectedRevision, NewEvent,
    Position, RecordedEvent, StreamFrom, StreamName,
};
use crate::writer::Writer;

/// Rows per INSERT statement: 9 parameters each stays well below SQLite's
/// limit of 32,766 bound parameters.
const INSERT_CHUNK: usize = 1_000;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The pool options of every SQLite pool on the store's file.
///
/// When a statement fails on a full disk SQLite may roll the transaction
/// back by itself; sqlx's own ROLLBACK then fails and it goes on counting
/// the transaction as open, refusing every later BEGIN on that connection.
/// Such a connection is closed instead of being handed out again, so that
/// writes resume once there is space.
///
/// No ping before each use: a file does not hang up, and on SQLite a ping
/// is a round trip to the connection's own thread, as dear as a query.
pub fn sqlite_pool_options() -> SqlitePoolOptions {
    fn depth(conn: &SqliteConnection) -> usize {
        <SqliteTransactionManager as TransactionManager>::get_transaction_depth(conn)
    }
    SqlitePoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn, _| {
            Box::pin(async move {
                if depth(conn) == 0 {
                    return Ok(true);
                }
                // A rollback the last user left queued runs before the ping.
                conn.ping().await?;
                Ok(depth(conn) == 0)
            })
        })
}

/// The event store on one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    read: SqlitePool,
    write: SqlitePool,
    writer: Writer,
    head: Arc<watch::Sender<Position>>,
    options: StoreOptions,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path`.
    pub async fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if !options.create && !path.exists() {
            return Err(StoreError::NoStore(path.display().to_string()));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(options.create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if options.unsafe_fast {
                SqliteSynchronous::Off
            } else {
                SqliteSynchronous::Full
            })
            .busy_timeout(options.timeout)
            .foreign_keys(true);
        // One connection for imports and checkpoint saves; appends go through
        // the writer thread's own.
        let write = sqlite_pool_options()
            .max_connections(1)
            .acquire_timeout(options.timeout)
            .connect_with(connect.clone())
            .await?;
        check_durability(&write, options.unsafe_fast).await?;
        if options.migrate {
            MIGRATOR.run(&write).await?;
        }
        let read = sqlite_pool_options()
            .max_connections(options.read_connections.max(1))
            .acquire_timeout(options.timeout)
            .connect_with(connect)
            .await?;
        let head = Arc::new(watch::Sender::new(query_head(&read).await?));
        let writer = Writer::spawn(
            Arc::new(SqliteWriter::start(
                &path,
                options.unsafe_fast,
                options.timeout,
            )?),
            head.clone(),
            options.max_appends_per_commit,
        );
        Ok(Self {
            path,
            read,
            write,
            writer,
            head,
            options,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The read pool, for read models that live in the same file.
    pub fn read_pool(&self) -> &SqlitePool {
        &self.read
    }

    /// The write pool (one connection), for read models that live in the same file.
    pub fn write_pool(&self) -> &SqlitePool {
        &self.write
    }

    /// Writes a consistent copy of the whole file (log, read models, keys)
    /// to `target` while appends go on: `VACUUM INTO` reads one snapshot and
    /// does not hold the write lock (SQLite refuses a target that exists).
    /// Returns the head position the copy holds.
    pub async fn backup_to(&self, target: &Path) -> Result<Position, StoreError> {
        let target = target.to_str().ok_or_else(|| {
            StoreError::Unavailable(format!("{} is not a UTF-8 path", target.display()))
        })?;
        let mut conn = self.read.acquire().await?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&mut *conn)
            .await?;
        let copy = SqliteConnectOptions::new().filename(target).read_only(true);
        let mut copy = sqlx::ConnectOptions::connect(&copy).await?;
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&mut copy)
            .await?;
        sqlx::Connection::close(copy).await?;
        Ok(head as Position)
    }

    /// Runs SQLite's own consistency check of the file.
    pub async fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.read)
            .await?;
        Ok(rows)
    }
}

async fn check_durability(pool: &SqlitePool, unsafe_fast: bool) -> Result<(), StoreError> {
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await?;
    if unsafe_fast {
        tracing::warn!(
            journal_mode = %journal,
            synchronous,
            "UNSAFE: durability checks are off; acknowledged events may be lost on a crash"
        );
        return Ok(());
    }
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(StoreError::UnsafeDurability(format!(
            "SQLite journal_mode is {journal}, not wal (is the file on a filesystem without shared memory, or in memory?)"
        )));
    }
    // 2 = FULL, 3 = EXTRA
    if synchronous < 2 {
        return Err(StoreError::UnsafeDurability(format!(
            "SQLite synchronous is {synchronous}, not FULL (2) or EXTRA (3)"
        )));
    }
    Ok(())
}

async fn query_head(pool: &SqlitePool) -> Result<Position, StoreError> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
        .fetch_one(pool)
        .await?;
    Ok(head as Position)
}

#[async_trait]
impl EventStore for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let request = AppendRequest::prepare(stream, expected, events, &self.options)?;
        self.writer.append(request).await
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        check_read_limit(limit)?;
        let Some(mut sql) = select_stream::<Sqlite>(stream.as_str(), from, direction, limit) else {
            return Ok(Vec::new());
        };
        let rows = sql.build().fetch_all(&self.read).await?;
        rows.iter().map(decode_event).collect()
    }

    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, StoreError> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(revision) FROM events WHERE stream_name = ?")
                .bind(stream.as_str())
                .fetch_one(&self.read)
                .await?;
        Ok(CurrentRevision::from_last(last.map(|r| r as u64)))
    }

    async fn read_all(&self, query: &AllQuery) -> Result<AllPage, StoreError> {
        check_read_limit(query.limit)?;
        let head = query_head(&self.read).await?;
        let range = all_range(query, head);
        let events = match range {
            Some(range) if query.limit > 0 => {
                let rows = select_all::<Sqlite>(query, range)
                    .build()
                    .fetch_all(&self.read)
                    .await?;
                rows.iter()
                    .map(decode_event)
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => Vec::new(),
        };
        Ok(all_page(query, head, range, events))
    }

    async fn head(&self) -> Result<Position, StoreError> {
        query_head(&self.read).await
    }

    fn head_watch(&self) -> watch::Receiver<Position> {
        self.head.subscribe()
    }

    async fn load_checkpoint(&self, subscriber: &str) -> Result<Option<Position>, StoreError> {
        check_subscriber(subscriber)?;
        let position: Option<i64> = sqlx::query_scalar(
            "SELECT position FROM subscription_checkpoints WHERE subscriber = ?",
        )
        .bind(subscriber)
        .fetch_optional(&self.read)
        .await?;
        Ok(position.map(|p| p as Position))
    }

    async fn import(&self, events: &[RecordedEvent]) -> Result<Position, StoreError> {
        // `BEGIN IMMEDIATE` waits (up to the busy timeout) for the writer
        // thread's batch in flight, and the writer waits for this.
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let streams: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
        let state = read_log_state(&mut tx, &streams).await?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let known = read_events_by_id(&mut tx, &ids).await?;
        let rows: Vec<InsertRow> = plan_import(events, state.head, &state.revisions, &known)?
            .into_iter()
            .map(InsertRow::imported)
            .collect();
        insert_rows(&mut tx, &rows).await?;
        tx.commit().await?;
        let head = rows.last().map_or(state.head, |row| row.position);
        self.head.send_if_modified(|current| {
            let newer = head > *current;
            if newer {
                *current = head;
            }
            newer
        });
        Ok(head)
    }

    async fn save_checkpoint(
        &self,
        subscriber: &str,
        position: Position,
    ) -> Result<(), StoreError> {
        check_subscriber(subscriber)?;
        sqlx::query(
            "INSERT INTO subscription_checkpoints (subscriber, position, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (subscriber) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
        )
        .bind(subscriber)
        .bind(to_i64(position))
        .bind(Utc::now().timestamp_micros())
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

fn decode_event(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    TextRow {
        position: row.try_get("position")?,
        id: row.try_get("event_id")?,
        stream: row.try_get("stream_name")?,
        revision: row.try_get("revision")?,
        event_type: row.try_get("event_type")?,
        data: row.try_get("data")?,
        metadata: row.try_get("metadata")?,
        recorded_at: row.try_get("recorded_at")?,
    }
    .into_event()
}

/// A stored event as SQLite holds it: ids, JSON and times as text and
/// integers, whichever driver read it.
pub(crate) struct TextRow {
    pub position: i64,
    pub id: String,
    pub stream: String,
    pub revision: i64,
    pub event_type: String,
    pub data: String,
    pub metadata: String,
    pub recorded_at: i64,
}

impl TextRow {
    pub fn into_event(self) -> Result<RecordedEvent, StoreError> {
        let Self {
            position,
            id,
            stream,
            revision,
            event_type,
            data,
            metadata,
            recorded_at,
        } = self;
        let corrupt = |reason: String| StoreError::Corrupt {
            position: position as u64,
            reason,
        };
        Ok(RecordedEvent {
            stream,
            revision: revision as u64,
            position: position as u64,
            id: Uuid::parse_str(&id).map_err(|e| corrupt(format!("event id {id:?}: {e}")))?,
            event_type,
            data: RawValue::from_string(data).map_err(|e| corrupt(format!("data: {e}")))?,
            metadata: RawValue::from_string(metadata)
                .map_err(|e| corrupt(format!("metadata: {e}")))?,
            recorded_at: DateTime::from_timestamp_micros(recorded_at)
                .ok_or_else(|| corrupt(format!("recorded_at {recorded_at} is out of range")))?,
        })
    }
}

/// The head and the current revisions of `streams`, read inside the write
/// transaction.
async fn read_log_state(
    conn: &mut SqliteConnection,
    streams: &[&str],
) -> Result<LogState, StoreError> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
        .fetch_one(&mut *conn)
        .await?;
    let streams: Vec<&str> = streams
        .iter()
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let revisions = sqlx::query(
        "SELECT s.value AS stream_name,
                (SELECT MAX(revision) FROM events WHERE stream_name = s.value) AS revision
         FROM json_each(?) AS s",
    )
    .bind(json_array(&streams))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| {
        let last: Option<i64> = row.try_get("revision")?;
        Ok((
            row.try_get::<String, _>("stream_name")?,
            CurrentRevision::from_last(last.map(|r| r as u64)),
        ))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(LogState {
        head: head as Position,
        revisions,
    })
}

/// The stored events that carry one of `ids`.
async fn read_events_by_id(
    conn: &mut SqliteConnection,
    ids: &[Uuid],
) -> Result<Vec<RecordedEvent>, StoreError> {
    let ids: Vec<String> = ids.iter().map(|id| id.hyphenated().to_string()).collect();
    sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_id IN (SELECT value FROM json_each(?))"
    ))
    .bind(json_array(&ids))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(decode_event)
    .collect()
}

async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[InsertRow<'_>],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (position, event_id, stream_name, revision, category, event_type, data, metadata, recorded_at) ",
        );
        insert.push_values(chunk, |mut values, row| {
            values
                .push_bind(to_i64(row.position))
                .push_bind(row.id.hyphenated().to_string())
                .push_bind(row.stream)
                .push_bind(to_i64(row.revision))
                .push_bind(row.category)
                .push_bind(row.event_type)
                .push_bind(row.data)
                .push_bind(row.metadata)
                .push_bind(row.recorded_at.timestamp_micros());
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn json_array(values: &[impl serde::Serialize]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned())
}
