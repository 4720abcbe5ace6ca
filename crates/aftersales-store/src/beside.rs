//! A pool on the log's own database for the tables other crates keep
//! beside the log (API keys, idempotency records, webhook secrets and
//! deliveries): records that cannot be rebuilt from the log, and so share
//! its database and its durable commits rather than the read models'.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};

use crate::{sqlite_path, sqlite_pool_options};

/// Connections to the log's database, on whichever backend it is.
#[derive(Debug, Clone)]
pub enum BesidePool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl BesidePool {
    /// Connects to the database of the log at `log_url`, which the store
    /// has opened (and migrated) before. `unsafe_fast` drops SQLite's disk
    /// syncs, as the store's own option does.
    pub async fn connect(
        log_url: &str,
        unsafe_fast: bool,
        max_connections: u32,
    ) -> Result<Self, sqlx::Error> {
        Ok(if let Some(path) = sqlite_path(log_url) {
            let options = SqliteConnectOptions::new()
                .filename(path)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(if unsafe_fast {
                    SqliteSynchronous::Off
                } else {
                    SqliteSynchronous::Full
                })
                .busy_timeout(Duration::from_secs(30));
            Self::Sqlite(
                sqlite_pool_options()
                    .max_connections(max_connections)
                    .connect_with(options)
                    .await?,
            )
        } else {
            Self::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(log_url)
                    .await?,
            )
        })
    }
}

/// Runs `$body` with `$pool` bound to the backend's own pool, so that one
/// query, written once, is compiled for both drivers.
#[macro_export]
macro_rules! on_beside_pool {
    ($beside:expr, $pool:ident => $body:expr) => {
        match $beside {
            $crate::BesidePool::Sqlite($pool) => $body,
            $crate::BesidePool::Postgres($pool) => $body,
        }
    };
}
