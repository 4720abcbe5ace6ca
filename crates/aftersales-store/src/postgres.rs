//! The production backend: PostgreSQL, shared by several service processes.
//!
//! Concurrent transactions in PostgreSQL commit in any order, so positions
//! taken from a sequence could become visible out of order and a reader
//! paging `$all` by "greater than my checkpoint" would skip the late ones.
//! Appends therefore take one transaction-scoped advisory lock before they
//! assign positions: appends from every process are serialised, and because
//! a transaction is visible before its locks are released, positions become
//! visible strictly in order. Each process batches its concurrent appends
//! into one transaction (group commit), so the lock is taken once per batch.
//! Commits announce the new head with NOTIFY; every store LISTENs.

use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{Connection as _, Postgres, Row as _};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::error::StoreError;
use crate::import::plan_import;
use crate::plan::{now_micros, plan_batch, AppendRequest, BatchPlan, LogState};
use crate::sql::{
    all_page, all_range, select_all, select_stream, to_i64, InsertRow, EVENT_COLUMNS,
};
use crate::store::{check_read_limit, check_subscriber, Backend, EventStore, StoreOptions};
use crate::types::{
    AllPage, AllQuery, AppendResult, CurrentRevision, Direction, ExpectedRevision, NewEvent,
    Position, RecordedEvent, StreamFrom, StreamName,
};
use crate::writer::{BatchWriter, Outcome, Writer};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The advisory lock every append transaction holds ("aftersales" in ASCII).
const APPEND_LOCK: i64 = 0x6166_7465_7273_616c;
/// Opens an append transaction and takes the lock in one round trip (a
/// simple query may hold several statements; the lock is a constant).
static BEGIN_APPEND: LazyLock<String> =
    LazyLock::new(|| format!("BEGIN; SELECT pg_advisory_xact_lock({APPEND_LOCK})"));
/// The NOTIFY channel that announces new heads.
const HEAD_CHANNEL: &str = "aftersales_events";

/// The event store on a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    writer: Writer,
    head: Arc<watch::Sender<Position>>,
    listener: JoinHandle<()>,
    options: StoreOptions,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://…`).
    pub async fn open(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::UnsupportedUrl(crate::open::redact(url)))?
            .options([
                ("lock_timeout", format!("{}", options.timeout.as_millis())),
                ("application_name", "aftersales".to_owned()),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .acquire_timeout(options.timeout)
            .connect_with(connect.clone())
            .await?;
        check_durability(&pool, options.unsafe_fast).await?;
        if options.migrate {
            MIGRATOR.run(&pool).await?;
        }
        let head = Arc::new(watch::Sender::new(query_head(&pool).await?));
        // The writer's own connection, so appends never queue behind reads.
        // Unsafe-fast acknowledges before the server's WAL reaches the disk.
        let write_connect = if options.unsafe_fast {
            connect.options([("synchronous_commit", "off")])
        } else {
            connect
        };
        let writer = Writer::spawn(
            Arc::new(PostgresWriter::connect(write_connect).await?),
            head.clone(),
            options.max_appends_per_commit,
        );
        let listener = tokio::spawn(follow_head(pool.clone(), head.clone()));
        Ok(Self {
            pool,
            writer,
            head,
            listener,
            options,
        })
    }

    /// The pool, for read models that live in the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

async fn check_durability(pool: &PgPool, unsafe_fast: bool) -> Result<(), StoreError> {
    let mut problems = Vec::new();
    for (setting, unsafe_value) in [
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
    ] {
        let value: String = sqlx::query_scalar(&format!("SHOW {setting}"))
            .fetch_one(pool)
            .await?;
        if value == unsafe_value {
            problems.push(format!("{setting} = {value}"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    if unsafe_fast {
        tracing::warn!(settings = %problems.join(", "), "UNSAFE: running on a PostgreSQL server that may lose acknowledged events");
        return Ok(());
    }
    Err(StoreError::UnsafeDurability(format!(
        "the PostgreSQL server runs with {}",
        problems.join(", ")
    )))
}

async fn query_head<'e>(executor: impl sqlx::PgExecutor<'e>) -> Result<Position, StoreError> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
        .fetch_one(executor)
        .await?;
    Ok(head as Position)
}

/// Keeps the head watch current with commits of every process. When the
/// listening connection drops, notifications may have been missed, so the
/// head is read again after reconnecting.
async fn follow_head(pool: PgPool, head: Arc<watch::Sender<Position>>) {
    let advance = |position: Position| {
        head.send_if_modified(|h| {
            let newer = position > *h;
            if newer {
                *h = position;
            }
            newer
        });
    };
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::debug!(%error, "cannot listen for new events yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(HEAD_CHANNEL).await {
            tracing::debug!(%error, "cannot listen for new events yet");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Ok(position) = notification.payload().parse::<Position>() {
                        advance(position);
                    }
                }
                Ok(None) => {
                    if let Ok(position) = query_head(&pool).await {
                        advance(position);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "lost the connection listening for new events");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
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
        let Some(mut sql) = select_stream::<Postgres>(stream.as_str(), from, direction, limit)
        else {
            return Ok(Vec::new());
        };
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(decode_event).collect()
    }

    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, StoreError> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(revision) FROM events WHERE stream_name = $1")
                .bind(stream.as_str())
                .fetch_one(&self.pool)
                .await?;
        Ok(CurrentRevision::from_last(last.map(|r| r as u64)))
    }

    async fn read_all(&self, query: &AllQuery) -> Result<AllPage, StoreError> {
        check_read_limit(query.limit)?;
        let head = query_head(&self.pool).await?;
        let range = all_range(query, head);
        let events = match range {
            Some(range) if query.limit > 0 => {
                let rows = select_all::<Postgres>(query, range)
                    .build()
                    .fetch_all(&self.pool)
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
        query_head(&self.pool).await
    }

    fn head_watch(&self) -> watch::Receiver<Position> {
        self.head.subscribe()
    }

    async fn load_checkpoint(&self, subscriber: &str) -> Result<Option<Position>, StoreError> {
        check_subscriber(subscriber)?;
        let position: Option<i64> = sqlx::query_scalar(
            "SELECT position FROM subscription_checkpoints WHERE subscriber = $1",
        )
        .bind(subscriber)
        .fetch_optional(&self.pool)
        .await?;
        Ok(position.map(|p| p as Position))
    }

    async fn import(&self, events: &[RecordedEvent]) -> Result<Position, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_APPEND.as_str()).await?;
        let streams: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
        let state = read_log_state(&mut tx, streams).await?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let known = read_events_by_id(&mut tx, &ids).await?;
        let rows: Vec<InsertRow> = plan_import(events, state.head, &state.revisions, &known)?
            .into_iter()
            .map(InsertRow::imported)
            .collect();
        insert_rows(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(rows.last().map_or(state.head, |row| row.position))
    }

    async fn save_checkpoint(
        &self,
        subscriber: &str,
        position: Position,
    ) -> Result<(), StoreError> {
        check_subscriber(subscriber)?;
        sqlx::query(
            "INSERT INTO subscription_checkpoints (subscriber, position, updated_at) VALUES ($1, $2, now())
             ON CONFLICT (subscriber) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
        )
        .bind(subscriber)
        .bind(to_i64(position))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn decode_event(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let Json(data) = row.try_get::<Json<Box<RawValue>>, _>("data")?;
    let Json(metadata) = row.try_get::<Json<Box<RawValue>>, _>("metadata")?;
    Ok(RecordedEvent {
        stream: row.try_get("stream_name")?,
        revision: row.try_get::<i64, _>("revision")? as u64,
        position: row.try_get::<i64, _>("position")? as u64,
        id: row.try_get::<Uuid, _>("event_id")?,
        event_type: row.try_get("event_type")?,
        data,
        metadata,
        recorded_at: row.try_get::<DateTime<Utc>, _>("recorded_at")?,
    })
}

/// The head and the current revisions of `streams`, read after the append
/// lock was taken, in one query.
async fn read_log_state(
    conn: &mut PgConnection,
    mut streams: Vec<&str>,
) -> Result<LogState, StoreError> {
    if streams.is_empty() {
        return Ok(LogState {
            head: query_head(&mut *conn).await?,
            revisions: Default::default(),
        });
    }
    streams.sort_unstable();
    streams.dedup();
    let rows = sqlx::query(
        "SELECT (SELECT COALESCE(MAX(position), 0) FROM events) AS head,
                s.name AS stream_name,
                (SELECT revision FROM events e WHERE e.stream_name = s.name
                 ORDER BY revision DESC LIMIT 1) AS revision
         FROM UNNEST($1::text[]) AS s(name)",
    )
    .bind(&streams)
    .fetch_all(&mut *conn)
    .await?;
    let head = match rows.first() {
        Some(row) => row.try_get::<i64, _>("head")? as Position,
        None => query_head(&mut *conn).await?,
    };
    let revisions = rows
        .iter()
        .map(|row| {
            let last: Option<i64> = row.try_get("revision")?;
            Ok((
                row.try_get::<String, _>("stream_name")?,
                CurrentRevision::from_last(last.map(|r| r as u64)),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(LogState { head, revisions })
}

/// The stored events that carry one of `ids`.
async fn read_events_by_id(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<RecordedEvent>, StoreError> {
    sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ANY($1::uuid[])"
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(decode_event)
    .collect()
}

/// Inserts the rows and tells listening processes of the new head.
async fn insert_rows(conn: &mut PgConnection, rows: &[InsertRow<'_>]) -> Result<(), StoreError> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    // A data-modifying WITH runs to completion whatever the outer query
    // reads, so the insert and the announcement cost one round trip.
    bind_columns(
        sqlx::query(
            "WITH inserted AS (
                 INSERT INTO events (position, event_id, stream_name, revision, category, event_type, data, metadata, recorded_at)
                 SELECT p, i, s, r, c, t, d::jsonb, m::jsonb, a
                 FROM UNNEST($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])
                      AS u(p, i, s, r, c, t, d, m, a))
             SELECT pg_notify($10, $11)",
        ),
        rows,
    )
    .bind(HEAD_CHANNEL)
    .bind(last.position.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes batches on a connection of its own, outside any pool (a pool
/// would test the connection before and after every batch).
///
/// A batch takes one round trip when the writer can plan it on what it
/// knows: the head it committed last and the revisions of the streams it
/// wrote, which hold as long as no other process has appended since; the
/// `append_if_head` function checks that under the append lock and writes
/// the batch, or writes nothing. Otherwise, or when the plan refuses an
/// append, the batch takes four: begin and lock, the log's state, insert,
/// commit.
struct PostgresWriter {
    connect: PgConnectOptions,
    session: tokio::sync::Mutex<Session>,
}

/// Streams whose revision the writer remembers.
const KNOWN_STREAMS: usize = 65_536;

struct Session {
    conn: Option<PgConnection>,
    memory: Memory,
}

/// What the writer knows of the log from its own commits.
struct Memory {
    /// The head this writer committed last, while nothing has failed.
    head: Option<Position>,
    revisions: lru::LruCache<String, CurrentRevision>,
}

impl Memory {
    fn forget(&mut self) {
        self.head = None;
        self.revisions.clear();
    }

    /// Remembers the log as a committed batch left it.
    fn remember(&mut self, learned: Learned) {
        for (stream, revision) in learned.revisions {
            self.revisions.put(stream, revision);
        }
        self.head = Some(learned.head);
    }

    /// The log's state as this writer left it, if it knows every stream the
    /// batch writes to (a stream it does not know may be new, when the
    /// append expects no stream: the unique revision catches it if not).
    fn known_state(&mut self, requests: &[&AppendRequest]) -> Option<LogState> {
        let head = self.head?;
        let mut revisions = std::collections::HashMap::with_capacity(requests.len());
        for request in requests {
            let stream = request.stream.as_str();
            let revision = match self.revisions.get(stream) {
                Some(revision) => *revision,
                None if request.expected == ExpectedRevision::NoStream => CurrentRevision::NoStream,
                None => return None,
            };
            revisions.entry(stream.to_owned()).or_insert(revision);
        }
        Some(LogState { head, revisions })
    }
}

impl PostgresWriter {
    async fn connect(connect: PgConnectOptions) -> Result<Self, StoreError> {
        let conn = PgConnection::connect_with(&connect).await?;
        Ok(Self {
            connect,
            session: tokio::sync::Mutex::new(Session {
                conn: Some(conn),
                memory: Memory {
                    head: None,
                    revisions: lru::LruCache::new(
                        std::num::NonZeroUsize::new(KNOWN_STREAMS)
                            .unwrap_or(std::num::NonZeroUsize::MIN),
                    ),
                },
            }),
        })
    }
}

#[async_trait]
impl BatchWriter for PostgresWriter {
    async fn write_batch(
        &self,
        requests: Arc<[AppendRequest]>,
        look_up_ids: bool,
    ) -> Result<Vec<Outcome>, StoreError> {
        let mut session = self.session.lock().await;
        let Session { conn, memory } = &mut *session;
        let conn = match conn {
            Some(conn) => conn,
            empty => empty.insert(PgConnection::connect_with(&self.connect).await?),
        };
        let requests: Vec<&AppendRequest> = requests.iter().collect();
        let recorded_at = now_micros();
        let known = if look_up_ids {
            None
        } else {
            memory.known_state(&requests)
        };
        let written = match known {
            Some(state) => {
                let plan = plan_batch(&requests, &state, &[], recorded_at);
                if plan.outcomes.iter().all(Result::is_ok) {
                    match append_if_head(conn, state.head, &plan).await {
                        Ok(true) => {
                            memory.remember(Learned::from_plan(&state, &plan));
                            return Ok(plan.outcomes);
                        }
                        Ok(false) => {
                            memory.forget();
                            write_batch_on(conn, &requests, look_up_ids, recorded_at).await
                        }
                        Err(error) => Err(error),
                    }
                } else {
                    // A refusal planned on remembered state is confirmed on
                    // the log's own.
                    write_batch_on(conn, &requests, look_up_ids, recorded_at).await
                }
            }
            None => write_batch_on(conn, &requests, look_up_ids, recorded_at).await,
        };
        match written {
            Ok((outcomes, learned)) => {
                memory.remember(learned);
                Ok(outcomes)
            }
            Err(error) => {
                // Whatever broke the batch, the next one starts on a fresh
                // connection and reads the log's state.
                memory.forget();
                if let Some(conn) = session.conn.take() {
                    let _ = conn.close().await;
                }
                Err(error)
            }
        }
    }
}

/// What a committed batch tells the writer of the log: its head, and the
/// revisions of the streams it read or wrote.
struct Learned {
    head: Position,
    revisions: Vec<(String, CurrentRevision)>,
}

impl Learned {
    fn from_plan(state: &LogState, plan: &BatchPlan<'_>) -> Self {
        let mut revisions: Vec<(String, CurrentRevision)> = state
            .revisions
            .iter()
            .map(|(stream, revision)| (stream.clone(), *revision))
            .collect();
        // Later rows of a stream come later, so they are remembered last.
        revisions.extend(plan.rows.iter().map(|row| {
            (
                row.stream.to_owned(),
                CurrentRevision::Revision(row.revision),
            )
        }));
        Self {
            head: plan
                .rows
                .iter()
                .map(|row| row.position)
                .fold(state.head, Position::max),
            revisions,
        }
    }
}

/// Writes a batch planned on the head this writer committed last, if the
/// log is still there; see [`PostgresWriter`].
async fn append_if_head(
    conn: &mut PgConnection,
    head: Position,
    plan: &BatchPlan<'_>,
) -> Result<bool, StoreError> {
    let rows: Vec<InsertRow> = plan
        .rows
        .iter()
        .map(|row| InsertRow::planned(row, plan.recorded_at))
        .collect();
    let written = bind_columns(
        sqlx::query("SELECT append_if_head($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
            .bind(APPEND_LOCK)
            .bind(to_i64(head))
            .bind(HEAD_CHANNEL),
        &rows,
    )
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    Ok(written)
}

/// Binds the rows as one array per column, in the order the `UNNEST`s of
/// the inserts read them.
fn bind_columns<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    rows: &'q [InsertRow<'q>],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(rows.iter().map(|r| to_i64(r.position)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.stream).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| to_i64(r.revision)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.category).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.event_type).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.data).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.metadata).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.recorded_at).collect::<Vec<_>>())
}

/// Writes a batch in four round trips, planned on the log's state read
/// under the append lock.
async fn write_batch_on(
    conn: &mut PgConnection,
    requests: &[&AppendRequest],
    look_up_ids: bool,
    recorded_at: DateTime<Utc>,
) -> Result<(Vec<Outcome>, Learned), StoreError> {
    let mut tx = conn.begin_with(BEGIN_APPEND.as_str()).await?;
    let streams: Vec<&str> = requests.iter().map(|r| r.stream.as_str()).collect();
    let state = read_log_state(&mut tx, streams).await?;

    let known;
    let plan = match plan_batch(requests, &state, &[], recorded_at) {
        plan if !look_up_ids && !plan.needs_known_ids() => plan,
        _ => {
            let ids: Vec<Uuid> = requests.iter().flat_map(|r| r.event_ids()).collect();
            known = read_events_by_id(&mut tx, &ids).await?;
            plan_batch(requests, &state, &known, recorded_at)
        }
    };
    let rows: Vec<InsertRow> = plan
        .rows
        .iter()
        .map(|row| InsertRow::planned(row, plan.recorded_at))
        .collect();
    insert_rows(&mut tx, &rows).await?;
    tx.commit().await?;
    let learned = Learned::from_plan(&state, &plan);
    Ok((plan.outcomes, learned))
}
