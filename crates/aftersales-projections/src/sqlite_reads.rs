//! The hottest reads of the read models on SQLite (a case with its
//! timeline, a page of a list), run on the caller's own thread.
//!
//! Through the async driver every statement is a hand-off to the driver's
//! thread and back: two thread wake-ups, which on a small machine cost more
//! than the read itself. A reader of a WAL database never waits for the
//! writer (the runner's commits and passive checkpoints leave readers be),
//! and these reads take tens of microseconds from pages in memory, so
//! they run where the request is, as a short piece of synchronous work.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aftersales_store::StoreError;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::error::ProjectionError;

/// Connections kept open between reads: one per thread that reads at once
/// is enough on a small machine; more are opened when needed and closed
/// after.
const KEPT: usize = 4;

/// Longest a read waits for a lock; only opening a database whose log is
/// being recovered takes one.
const BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// Read-only connections to the read models' SQLite file.
#[derive(Debug)]
pub(crate) struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// A value bound to a statement's parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Param::Text(text) => text.to_sql(),
            Param::Int(int) => int.to_sql(),
        }
    }
}

impl SqliteReaders {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `sql` (with `$n` parameters, as the async driver takes them)
    /// and maps each row it answers.
    pub(crate) fn query<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        mut row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, ProjectionError> {
        self.with(|connection| {
            // `?n` is the n-th parameter wherever it stands; a `$n` is
            // numbered in the order the statement names it.
            let mut statement = connection.prepare_cached(&sql.replace('$', "?"))?;
            let rows = statement.query_map(rusqlite::params_from_iter(params), &mut row)?;
            rows.collect()
        })
    }

    /// A document of `table`, and the entries of `rows_of` keyed from
    /// `from` to `to` (both included) joined into one JSON array in key
    /// order: two statements in one read transaction, so the two agree.
    /// The entries come in the order of the table's key, where an ordered
    /// aggregate would sort them again.
    pub(crate) fn doc_with_entries(
        &self,
        table: &str,
        (collection, key): (&str, &str),
        rows_of: &str,
        (from, to): (&str, &str),
    ) -> Result<Option<(String, String)>, ProjectionError> {
        self.with(|connection| {
            let read = connection.unchecked_transaction()?;
            let doc: Option<String> = read
                .prepare_cached(&format!(
                    "SELECT doc FROM {table} WHERE collection = ?1 AND key = ?2"
                ))?
                .query_row([collection, key], |row| row.get(0))
                .optional()?;
            let Some(doc) = doc else {
                return Ok(None);
            };
            let mut entries = read.prepare_cached(&format!(
                "SELECT doc FROM {table}_entries \
                 WHERE collection = ?1 AND key BETWEEN ?2 AND ?3 ORDER BY key"
            ))?;
            let mut rows = entries.query([rows_of, from, to])?;
            let mut joined = String::from("[");
            while let Some(row) = rows.next()? {
                if joined.len() > 1 {
                    joined.push(',');
                }
                joined.push_str(row.get_ref(0)?.as_str()?);
            }
            joined.push(']');
            Ok(Some((doc, joined)))
        })
    }

    /// Runs `read` on a connection of the pool.
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, ProjectionError> {
        let connection = self.take()?;
        let result = read(&connection);
        self.give_back(connection);
        result.map_err(|error| StoreError::from(error).into())
    }

    fn take(&self) -> Result<Connection, ProjectionError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => self.open().map_err(|error| StoreError::from(error).into()),
        }
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < KEPT {
            idle.push(connection);
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        Ok(connection)
    }
}
