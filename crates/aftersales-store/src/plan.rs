//! Deciding what a batch of appends writes: expected revisions, idempotent
//! retries, revisions and positions. Pure, so both backends share it and it
//! can be tested without a database.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::error::{InvalidInput, StoreError};
use crate::store::StoreOptions;
use crate::types::{
    check_event_type, same_json, AppendResult, CurrentRevision, ExpectedRevision, NewEvent,
    Position, RecordedEvent, Revision, StreamName,
};

/// One append, checked against the limits.
#[derive(Debug, Clone)]
pub(crate) struct AppendRequest {
    pub stream: StreamName,
    pub expected: ExpectedRevision,
    pub events: Vec<NewEvent>,
}

impl AppendRequest {
    /// Checks an append against the limits before it reaches the writer.
    pub fn prepare(
        stream: &StreamName,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
        options: &StoreOptions,
    ) -> Result<Self, InvalidInput> {
        if events.is_empty() {
            return Err(InvalidInput::EmptyAppend);
        }
        if events.len() > options.max_events_per_append {
            return Err(InvalidInput::TooManyEvents {
                count: events.len(),
                max: options.max_events_per_append,
            });
        }
        let mut seen = HashSet::with_capacity(events.len());
        let mut bytes = 0usize;
        for event in &events {
            check_event_type(&event.event_type)?;
            if !seen.insert(event.id) {
                return Err(InvalidInput::DuplicateEventId(event.id));
            }
            // Valid JSON that starts with a brace is an object.
            if !event.metadata.get().trim_start().starts_with('{') {
                return Err(InvalidInput::MetadataNotObject);
            }
            bytes += event.data.get().len() + event.metadata.get().len() + event.event_type.len();
            if bytes > options.max_append_bytes {
                return Err(InvalidInput::AppendTooLarge {
                    bytes,
                    max: options.max_append_bytes,
                });
            }
        }
        Ok(Self {
            stream: stream.clone(),
            expected,
            events,
        })
    }

    pub fn event_ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.events.iter().map(|e| e.id)
    }
}

/// Now, to the microsecond both databases keep, so that what an append
/// returns equals what a later read returns.
pub(crate) fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// A row the backend inserts.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    pub position: Position,
    pub stream: &'a str,
    pub category: &'a str,
    pub revision: Revision,
    pub event: &'a NewEvent,
}

/// What the database said before the batch was planned: read inside the
/// batch's transaction, after the append lock was taken.
#[derive(Debug, Default)]
pub(crate) struct LogState {
    pub head: Position,
    pub revisions: HashMap<String, CurrentRevision>,
}

/// The plan of a batch: rows to insert and one outcome per request.
#[derive(Debug)]
pub(crate) struct BatchPlan<'a> {
    pub rows: Vec<Row<'a>>,
    pub outcomes: Vec<Result<AppendResult, StoreError>>,
    pub recorded_at: DateTime<Utc>,
}

impl BatchPlan<'_> {
    /// A request failed on its expected revision. It may be the retry of an
    /// append that was written but not acknowledged, which only the stored
    /// event ids can tell: plan again with them.
    pub fn needs_known_ids(&self) -> bool {
        self.outcomes
            .iter()
            .any(|o| matches!(o, Err(StoreError::WrongExpectedRevision { .. })))
    }
}

/// An event whose id is taken, stored or planned earlier in the batch.
#[derive(Debug, Clone, Copy)]
struct Known<'a> {
    stream: &'a str,
    revision: Revision,
    position: Position,
    event_type: &'a str,
    data: &'a RawValue,
    metadata: &'a RawValue,
}

/// Plans a batch of appends in order; a later append sees the earlier ones.
///
/// `known` holds the stored events that carry one of the batch's ids. Looking
/// them up costs a query, so the writer first plans without them and looks
/// them up only when the plan asks for it ([`BatchPlan::needs_known_ids`]) or
/// the insert hit an id already stored.
pub(crate) fn plan_batch<'a>(
    requests: &[&'a AppendRequest],
    state: &LogState,
    known: &'a [RecordedEvent],
    recorded_at: DateTime<Utc>,
) -> BatchPlan<'a> {
    let mut head = state.head;
    let mut revisions = state.revisions.clone();
    let mut known: HashMap<Uuid, Known<'a>> = known
        .iter()
        .map(|e| {
            let known = Known {
                stream: &e.stream,
                revision: e.revision,
                position: e.position,
                event_type: &e.event_type,
                data: &e.data,
                metadata: &e.metadata,
            };
            (e.id, known)
        })
        .collect();
    let mut rows = Vec::new();
    let mut outcomes = Vec::with_capacity(requests.len());
    for request in requests {
        let current = revisions
            .get(request.stream.as_str())
            .copied()
            .unwrap_or(CurrentRevision::NoStream);
        if let Some(outcome) = replayed_append(request, current, &known) {
            outcomes.push(outcome);
            continue;
        }
        if !request.expected.accepts(current) {
            outcomes.push(Err(StoreError::WrongExpectedRevision {
                stream: request.stream.to_string(),
                expected: request.expected,
                actual: current,
            }));
            continue;
        }
        let mut revision = current.next();
        for event in &request.events {
            head += 1;
            rows.push(Row {
                position: head,
                stream: request.stream.as_str(),
                category: request.stream.category(),
                revision,
                event,
            });
            known.insert(
                event.id,
                Known {
                    stream: request.stream.as_str(),
                    revision,
                    position: head,
                    event_type: &event.event_type,
                    data: &event.data,
                    metadata: &event.metadata,
                },
            );
            revision += 1;
        }
        let last = revision - 1;
        revisions.insert(request.stream.to_string(), CurrentRevision::Revision(last));
        outcomes.push(Ok(AppendResult {
            next_expected_revision: last,
            position: head,
        }));
    }
    BatchPlan {
        rows,
        outcomes,
        recorded_at,
    }
}

/// If the request's event ids are already taken, decides whether this is a
/// retry of that very append (acknowledged again, nothing written) or a
/// conflicting reuse of the ids. `None` when none of the ids is known.
fn replayed_append(
    request: &AppendRequest,
    current: CurrentRevision,
    known: &HashMap<Uuid, Known<'_>>,
) -> Option<Result<AppendResult, StoreError>> {
    let (first_known_id, first_known) = request
        .events
        .iter()
        .find_map(|e| known.get(&e.id).map(|k| (e.id, k)))?;
    let conflict = |event_id: Uuid, reason: String| {
        Some(Err(StoreError::IdempotencyConflict { event_id, reason }))
    };
    let first = &request.events[0];
    let Some(stored_first) = known.get(&first.id) else {
        return conflict(
            first_known_id,
            format!(
                "it is at revision {} of {}, but this append does not start with it",
                first_known.revision, first_known.stream
            ),
        );
    };
    let start = stored_first.revision;
    let mut last = stored_first;
    for (offset, event) in request.events.iter().enumerate() {
        let id = event.id;
        let Some(stored) = known.get(&id) else {
            return conflict(
                first_known_id,
                format!("event {id} of this append was never written with the others"),
            );
        };
        if stored.stream != request.stream.as_str() {
            return conflict(id, format!("it belongs to stream {}", stored.stream));
        }
        if stored.revision != start + offset as u64 {
            return conflict(
                id,
                format!(
                    "it is at revision {}, out of this append's order",
                    stored.revision
                ),
            );
        }
        if stored.event_type != event.event_type
            || !same_json(stored.data, &event.data)
            || !same_json(stored.metadata, &event.metadata)
        {
            return conflict(id, "it was written with other content".to_owned());
        }
        last = stored;
    }
    let expected_fits = match request.expected {
        ExpectedRevision::Any => true,
        ExpectedRevision::NoStream => start == 0,
        ExpectedRevision::StreamExists => start > 0,
        ExpectedRevision::Exact(n) => start == n + 1,
    };
    if !expected_fits {
        return conflict(
            first.id,
            format!(
                "it was appended at revision {start} of {}, not after expected revision {} (the stream is now at {current})",
                request.stream, request.expected
            ),
        );
    }
    Some(Ok(AppendResult {
        next_expected_revision: last.revision,
        position: last.position,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(stream: &str, expected: ExpectedRevision, events: Vec<NewEvent>) -> AppendRequest {
        AppendRequest::prepare(
            &StreamName::new(stream).unwrap(),
            expected,
            events,
            &StoreOptions::default(),
        )
        .unwrap()
    }

    fn event(n: u64) -> NewEvent {
        NewEvent::new("Tested", json!({ "n": n }))
    }

    #[test]
    fn appends_in_one_batch_get_consecutive_positions_and_revisions() {
        let a = request(
            "case-a",
            ExpectedRevision::NoStream,
            vec![event(1), event(2)],
        );
        let b = request("case-a", ExpectedRevision::Exact(1), vec![event(3)]);
        let state = LogState {
            head: 10,
            ..Default::default()
        };
        let plan = plan_batch(&[&a, &b], &state, &[], Utc::now());
        let placed: Vec<_> = plan.rows.iter().map(|r| (r.position, r.revision)).collect();
        assert_eq!(placed, vec![(11, 0), (12, 1), (13, 2)]);
        assert_eq!(
            plan.outcomes[1].as_ref().unwrap(),
            &AppendResult {
                next_expected_revision: 2,
                position: 13
            }
        );
    }

    #[test]
    fn a_retry_after_the_stream_moved_on_is_recognised_by_its_ids() {
        let events = vec![event(1)];
        let original = request("case-a", ExpectedRevision::NoStream, events.clone());
        let first = plan_batch(&[&original], &LogState::default(), &[], Utc::now());
        assert!(!first.needs_known_ids());
        let stored = recorded(&first);
        let retry = request("case-a", ExpectedRevision::NoStream, events);
        // Another append has since moved the stream to revision 1.
        let mut state = LogState {
            head: 2,
            ..Default::default()
        };
        state
            .revisions
            .insert("case-a".into(), CurrentRevision::Revision(1));
        // Without the stored ids the retry looks stale...
        let blind = plan_batch(&[&retry], &state, &[], Utc::now());
        assert!(blind.needs_known_ids());
        // ...with them it is acknowledged with its first answer.
        let informed = plan_batch(&[&retry], &state, &stored, Utc::now());
        assert_eq!(
            informed.outcomes[0].as_ref().unwrap(),
            first.outcomes[0].as_ref().unwrap()
        );
        assert!(informed.rows.is_empty());
    }

    fn recorded(plan: &BatchPlan<'_>) -> Vec<RecordedEvent> {
        plan.rows
            .iter()
            .map(|r| RecordedEvent {
                stream: r.stream.to_owned(),
                revision: r.revision,
                position: r.position,
                id: r.event.id,
                event_type: r.event.event_type.clone(),
                data: r.event.data.clone(),
                metadata: r.event.metadata.clone(),
                recorded_at: plan.recorded_at,
            })
            .collect()
    }

    #[test]
    fn a_stale_append_in_a_batch_fails_alone() {
        let a = request("case-a", ExpectedRevision::NoStream, vec![event(1)]);
        let stale = request("case-a", ExpectedRevision::NoStream, vec![event(2)]);
        let other = request("case-b", ExpectedRevision::Any, vec![event(3)]);
        let plan = plan_batch(&[&a, &stale, &other], &LogState::default(), &[], Utc::now());
        assert!(matches!(
            plan.outcomes[1],
            Err(StoreError::WrongExpectedRevision {
                actual: CurrentRevision::Revision(0),
                ..
            })
        ));
        assert_eq!(plan.rows.len(), 2);
        assert_eq!(plan.rows[1].position, 2);
    }

    #[test]
    fn the_same_append_twice_in_a_batch_is_written_once() {
        let events = vec![event(1), event(2)];
        let a = request("case-a", ExpectedRevision::NoStream, events.clone());
        let again = request("case-a", ExpectedRevision::NoStream, events);
        let plan = plan_batch(&[&a, &again], &LogState::default(), &[], Utc::now());
        assert_eq!(plan.rows.len(), 2);
        assert_eq!(
            plan.outcomes[0].as_ref().unwrap(),
            plan.outcomes[1].as_ref().unwrap()
        );
    }

    #[test]
    fn reused_ids_with_other_content_conflict() {
        let original = event(1);
        let changed = NewEvent {
            data: serde_json::value::to_raw_value(&json!({ "n": 99 })).unwrap(),
            ..original.clone()
        };
        let a = request("case-a", ExpectedRevision::Any, vec![original]);
        let b = request("case-a", ExpectedRevision::Any, vec![changed]);
        let plan = plan_batch(&[&a, &b], &LogState::default(), &[], Utc::now());
        assert!(matches!(
            plan.outcomes[1],
            Err(StoreError::IdempotencyConflict { .. })
        ));
        assert_eq!(plan.rows.len(), 1);
    }

    #[test]
    fn prepare_rejects_duplicate_ids_and_non_object_metadata() {
        let stream = StreamName::new("case-a").unwrap();
        let options = StoreOptions::default();
        let e = event(1);
        assert!(matches!(
            AppendRequest::prepare(&stream, ExpectedRevision::Any, vec![e.clone(), e], &options),
            Err(InvalidInput::DuplicateEventId(_))
        ));
        assert!(matches!(
            AppendRequest::prepare(
                &stream,
                ExpectedRevision::Any,
                vec![event(1).with_metadata(json!([1]))],
                &options
            ),
            Err(InvalidInput::MetadataNotObject)
        ));
        assert!(matches!(
            AppendRequest::prepare(&stream, ExpectedRevision::Any, vec![], &options),
            Err(InvalidInput::EmptyAppend)
        ));
    }
}
