//! What can go wrong while projecting or reading a read model.

use aftersales_store::{Position, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("event at position {position} ({event_type}) cannot be decoded: {reason}")]
    Undecodable {
        position: Position,
        event_type: String,
        reason: String,
    },
    #[error("event at position {position} cannot be applied: {reason}")]
    Inconsistent { position: Position, reason: String },
    #[error("unknown projection {0:?}")]
    UnknownProjection(String),
    #[error("unknown report {0:?}; `aftersales reports list` names them")]
    UnknownReport(String),
    #[error("position {position} is beyond the head of the log ({head})")]
    BeyondHead { position: Position, head: Position },
    #[error("the cursor {0:?} was not given by a previous page")]
    InvalidCursor(String),
    #[error("projection {0} is run by another process")]
    Busy(String),
    #[error("a stored read-model row cannot be read: {0}")]
    CorruptRow(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("read-model database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("interrupted")]
    Interrupted,
}
