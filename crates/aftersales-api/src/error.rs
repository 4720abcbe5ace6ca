//! Every failure the API answers with, as `application/problem+json`
//! (RFC 9457). Each has a stable `type` a client can branch on: one per
//! domain rule (`urn:aftersales:problem:refund-exceeds-paid`) and one per
//! protocol failure (`…:unauthenticated`, `…:stale-revision`, …).

use aftersales_commands::HandlerError;
use aftersales_domain::DomainError;
use aftersales_projections::ProjectionError;
use aftersales_store::{InvalidInput, StoreError};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The prefix of every problem type.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:aftersales:problem:";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the resource does not answer this method")]
    MethodNotAllowed,
    #[error("the request body is not JSON: {0}")]
    MalformedJson(String),
    #[error("{message}")]
    InvalidRequest {
        field: Option<String>,
        message: String,
    },
    #[error("the request body must be {0}")]
    UnsupportedMediaType(&'static str),
    #[error("the request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error(transparent)]
    Rule(DomainError),
    #[error("the resource is at revision {actual}, not {expected}")]
    StaleRevision { expected: String, actual: String },
    #[error("{0}")]
    Conflict(String),
    /// The store's clock is the real one: only a sandbox's is set.
    #[error("{0}")]
    NotSandbox(String),
    #[error("this Idempotency-Key was used before with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being handled")]
    IdempotencyKeyInFlight,
    #[error("too many requests; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// Work beyond a request's share (a replay, a live stream) over its
    /// budget: nothing was started.
    #[error("{reason}")]
    Busy { reason: String, retry_after: u64 },
    #[error("the service is unavailable: {0}")]
    Unavailable(String),
    /// A read asked to reflect a log position the read models have not
    /// reached in the time a read may wait.
    #[error("the read models are at log position {reached}, not yet at {wanted}; retry shortly")]
    Behind { wanted: u64, reached: u64 },
    #[error("the database has no space left; reads still work")]
    StorageFull,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::InvalidRequest { .. } | Self::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Rule(DomainError::RoleNotAllowed { .. }) => StatusCode::FORBIDDEN,
            Self::Rule(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::StaleRevision { .. } => StatusCode::PRECONDITION_FAILED,
            Self::Conflict(_) | Self::NotSandbox(_) | Self::IdempotencyKeyInFlight => {
                StatusCode::CONFLICT
            }
            Self::RateLimited { .. } | Self::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Behind { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable name behind the problem type.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::MalformedJson(_) => "malformed-json",
            Self::InvalidRequest { .. } => "invalid-request",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::Rule(rule) => rule.code(),
            Self::StaleRevision { .. } => "stale-revision",
            Self::Conflict(_) => "conflict",
            Self::NotSandbox(_) => "not-a-sandbox",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::IdempotencyKeyInFlight => "idempotency-key-in-flight",
            Self::RateLimited { .. } => "rate-limited",
            Self::Busy { .. } => "busy",
            Self::Unavailable(_) => "unavailable",
            Self::Behind { .. } => "read-models-behind",
            Self::StorageFull => "storage-full",
            Self::Internal(_) => "internal",
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::InvalidRequest { field, .. } => field.clone(),
            Self::Rule(rule) => rule.field().map(str::to_owned),
            _ => None,
        }
    }
}

/// The body of every error response. Its schema is `ProblemDetails`, apart
/// from the case's problem (故障现象) the registration form records.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "ProblemDetails")]
pub struct Problem {
    /// `urn:aftersales:problem:<code>`: stable, one per rule.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    /// What happened, in words for a person.
    pub detail: String,
    /// The rule's or failure's stable name.
    pub code: String,
    /// The input at fault, as a path into the request (`customer.phone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Internal(reason) = &self {
            // The reason stays in the log: it may name tables or paths.
            tracing::error!(%reason, "internal error");
        }
        let detail = match &self {
            Self::Internal(_) => "the service failed to handle the request".to_owned(),
            other => other.to_string(),
        };
        let problem = Problem {
            type_: format!("{PROBLEM_TYPE_PREFIX}{}", self.code()),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail,
            code: self.code().to_owned(),
            field: self.field(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            Self::RateLimited { retry_after } | Self::Busy { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Behind { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            Self::Unauthenticated(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<HandlerError> for ApiError {
    fn from(error: HandlerError) -> Self {
        match error {
            HandlerError::Rejected(rule) => Self::Rule(rule),
            HandlerError::StaleRevision {
                expected, actual, ..
            } => Self::StaleRevision {
                expected: expected.to_string(),
                actual: actual.to_string(),
            },
            HandlerError::TooManyConflicts { .. } => Self::Conflict(error.to_string()),
            HandlerError::Store(store) => store.into(),
            HandlerError::Undecodable { .. } | HandlerError::Encode(_) => {
                Self::Internal(error.to_string())
            }
        }
    }
}

impl From<InvalidInput> for ApiError {
    fn from(error: InvalidInput) -> Self {
        StoreError::from(error).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidInput(InvalidInput::AppendTooLarge { .. })
            | StoreError::InvalidInput(InvalidInput::TooManyEvents { .. }) => {
                Self::InvalidRequest {
                    field: None,
                    message: error.to_string(),
                }
            }
            StoreError::InvalidInput(input) => Self::InvalidRequest {
                field: None,
                message: input.to_string(),
            },
            StoreError::WrongExpectedRevision { .. } | StoreError::IdempotencyConflict { .. } => {
                Self::Conflict(error.to_string())
            }
            StoreError::Unavailable(_) | StoreError::ReadOnly(_) => {
                Self::Unavailable("the event store does not answer".to_owned())
            }
            StoreError::StorageFull(_) => Self::StorageFull,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(error: ProjectionError) -> Self {
        match error {
            ProjectionError::UnknownReport(_) => Self::NotFound(error.to_string()),
            ProjectionError::InvalidCursor(_) => Self::invalid("cursor", error.to_string()),
            ProjectionError::BeyondHead { .. } => Self::invalid("position", error.to_string()),
            ProjectionError::TooManyRows { .. } => Self::invalid("format", error.to_string()),
            ProjectionError::Store(store) => store.into(),
            ProjectionError::Database(database) => database.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The API's own tables (keys, idempotency records) fail the way the
/// store's do: a full disk is 507, an unreachable database 503.
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::from(error).into()
    }
}
