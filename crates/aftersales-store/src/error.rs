//! The store's errors: what the caller did wrong, kept apart from what the
//! database did.

use uuid::Uuid;

use crate::types::{CurrentRevision, ExpectedRevision};

/// Input the store refuses before touching the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("the {0} is empty")]
    EmptyName(&'static str),
    #[error("the {what} is {len} bytes long; at most {max} are allowed")]
    NameTooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("the {0} contains a control character")]
    ControlCharacter(&'static str),
    #[error("stream names starting with '$' are reserved: {0}")]
    ReservedStreamName(String),
    #[error("a category must be non-empty and contain no '-': {0:?}")]
    InvalidCategory(String),
    #[error("unknown expected revision {0:?}: use any, no-stream, exists or a revision number")]
    ExpectedRevision(String),
    #[error("an append needs at least one event")]
    EmptyAppend,
    #[error("an append of {count} events exceeds the limit of {max}")]
    TooManyEvents { count: usize, max: usize },
    #[error("an append of {bytes} bytes exceeds the limit of {max} bytes")]
    AppendTooLarge { bytes: usize, max: usize },
    #[error("event id {0} appears twice in one append")]
    DuplicateEventId(Uuid),
    #[error("event metadata must be a JSON object")]
    MetadataNotObject,
    #[error("a read limit of {limit} exceeds the maximum of {max}")]
    ReadLimit { limit: usize, max: usize },
    #[error("a subscriber name must be 1 to 256 printable bytes")]
    SubscriberName,
    #[error("cannot import the event at position {position}: {reason}")]
    Import { position: u64, reason: String },
}

/// Everything an operation on the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid input: {0}")]
    InvalidInput(#[from] InvalidInput),

    /// Optimistic concurrency: the stream is not where the writer thought.
    /// Nothing was written.
    #[error("wrong expected revision on stream {stream}: expected {expected}, actual {actual}")]
    WrongExpectedRevision {
        stream: String,
        expected: ExpectedRevision,
        actual: CurrentRevision,
    },

    /// Some of the event ids were appended before, but not as this exact
    /// append: elsewhere, in another order, or with other content.
    #[error("event {event_id} was already appended, but not as part of this append: {reason}")]
    IdempotencyConflict { event_id: Uuid, reason: String },

    /// The database cannot be reached or timed out; the append may or may
    /// not have been written and can be retried with the same event ids.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),

    #[error("the database has no space left: {0}")]
    StorageFull(String),

    #[error("the database is read-only: {0}")]
    ReadOnly(String),

    #[error("refusing to run with unsafe durability settings: {0}")]
    UnsafeDurability(String),

    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),

    /// Opened to read only, and there is no store at the path: nothing
    /// was created.
    #[error("there is no store at {0}: `aftersales migrate`, `serve` or `demo seed` create one")]
    NoStore(String),

    #[error("migrating the schema failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    #[error("a stored event at position {position} cannot be read: {reason}")]
    Corrupt { position: u64, reason: String },

    #[error("the store is closed")]
    Closed,

    #[error("database error: {0}")]
    Database(sqlx::Error),

    /// An error of the SQLite writer's own connection.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::StorageFull(_))
    }

    /// The error when it concerns the database rather than one append, so
    /// that every append of a failed batch can be told the same.
    pub(crate) fn shared(&self) -> Option<&Self> {
        matches!(
            self,
            Self::Unavailable(_) | Self::StorageFull(_) | Self::ReadOnly(_) | Self::Closed
        )
        .then_some(self)
    }

    /// A copy of a [`shared`](Self::shared) error.
    pub(crate) fn clone_shared(&self) -> Self {
        match self {
            Self::StorageFull(m) => Self::StorageFull(m.clone()),
            Self::ReadOnly(m) => Self::ReadOnly(m.clone()),
            Self::Closed => Self::Closed,
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::Error as E;
        let kind = match &error {
            E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Tls(_) => {
                Some(Kind::Unavailable)
            }
            E::Database(db)
                if db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some() =>
            {
                postgres_kind(db.code().unwrap_or_default().as_ref())
            }
            E::Database(db) => db
                .code()
                .and_then(|code| code.parse().ok())
                .and_then(sqlite_kind),
            _ => None,
        };
        let message = match &error {
            E::Database(db) => db.message().to_owned(),
            other => other.to_string(),
        };
        match kind {
            Some(Kind::Unavailable) => Self::Unavailable(message),
            Some(Kind::Full) => Self::StorageFull(message),
            Some(Kind::ReadOnly) => Self::ReadOnly(message),
            None => Self::Database(error),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        let kind = match &error {
            rusqlite::Error::SqliteFailure(failure, _) => sqlite_kind(failure.extended_code.into()),
            _ => None,
        };
        match kind {
            Some(Kind::Unavailable) => Self::Unavailable(error.to_string()),
            Some(Kind::Full) => Self::StorageFull(error.to_string()),
            Some(Kind::ReadOnly) => Self::ReadOnly(error.to_string()),
            None => Self::Sqlite(error),
        }
    }
}

enum Kind {
    Unavailable,
    Full,
    ReadOnly,
}

/// SQLite result codes; extended codes keep the primary code in the low byte.
fn sqlite_kind(code: i64) -> Option<Kind> {
    match code & 0xff {
        13 => Some(Kind::Full),
        8 => Some(Kind::ReadOnly),
        // BUSY, LOCKED, IOERR, CANTOPEN
        5 | 6 | 10 | 14 => Some(Kind::Unavailable),
        _ => None,
    }
}

/// PostgreSQL SQLSTATE codes.
fn postgres_kind(code: &str) -> Option<Kind> {
    match code {
        "53100" => Some(Kind::Full),
        "25006" => Some(Kind::ReadOnly),
        // connection exceptions, operator intervention (shutdown), too many connections
        c if c.starts_with("08") || c.starts_with("57P") || c == "53300" => Some(Kind::Unavailable),
        _ => None,
    }
}
