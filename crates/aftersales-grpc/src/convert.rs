//! How the protocol's events map onto the store's, both ways.
//!
//! The store keeps an event's data and metadata as JSON. A proposed event's
//! data that is JSON (content type `application/json`) is stored as that
//! JSON, so the CLI, the subscriptions and the projections read it like any
//! other event; anything else (binary data, or text that does not parse) is
//! stored as a base64 string and marked, and comes back byte for byte. The
//! custom metadata is kept the same way: a JSON object becomes the event's
//! metadata object, anything else is kept as base64. Keys starting with `$`
//! in the stored metadata belong to this mapping:
//!
//! - `$content-type`: the content type, when it is not `application/json`;
//! - `$data-base64`: `true` when the data is stored as base64;
//! - `$custom-metadata-base64`: custom metadata that is not a JSON object.
//!
//! JSON comes back as equal JSON, not always byte for byte: PostgreSQL's
//! `jsonb` orders keys and drops insignificant whitespace.

use std::collections::HashMap;

use aftersales_store::{NewEvent, RecordedEvent};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tonic::Status;
use uuid::Uuid;

use crate::proto::event_store::client::streams::read_resp::read_event::RecordedEvent as ProtoEvent;
use crate::proto::event_store::client::uuid::{Structured, Value as UuidValue};
use crate::proto::event_store::client::{StreamIdentifier, Uuid as ProtoUuid};

pub const JSON: &str = "application/json";
const CONTENT_TYPE: &str = "$content-type";
const DATA_BASE64: &str = "$data-base64";
const CUSTOM_METADATA_BASE64: &str = "$custom-metadata-base64";

/// A proposed event as the clients send it (Append and BatchAppend carry
/// the same fields in different messages).
#[derive(Debug)]
pub struct Proposed<'a> {
    pub id: Option<&'a ProtoUuid>,
    pub metadata: &'a HashMap<String, String>,
    pub custom_metadata: &'a [u8],
    pub data: &'a [u8],
}

impl Proposed<'_> {
    /// Bytes counted against the append size limit, as KurrentDB counts.
    pub fn size(&self) -> usize {
        self.data.len() + self.custom_metadata.len()
    }

    pub fn into_new_event(self) -> Result<NewEvent, Status> {
        let id = uuid_from_proto(self.id)?;
        let event_type = self
            .metadata
            .get("type")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Status::invalid_argument("an event needs a `type` metadata entry"))?
            .clone();
        let content_type = self
            .metadata
            .get("content-type")
            .map_or(JSON, String::as_str);
        let mut stored = Map::new();
        let data = match serde_json::from_slice::<Box<RawValue>>(self.data) {
            Ok(json) if content_type == JSON => json,
            _ => {
                stored.insert(DATA_BASE64.to_owned(), Value::Bool(true));
                raw(&Value::String(BASE64.encode(self.data)))?
            }
        };
        if content_type != JSON {
            stored.insert(
                CONTENT_TYPE.to_owned(),
                Value::String(content_type.to_owned()),
            );
        }
        if !self.custom_metadata.is_empty() {
            match serde_json::from_slice::<Value>(self.custom_metadata) {
                Ok(Value::Object(object)) if !object.keys().any(|k| k.starts_with('$')) => {
                    stored.extend(object);
                }
                _ => {
                    let encoded = BASE64.encode(self.custom_metadata);
                    stored.insert(CUSTOM_METADATA_BASE64.to_owned(), Value::String(encoded));
                }
            }
        }
        Ok(NewEvent {
            id,
            event_type,
            data,
            metadata: raw(&Value::Object(stored))?,
        })
    }
}

fn raw(value: &Value) -> Result<Box<RawValue>, Status> {
    serde_json::value::to_raw_value(value).map_err(|e| Status::internal(e.to_string()))
}

/// How a read answers event ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UuidFormat {
    String,
    Structured,
}

/// A stored event as the protocol's recorded event. Both positions are the
/// event's global position: the store has one order, not a
/// commit/prepare pair.
pub fn recorded_event(event: &RecordedEvent, format: UuidFormat) -> ProtoEvent {
    let mut metadata: Map<String, Value> = serde_json::from_str(event.metadata.get())
        .ok()
        .and_then(|v: Value| match v {
            Value::Object(object) => Some(object),
            _ => None,
        })
        .unwrap_or_default();
    let content_type = match metadata.remove(CONTENT_TYPE) {
        Some(Value::String(content_type)) => content_type,
        _ => JSON.to_owned(),
    };
    let data_base64 = metadata.remove(DATA_BASE64) == Some(Value::Bool(true));
    let data = if data_base64 {
        serde_json::from_str::<String>(event.data.get())
            .ok()
            .and_then(|text| BASE64.decode(text).ok())
            .unwrap_or_default()
    } else {
        event.data.get().as_bytes().to_vec()
    };
    let custom_metadata = match metadata.remove(CUSTOM_METADATA_BASE64) {
        Some(Value::String(text)) => BASE64.decode(text).unwrap_or_default(),
        _ if metadata.is_empty() => Vec::new(),
        _ => serde_json::to_vec(&Value::Object(metadata)).unwrap_or_default(),
    };
    let system = HashMap::from([
        ("type".to_owned(), event.event_type.clone()),
        ("content-type".to_owned(), content_type),
        ("created".to_owned(), ticks(event.recorded_at).to_string()),
    ]);
    ProtoEvent {
        id: Some(uuid_to_proto(event.id, format)),
        stream_identifier: Some(stream_identifier(&event.stream)),
        stream_revision: event.revision,
        prepare_position: event.position,
        commit_position: event.position,
        metadata: system,
        custom_metadata,
        data,
    }
}

/// .NET ticks (100 ns) since the Unix epoch, as the clients read `created`.
fn ticks(time: chrono::DateTime<chrono::Utc>) -> i64 {
    time.timestamp() * 10_000_000 + i64::from(time.timestamp_subsec_nanos() / 100)
}

pub fn stream_identifier(name: &str) -> StreamIdentifier {
    StreamIdentifier {
        stream_name: name.as_bytes().to_vec(),
    }
}

/// The stream name a request names, as text.
pub fn stream_name(identifier: Option<&StreamIdentifier>) -> Result<String, Status> {
    let identifier =
        identifier.ok_or_else(|| Status::invalid_argument("the request names no stream"))?;
    String::from_utf8(identifier.stream_name.clone())
        .map_err(|_| Status::invalid_argument("a stream name must be UTF-8"))
}

pub fn uuid_from_proto(id: Option<&ProtoUuid>) -> Result<Uuid, Status> {
    match id.and_then(|id| id.value.as_ref()) {
        Some(UuidValue::String(text)) => Uuid::parse_str(text)
            .map_err(|_| Status::invalid_argument(format!("`{text}` is not a UUID"))),
        Some(UuidValue::Structured(parts)) => {
            let high = parts.most_significant_bits.to_be_bytes();
            let low = parts.least_significant_bits.to_be_bytes();
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&high);
            bytes[8..].copy_from_slice(&low);
            Ok(Uuid::from_bytes(bytes))
        }
        None => Err(Status::invalid_argument("an event needs an id")),
    }
}

pub fn uuid_to_proto(id: Uuid, format: UuidFormat) -> ProtoUuid {
    let value = match format {
        UuidFormat::String => UuidValue::String(id.to_string()),
        UuidFormat::Structured => {
            let bytes = id.as_bytes();
            let mut high = [0u8; 8];
            let mut low = [0u8; 8];
            high.copy_from_slice(&bytes[..8]);
            low.copy_from_slice(&bytes[8..]);
            UuidValue::Structured(Structured {
                most_significant_bits: i64::from_be_bytes(high),
                least_significant_bits: i64::from_be_bytes(low),
            })
        }
    };
    ProtoUuid { value: Some(value) }
}
