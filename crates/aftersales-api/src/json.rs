//! Reading request bodies: JSON only, bounded in size and depth, decoded
//! into the domain's types with the path of the field at fault.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Reads a body of at most `limit` bytes. A declared Content-Length over
/// four times the limit is refused before a byte of the body is read, so a
/// client that sent `Expect: 100-continue` never has to send it.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    let declared = axum::body::HttpBody::size_hint(&body).lower();
    if declared > limit as u64 {
        // A client that did not ask first is sending the body anyway: a
        // modest one is read to its end so that the client gets to read the
        // answer, not a connection closed under its feet. A large one is
        // never read.
        if declared <= 4 * limit as u64 {
            let _ = axum::body::to_bytes(body, 4 * limit).await;
        }
        return Err(ApiError::PayloadTooLarge { limit });
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })
}

/// Parses a JSON body (`application/json` or `…+json`). serde_json refuses
/// nesting deeper than 128 levels, so a hostile body cannot exhaust the stack.
pub fn parse(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !(essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")) {
        return Err(ApiError::UnsupportedMediaType("application/json"));
    }
    serde_json::from_slice::<Strict>(bytes)
        .map(|strict| strict.0)
        .map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// A JSON value read without letting a key stand twice in one object: with
/// duplicates, which one counts is up to each reader of the body (serde
/// keeps the last, many proxies and loggers the first), so a body that
/// means two things is refused.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key {key:?} appears twice in one object"
                )));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Decodes `value` into `T`. `strip` is a path prefix that is not the
/// client's (the envelope a command is wrapped in).
pub fn decode<T: DeserializeOwned>(value: Value, strip: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let parent = path
            .strip_prefix(strip)
            .map(|rest| rest.trim_start_matches('.'))
            .unwrap_or(&path);
        let parent = if parent == "." { "" } else { parent };
        let message = error.into_inner().to_string();
        // serde names a missing field in its message, at its object's path.
        let field = match missing_field(&message) {
            Some(name) if parent.is_empty() => name.to_owned(),
            Some(name) => format!("{parent}.{name}"),
            None => parent.to_owned(),
        };
        ApiError::InvalidRequest {
            field: (!field.is_empty()).then_some(field),
            message: with_expected_format(message),
        }
    })
}

fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split_once('`')
        .map(|(name, _)| name)
}

/// chrono's parse errors say what went wrong with a time, not what a time
/// should look like.
fn with_expected_format(message: String) -> String {
    const CHRONO: &[&str] = &[
        "premature end of input",
        "input contains invalid characters",
        "trailing input",
        "input is out of range",
        "input is not enough for unique date and time",
        "no possible date and time matching input",
    ];
    if CHRONO.contains(&message.as_str()) {
        format!(
            "{message}: expected a time in RFC 3339 with its offset, such as \
             2026-03-01T09:30:00+08:00, or a day as 2026-03-01"
        )
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        headers
    }

    #[test]
    fn a_key_twice_in_one_object_is_refused_at_any_depth() {
        for body in [
            r#"{"minor": 100, "minor": 1}"#,
            r#"{"amount": {"minor": 100, "currency": "CNY", "currency": "USD"}}"#,
            r#"[{"a": 1}, {"b": 2, "b": 3}]"#,
        ] {
            let error = parse(&json_headers(), body.as_bytes()).unwrap_err();
            assert!(
                error.to_string().contains("appears twice"),
                "{body}: {error}"
            );
        }
    }

    #[test]
    fn a_body_reads_as_serde_json_reads_it() {
        let body =
            r#"{"a": [1, -2, 3.5, "x", null, true], "b": {"c": {}}, "d": 18446744073709551615}"#;
        let strict = parse(&json_headers(), body.as_bytes()).unwrap();
        assert_eq!(strict, serde_json::from_str::<Value>(body).unwrap());
    }
}
