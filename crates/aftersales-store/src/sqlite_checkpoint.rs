//! Checkpoints of the log's WAL on a thread of their own.
//!
//! A commit that crosses SQLite's automatic checkpoint threshold copies the
//! WAL into the database file and syncs it before it returns, and every
//! command waiting behind it waits too; the log's writer turns the
//! automatic checkpoint off (`wal_autocheckpoint = 0`) and leaves it to
//! this thread.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::StoreError;

/// How often the committed pages are copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// A WAL longer than this (in pages: 64 MiB of 4 KiB pages) is restarted
/// from its beginning. A passive checkpoint copies pages but the WAL only
/// starts over when no reader is left in it, which under steady load is
/// never: the log's WAL grew past a gigabyte in minutes, and a commit that
/// extends the file syncs its new size as well.
const RESTART_AFTER_FRAMES: i64 = 16_384;

/// How long a restart may hold up writers while it waits for the readers
/// still in the WAL; past it, it gives up until the next pass.
const RESTART_WAIT: Duration = Duration::from_millis(20);

/// The log's checkpointing thread; it ends when this is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the WAL of the database `conn` is open on.
    pub(crate) fn start(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(RESTART_WAIT)?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpointer".to_owned())
            .spawn(move || checkpoint(&conn, &stopped))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the checkpointer thread: {e}"))
            })?;
        Ok(Self { _stop: stop })
    }
}

/// Every [`CHECKPOINT_EVERY`] until stopped: a passive checkpoint, which
/// never waits for a writer or a reader and copies what no reader still
/// needs; once the WAL is longer than [`RESTART_AFTER_FRAMES`], a
/// restarting one, which takes the write lock, waits up to
/// [`RESTART_WAIT`] for the readers still in the WAL, and has the next
/// commit write from the WAL's start again.
fn checkpoint(conn: &Connection, stop: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let frames = wal_checkpoint(conn, "PASSIVE").and_then(|frames| {
            if frames > RESTART_AFTER_FRAMES {
                wal_checkpoint(conn, "RESTART")
            } else {
                Ok(frames)
            }
        });
        if let Err(error) = frames {
            tracing::warn!(%error, "checkpointing the log's WAL failed; retrying");
        }
    }
}

/// Runs a checkpoint of the given mode; returns the WAL's length in pages.
fn wal_checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        row.get(1)
    })
}
