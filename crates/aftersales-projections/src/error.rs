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
    #[error("no event at position {position} is parked for {projection}")]
    NotParked {
        projection: String,
        position: Position,
    },
    #[error("{0}")]
    Refused(String),
    #[error("the read models' database {0} is the log's own file: give --read-db another")]
    ReadDbIsTheLog(String),
    #[error("interrupted")]
    Interrupted,
    #[error("a read model's task panicked: {0}")]
    Panicked(String),
    #[error("the workbook cannot be written: {0}")]
    Workbook(String),
    #[error("{rows} rows are more than a worksheet holds; ask for a shorter period")]
    TooManyRows { rows: usize },
}

impl ProjectionError {
    /// The position of the event at fault, when the error is the event's
    /// (it does not decode, or does not fit what the read model holds)
    /// rather than the database's: such an event is parked.
    pub fn failed_event(&self) -> Option<Position> {
        match self {
            Self::Undecodable { position, .. } | Self::Inconsistent { position, .. } => {
                Some(*position)
            }
            _ => None,
        }
    }

    /// Lays a failure while applying the event at `position` at that
    /// event's door: whatever the read model found wrong (an earlier event
    /// of its stream that does not decode, a document that does not fit),
    /// it is this event that cannot be applied. Database errors stay as
    /// they are, to be retried.
    pub(crate) fn at_event(self, position: Position) -> Self {
        match self {
            Self::Undecodable { position: at, .. } | Self::Inconsistent { position: at, .. }
                if at == position =>
            {
                self
            }
            Self::Undecodable { .. } | Self::Inconsistent { .. } | Self::CorruptRow(_) => {
                Self::Inconsistent {
                    position,
                    reason: self.to_string(),
                }
            }
            other => other,
        }
    }
}
