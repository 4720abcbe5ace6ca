//! The vocabulary of the store: stream names, revisions, positions, events.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;

use crate::error::InvalidInput;

/// Longest stream name or event type accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// A validated stream name such as `case-0193…`.
///
/// The category is the part before the first `-` (the whole name when there
/// is none), as in EventStoreDB's `$ce-` projection. Names starting with `$`
/// are reserved for the store itself (`$all`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamName(String);

impl StreamName {
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidInput> {
        let name = name.into();
        check_name("stream name", &name)?;
        if name.starts_with('$') {
            return Err(InvalidInput::ReservedStreamName(name));
        }
        Ok(Self(name))
    }

    /// A stream `<category>-<id>`.
    pub fn of(category: &str, id: impl fmt::Display) -> Result<Self, InvalidInput> {
        if category.is_empty() || category.contains('-') {
            return Err(InvalidInput::InvalidCategory(category.to_owned()));
        }
        Self::new(format!("{category}-{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn category(&self) -> &str {
        category_of(&self.0)
    }
}

/// The category of a stream name: the part before the first `-`.
pub fn category_of(stream: &str) -> &str {
    stream
        .split_once('-')
        .map_or(stream, |(category, _)| category)
}

fn check_name(what: &'static str, name: &str) -> Result<(), InvalidInput> {
    if name.is_empty() {
        return Err(InvalidInput::EmptyName(what));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(InvalidInput::NameTooLong {
            what,
            len: name.len(),
            max: MAX_NAME_BYTES,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(InvalidInput::ControlCharacter(what));
    }
    Ok(())
}

/// Checks an event type name: non-empty, bounded, printable.
pub fn check_event_type(event_type: &str) -> Result<(), InvalidInput> {
    check_name("event type", event_type)
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for StreamName {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for StreamName {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<StreamName> for String {
    fn from(value: StreamName) -> Self {
        value.0
    }
}

/// The place of an event in the global order (`$all`). Positions start at 1
/// and grow by one per event; 0 means "before the first event".
pub type Position = u64;

/// The place of an event in its stream. Revisions start at 0 and have no gaps.
pub type Revision = u64;

/// What the writer believes the stream's revision to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedRevision {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must hold at least one event.
    StreamExists,
    /// The stream's last event must have exactly this revision.
    Exact(Revision),
}

impl ExpectedRevision {
    /// Whether a stream whose last revision is `current` satisfies this expectation.
    pub fn accepts(self, current: CurrentRevision) -> bool {
        match (self, current) {
            (Self::Any, _) => true,
            (Self::NoStream, CurrentRevision::NoStream) => true,
            (Self::StreamExists, CurrentRevision::Revision(_)) => true,
            (Self::Exact(expected), CurrentRevision::Revision(actual)) => expected == actual,
            _ => false,
        }
    }
}

impl fmt::Display for ExpectedRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream => f.write_str("no-stream"),
            Self::StreamExists => f.write_str("exists"),
            Self::Exact(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for ExpectedRevision {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "any" => Ok(Self::Any),
            "no-stream" | "no_stream" => Ok(Self::NoStream),
            "exists" | "stream-exists" | "stream_exists" => Ok(Self::StreamExists),
            other => other
                .parse::<Revision>()
                .map(Self::Exact)
                .map_err(|_| InvalidInput::ExpectedRevision(other.to_owned())),
        }
    }
}

/// What a stream holds right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurrentRevision {
    NoStream,
    Revision(Revision),
}

impl CurrentRevision {
    pub fn from_last(last: Option<Revision>) -> Self {
        last.map_or(Self::NoStream, Self::Revision)
    }

    /// The revision the next appended event gets.
    pub fn next(self) -> Revision {
        match self {
            Self::NoStream => 0,
            Self::Revision(n) => n + 1,
        }
    }
}

impl fmt::Display for CurrentRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoStream => f.write_str("no-stream"),
            Self::Revision(n) => write!(f, "{n}"),
        }
    }
}

/// An event to append. The id makes appends idempotent: the same ids appended
/// again at the same place are acknowledged without being written twice.
///
/// Data and metadata are kept as JSON text: the store never needs their
/// structure, and callers serialise their own types straight into it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: Uuid,
    pub event_type: String,
    pub data: Box<RawValue>,
    /// A JSON object; see [`EventMetadata`] for the keys the product uses.
    pub metadata: Box<RawValue>,
}

impl NewEvent {
    /// A new event with a fresh time-ordered id and empty metadata.
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            event_type: event_type.into(),
            data: raw(&data),
            metadata: empty_object(),
        }
    }

    /// A new event whose data is `data` serialised.
    pub fn encode<T: Serialize + ?Sized>(
        event_type: impl Into<String>,
        data: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: Uuid::now_v7(),
            event_type: event_type.into(),
            data: serde_json::value::to_raw_value(data)?,
            metadata: empty_object(),
        })
    }

    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = raw(&metadata);
        self
    }

    pub fn with_raw_metadata(mut self, metadata: Box<RawValue>) -> Self {
        self.metadata = metadata;
        self
    }
}

fn raw(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("a JSON value serialises")
}

pub(crate) fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("{} is JSON")
}

/// The metadata keys every layer of the product writes and reads.
///
/// The store keeps metadata as an opaque JSON object; this type gives its
/// well-known keys one spelling. Unknown keys are kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl EventMetadata {
    pub fn to_value(&self) -> Value {
        // A struct of strings, ids and numbers always serialises.
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Default::default()))
    }

    /// Reads the well-known keys out of a stored metadata object.
    pub fn from_value(value: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(value)
    }
}

/// An event as stored: what was appended plus what the store assigned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub stream: String,
    pub revision: Revision,
    pub position: Position,
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Box<RawValue>,
    pub metadata: Box<RawValue>,
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    pub fn category(&self) -> &str {
        category_of(&self.stream)
    }

    /// The data deserialised into `T`.
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// The metadata deserialised into `T` (e.g. [`EventMetadata`]).
    pub fn metadata_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.metadata.get())
    }
}

/// Equal when everything stored is equal; JSON is compared by meaning, not
/// by spelling (PostgreSQL normalises whitespace and key order).
impl PartialEq for RecordedEvent {
    fn eq(&self, other: &Self) -> bool {
        self.stream == other.stream
            && self.revision == other.revision
            && self.position == other.position
            && self.id == other.id
            && self.event_type == other.event_type
            && same_json(&self.data, &other.data)
            && same_json(&self.metadata, &other.metadata)
            && self.recorded_at == other.recorded_at
    }
}

/// Whether two JSON texts say the same thing.
pub fn same_json(a: &RawValue, b: &RawValue) -> bool {
    if a.get() == b.get() {
        return true;
    }
    match (
        serde_json::from_str::<Value>(a.get()),
        serde_json::from_str::<Value>(b.get()),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The outcome of an acknowledged append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendResult {
    /// Revision of the last event appended (the stream's revision now).
    pub next_expected_revision: Revision,
    /// Global position of the last event appended.
    pub position: Position,
}

/// Which way a read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Forwards,
    Backwards,
}

/// Where a read of one stream starts (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFrom {
    Start,
    End,
    Revision(Revision),
}

/// Where a read of `$all` starts (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllFrom {
    Start,
    End,
    Position(Position),
}

/// Narrows a read of `$all` to some categories and/or event types. An empty
/// list does not filter on that field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllFilter {
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub event_types: Vec<String>,
}

impl AllFilter {
    pub fn category(category: impl Into<String>) -> Self {
        Self {
            categories: vec![category.into()],
            event_types: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.categories.is_empty() && self.event_types.is_empty()
    }

    pub fn matches(&self, event: &RecordedEvent) -> bool {
        (self.categories.is_empty() || self.categories.iter().any(|c| c == event.category()))
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
    }
}

/// A read of `$all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllQuery {
    pub from: AllFrom,
    pub direction: Direction,
    pub limit: usize,
    pub filter: AllFilter,
}

impl AllQuery {
    pub fn forwards(from: Position, limit: usize) -> Self {
        Self {
            from: AllFrom::Position(from),
            direction: Direction::Forwards,
            limit,
            filter: AllFilter::default(),
        }
    }

    pub fn with_filter(mut self, filter: AllFilter) -> Self {
        self.filter = filter;
        self
    }
}

/// A page of `$all`.
///
/// With a filter, a page may hold fewer events than the limit while the log
/// goes on; `scanned_to` says how far the read looked, so the next page (or a
/// subscription's checkpoint) continues from there without rescanning.
#[derive(Debug, Clone, PartialEq)]
pub struct AllPage {
    pub events: Vec<RecordedEvent>,
    /// The last position examined: the highest going forwards, the lowest
    /// going backwards (0 when the start was reached).
    pub scanned_to: Position,
    /// Whether the read reached the end of the log (forwards: the head at the
    /// time of the read; backwards: the first event).
    pub is_end: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_is_the_part_before_the_first_dash() {
        let stream = StreamName::new("case-0193-abc").unwrap();
        assert_eq!(stream.category(), "case");
        assert_eq!(StreamName::new("orders").unwrap().category(), "orders");
    }

    #[test]
    fn bad_stream_names_are_rejected() {
        assert!(matches!(
            StreamName::new(""),
            Err(InvalidInput::EmptyName(_))
        ));
        assert!(matches!(
            StreamName::new("x".repeat(MAX_NAME_BYTES + 1)),
            Err(InvalidInput::NameTooLong { .. })
        ));
        assert!(matches!(
            StreamName::new("$all"),
            Err(InvalidInput::ReservedStreamName(_))
        ));
        assert!(matches!(
            StreamName::new("case-\n1"),
            Err(InvalidInput::ControlCharacter(_))
        ));
        assert!(StreamName::of("ca-se", 1).is_err());
    }

    #[test]
    fn expected_revision_parses_the_cli_spellings() {
        assert_eq!(
            "any".parse::<ExpectedRevision>().unwrap(),
            ExpectedRevision::Any
        );
        assert_eq!(
            "no-stream".parse::<ExpectedRevision>().unwrap(),
            ExpectedRevision::NoStream
        );
        assert_eq!(
            "exists".parse::<ExpectedRevision>().unwrap(),
            ExpectedRevision::StreamExists
        );
        assert_eq!(
            "7".parse::<ExpectedRevision>().unwrap(),
            ExpectedRevision::Exact(7)
        );
        assert!(matches!(
            "-1".parse::<ExpectedRevision>(),
            Err(InvalidInput::ExpectedRevision(_))
        ));
    }

    #[test]
    fn expectations_against_current_revisions() {
        use CurrentRevision::{NoStream, Revision};
        assert!(ExpectedRevision::NoStream.accepts(NoStream));
        assert!(!ExpectedRevision::NoStream.accepts(Revision(0)));
        assert!(ExpectedRevision::StreamExists.accepts(Revision(3)));
        assert!(!ExpectedRevision::StreamExists.accepts(NoStream));
        assert!(ExpectedRevision::Exact(3).accepts(Revision(3)));
        assert!(!ExpectedRevision::Exact(0).accepts(NoStream));
        assert!(ExpectedRevision::Any.accepts(NoStream));
    }

    #[test]
    fn metadata_round_trips_with_unknown_keys() {
        let value = serde_json::json!({"correlation_id": Uuid::nil(), "actor_role": "agent", "source": "erp"});
        let meta = EventMetadata::from_value(&value).unwrap();
        assert_eq!(meta.actor_role.as_deref(), Some("agent"));
        assert_eq!(meta.to_value(), value);
    }
}
