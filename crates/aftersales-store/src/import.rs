//! Copying a log recorded elsewhere into this one, event for event: the way
//! a log moves between SQLite and PostgreSQL (`aftersales events import`).
//!
//! An imported event keeps everything the source recorded: id, stream,
//! revision, global position, type, data, metadata and time. So the target
//! must continue the source exactly: each event is the next in `$all` and in
//! its stream. Events already here under the same id and position are
//! skipped, so an interrupted import is finished by running it again.

use std::collections::HashMap;

use crate::error::{InvalidInput, StoreError};
use crate::types::{check_event_type, CurrentRevision, Position, RecordedEvent, StreamName};

/// The most events one import call takes; callers send longer logs in
/// chunks, each its own transaction.
pub const MAX_IMPORT_BATCH: usize = 1_000;

/// Which of `events` to insert, given the log's head, the current revisions
/// of the streams they name, and the stored events that carry their ids.
pub(crate) fn plan_import<'a>(
    events: &'a [RecordedEvent],
    head: Position,
    revisions: &HashMap<String, CurrentRevision>,
    known: &[RecordedEvent],
) -> Result<Vec<&'a RecordedEvent>, StoreError> {
    if events.len() > MAX_IMPORT_BATCH {
        return Err(InvalidInput::TooManyEvents {
            count: events.len(),
            max: MAX_IMPORT_BATCH,
        }
        .into());
    }
    let known: HashMap<_, _> = known.iter().map(|e| (e.id, e)).collect();
    let mut revisions = revisions.clone();
    let mut next_position = head + 1;
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let refuse = |reason: String| InvalidInput::Import {
            position: event.position,
            reason,
        };
        if event.position <= head {
            match known.get(&event.id) {
                Some(stored) if *stored == event => continue,
                Some(_) => {
                    return Err(refuse(format!(
                        "event {} is stored here with other content or at another place",
                        event.id
                    ))
                    .into())
                }
                None => {
                    return Err(refuse(format!(
                        "this log already has an event at position {}; import into an empty \
                         store or continue from position {}",
                        event.position,
                        head + 1
                    ))
                    .into())
                }
            }
        }
        if event.position != next_position {
            return Err(refuse(format!(
                "positions must follow on without gaps: expected {next_position}"
            ))
            .into());
        }
        if known.contains_key(&event.id) {
            return Err(refuse(format!("event id {} is already stored", event.id)).into());
        }
        StreamName::new(event.stream.as_str())?;
        check_event_type(&event.event_type)?;
        if !event.metadata.get().trim_start().starts_with('{') {
            return Err(InvalidInput::MetadataNotObject.into());
        }
        let current = revisions
            .get(&event.stream)
            .copied()
            .unwrap_or(CurrentRevision::NoStream);
        if event.revision != current.next() {
            return Err(refuse(format!(
                "stream {} is at {current}; its next revision is {}, not {}",
                event.stream,
                current.next(),
                event.revision
            ))
            .into());
        }
        revisions.insert(
            event.stream.clone(),
            CurrentRevision::Revision(event.revision),
        );
        next_position += 1;
        rows.push(event);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::value::RawValue;
    use uuid::Uuid;

    fn event(stream: &str, revision: u64, position: u64) -> RecordedEvent {
        RecordedEvent {
            stream: stream.to_owned(),
            revision,
            position,
            id: Uuid::now_v7(),
            event_type: "CallLogged".to_owned(),
            data: RawValue::from_string("{}".to_owned()).unwrap(),
            metadata: RawValue::from_string("{}".to_owned()).unwrap(),
            recorded_at: Utc::now(),
        }
    }

    #[test]
    fn an_export_imports_whole_into_an_empty_log() {
        let events = vec![
            event("case-1", 0, 1),
            event("case-2", 0, 2),
            event("case-1", 1, 3),
        ];
        let rows = plan_import(&events, 0, &HashMap::new(), &[]).unwrap();
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn a_rerun_skips_what_is_already_there_and_goes_on() {
        let events = vec![event("case-1", 0, 1), event("case-1", 1, 2)];
        let revisions = HashMap::from([("case-1".to_owned(), CurrentRevision::Revision(0))]);
        let rows = plan_import(&events, 1, &revisions, &events[..1]).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].position, 2);
    }

    #[test]
    fn gaps_foreign_logs_and_wrong_revisions_are_refused() {
        let gap = vec![event("case-1", 0, 2)];
        assert!(plan_import(&gap, 0, &HashMap::new(), &[]).is_err());

        let taken = vec![event("case-1", 0, 1)];
        assert!(plan_import(&taken, 1, &HashMap::new(), &[]).is_err());

        let revision = vec![event("case-1", 1, 1)];
        assert!(plan_import(&revision, 0, &HashMap::new(), &[]).is_err());
    }
}
