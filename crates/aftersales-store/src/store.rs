//! The contract every backend keeps, and the options it is opened with.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::error::{InvalidInput, StoreError};
use crate::types::{
    AllPage, AllQuery, AppendResult, CurrentRevision, Direction, ExpectedRevision, NewEvent,
    Position, RecordedEvent, StreamFrom, StreamName,
};

/// Largest page a single read returns.
pub const MAX_READ_LIMIT: usize = 10_000;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// How a store is opened. The defaults suit a service in production.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Create a SQLite file, and its folders, that does not exist yet. A
    /// command that only reads opens without, and a missing file is
    /// [`StoreError::NoStore`](crate::StoreError::NoStore) instead of a
    /// new empty store.
    pub create: bool,
    /// Apply pending schema migrations when opening.
    pub migrate: bool,
    /// Skip the durability checks (WAL + `synchronous=FULL` on SQLite,
    /// `fsync` and `synchronous_commit` on PostgreSQL). For throw-away data only.
    pub unsafe_fast: bool,
    /// Most events one append may carry.
    pub max_events_per_append: usize,
    /// Most bytes of JSON (data + metadata) one append may carry.
    pub max_append_bytes: usize,
    /// Most appends the writer commits together in one transaction.
    pub max_appends_per_commit: usize,
    /// Connections for reads.
    pub read_connections: u32,
    /// How long to wait for a connection, a lock or a busy database.
    pub timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            create: true,
            migrate: true,
            unsafe_fast: false,
            max_events_per_append: 10_000,
            max_append_bytes: 16 * 1024 * 1024,
            max_appends_per_commit: 256,
            read_connections: 8,
            timeout: Duration::from_secs(5),
        }
    }
}

/// An append-only log of streams with one global order.
///
/// The semantics follow EventStoreDB/KurrentDB: appends carry an expected
/// revision and are atomic; event ids make them idempotent; every event gets
/// a revision in its stream and a position in `$all`, and positions become
/// visible in order, so a reader paging `$all` by "greater than my
/// checkpoint" never skips an event that commits later.
#[async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug + 'static {
    fn backend(&self) -> Backend;

    /// Appends `events` to `stream` atomically if the stream is at `expected`.
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError>;

    /// Reads up to `limit` events of one stream from `from` (inclusive).
    async fn read_stream(
        &self,
        stream: &StreamName,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The stream's last revision, or `NoStream`.
    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, StoreError>;

    /// Reads a page of `$all`.
    async fn read_all(&self, query: &AllQuery) -> Result<AllPage, StoreError>;

    /// The position of the last committed event (0 when the log is empty).
    async fn head(&self) -> Result<Position, StoreError>;

    /// Tells of newly committed positions: at once for appends made through
    /// this store (and, on PostgreSQL, by other processes through
    /// LISTEN/NOTIFY). Subscribers still re-read on a short timer in case a
    /// notification was missed.
    fn head_watch(&self) -> watch::Receiver<Position>;

    /// The checkpoint a named subscriber saved last.
    async fn load_checkpoint(&self, subscriber: &str) -> Result<Option<Position>, StoreError>;

    /// Saves a named subscriber's checkpoint.
    async fn save_checkpoint(&self, subscriber: &str, position: Position)
        -> Result<(), StoreError>;

    /// Copies events recorded by another store into this log unchanged, in
    /// one transaction (at most [`crate::MAX_IMPORT_BATCH`] events). They
    /// must continue this log exactly; events already here under the same
    /// id and position are skipped. Returns the head afterwards.
    async fn import(&self, events: &[RecordedEvent]) -> Result<Position, StoreError>;
}

pub(crate) fn check_read_limit(limit: usize) -> Result<(), InvalidInput> {
    if limit > MAX_READ_LIMIT {
        return Err(InvalidInput::ReadLimit {
            limit,
            max: MAX_READ_LIMIT,
        });
    }
    Ok(())
}

pub(crate) fn check_subscriber(name: &str) -> Result<(), InvalidInput> {
    if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
        return Err(InvalidInput::SubscriberName);
    }
    Ok(())
}
