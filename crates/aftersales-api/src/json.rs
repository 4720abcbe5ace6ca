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
        return Err(ApiError::UnsupportedMediaType);
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// Decodes `value` into `T`. `strip` is a path prefix that is not the
/// client's (the envelope a command is wrapped in).
pub fn decode<T: DeserializeOwned>(value: Value, strip: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = path
            .strip_prefix(strip)
            .map(|rest| rest.trim_start_matches('.'))
            .unwrap_or(&path);
        let field = (!field.is_empty() && field != ".").then(|| field.to_owned());
        ApiError::InvalidRequest {
            field,
            message: error.into_inner().to_string(),
        }
    })
}
