//! Cross-origin calls from browser front ends on other origins (CORS), off
//! unless the operator names the origins allowed.

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::visibility::{LOG_POSITION, MIN_LOG_POSITION};

#[derive(Debug, thiserror::Error)]
pub enum CorsError {
    #[error("the CORS origin {0:?} is not scheme://host[:port]")]
    NotAnOrigin(String),
}

/// The layer that answers preflights and marks answers readable by the
/// `origins` given (`https://console.example.com`), or `None` when none
/// are: a browser then keeps other origins' pages from reading answers.
///
/// The API's credentials are bearer keys a page must hold itself, never
/// cookies, so credentials mode is not allowed.
pub fn cors(origins: &[String]) -> Result<Option<CorsLayer>, CorsError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|origin| origin_value(origin))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-correlation-id"),
                HeaderName::from_static("x-access-grant"),
                MIN_LOG_POSITION,
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                HeaderName::from_static("ratelimit"),
                HeaderName::from_static("ratelimit-policy"),
                HeaderName::from_static("x-correlation-id"),
                LOG_POSITION,
            ])
            .max_age(Duration::from_secs(600)),
    ))
}

/// An origin as a browser sends it: a scheme, a host and perhaps a port,
/// nothing else (no path, no trailing slash, no wildcard).
fn origin_value(origin: &str) -> Result<HeaderValue, CorsError> {
    let refuse = || CorsError::NotAnOrigin(origin.to_owned());
    let (scheme, rest) = origin.split_once("://").ok_or_else(refuse)?;
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !matches!(scheme, "http" | "https") || !host_ok {
        return Err(refuse());
    }
    HeaderValue::from_str(origin).map_err(|_| refuse())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_origins_are_taken() {
        for good in [
            "https://console.example.com",
            "http://127.0.0.1:5173",
            "http://[::1]:8080",
        ] {
            assert!(origin_value(good).is_ok(), "{good}");
        }
        for bad in [
            "*",
            "console.example.com",
            "https://console.example.com/",
            "https://console.example.com/app",
            "ftp://example.com",
            "https://",
            "https://exa mple.com",
        ] {
            assert!(origin_value(bad).is_err(), "{bad}");
        }
    }
}
