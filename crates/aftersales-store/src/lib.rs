//! The event store: an append-only log of streams with one global order,
//! following EventStoreDB/KurrentDB semantics, on SQLite (embedded) or
//! PostgreSQL (several service processes on one database).
//!
//! The store knows no domain types: events are typed by name and carry JSON
//! data and a JSON metadata object. It owns the `events` and
//! `subscription_checkpoints` tables and their migrations.
//!
//! - [`EventStore`] is the contract both backends keep; [`open`] picks one
//!   from a URL.
//! - Appends are atomic per call, checked against an [`ExpectedRevision`],
//!   idempotent by event id, and group-committed: concurrent appends share one
//!   transaction and one disk sync.
//! - [`subscribe`] replays `$all` from a checkpoint and then follows it live.
//! - [`EventStore::import`] copies a log from another store event for event,
//!   to move it between backends.
//! - [`BesidePool`] connects other crates to the log's database, for the
//!   records they keep beside the log with its durable commits.

mod beside;
mod error;
mod import;
mod open;
mod plan;
mod postgres;
mod sql;
mod sqlite;
mod sqlite_checkpoint;
mod sqlite_writer;
mod store;
mod subscription;
mod types;
mod writer;

pub use beside::BesidePool;
pub use error::{InvalidInput, StoreError};
pub use import::MAX_IMPORT_BATCH;
pub use open::{open, redact, sqlite_path, DEFAULT_DATABASE_URL};
pub use postgres::PostgresStore;
pub use sqlite::{sqlite_pool_options, SqliteStore};
pub use store::{Backend, EventStore, StoreOptions, MAX_READ_LIMIT};
pub use subscription::{subscribe, SubscribeFrom, Subscription, SubscriptionMessage};
pub use types::{
    category_of, check_event_type, same_json, AllFilter, AllFrom, AllPage, AllQuery, AppendResult,
    CurrentRevision, Direction, EventMetadata, ExpectedRevision, NewEvent, Position, RecordedEvent,
    Revision, StreamFrom, StreamName, MAX_NAME_BYTES,
};
