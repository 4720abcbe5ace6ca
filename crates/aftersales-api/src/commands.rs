//! Every command of the domain as a POST: the command that starts a stream
//! on its collection (`POST /v1/cases`), every other one on the resource
//! (`POST /v1/cases/{id}/log-call`). The routes and their documentation are
//! both generated from the domain's command enums, so neither can drift.

use aftersales_commands::{Envelope, Handler};
use aftersales_domain::audit::SamplingAudit;
use aftersales_domain::case::{Case, CaseCommand};
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::repair::RepairOrder;
use aftersales_domain::{Aggregate, DomainEvent, Role};
use aftersales_store::{CurrentRevision, Position, Revision};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::access::{request_hash, Claim, StoredResponse};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::json as body;
use crate::state::{AppState, Services};

/// Which cases a command touches, for keys limited to some categories.
pub(crate) enum Scope {
    /// A case of this category, or another resource belonging to it.
    Category(String),
    /// The existing case the command is sent to.
    ExistingCase,
    /// Not tied to a category: keys limited to categories may not send it.
    Unscoped,
}

/// Another case a command names besides the one it is sent to, and what
/// must be true of it: checked here, across aggregates, before the command
/// is decided.
pub(crate) enum OtherCase {
    /// It must exist, in a category the caller may act on (a merge's
    /// survivor): a merge into nothing would close the case for good.
    Existing { field: &'static str, id: Uuid },
    /// It must not exist yet (a split's new case).
    New { field: &'static str, id: Uuid },
}

/// An aggregate the API exposes.
pub(crate) trait Resource: Aggregate
where
    Self::Command: schemars::JsonSchema + Send + Sync,
    Self::Event: Send + Sync,
{
    /// `/v1/<COLLECTION>`.
    const COLLECTION: &'static str;
    /// The command that starts a stream, POSTed on the collection.
    const CREATE: &'static str;
    /// Every command with the roles that may send it.
    const COMMANDS: &'static [(&'static str, &'static [Role])];

    fn handler(services: &Services) -> &Handler<Self>;

    fn scope(command: &Self::Command) -> Scope;

    fn other_case(_command: &Self::Command) -> Option<OtherCase> {
        None
    }

    /// The field naming someone the command gives a case to, and the name:
    /// it must be a live key of a role that handles cases.
    fn assignee(_command: &Self::Command) -> Option<(&'static str, &str)> {
        None
    }
}

/// The roles a case may be assigned to: those who handle cases, and so may
/// see the customer's personal data on their own cases.
const CASE_HANDLERS: &[Role] = &[Role::Agent, Role::Supervisor];

impl Resource for Case {
    const COLLECTION: &'static str = "cases";
    const CREATE: &'static str = "RegisterCase";
    const COMMANDS: &'static [(&'static str, &'static [Role])] = CaseCommand::ROLES;

    fn handler(services: &Services) -> &Handler<Self> {
        &services.cases
    }

    fn scope(command: &CaseCommand) -> Scope {
        match command {
            CaseCommand::RegisterCase(register) => Scope::Category(text_of(&register.category)),
            _ => Scope::ExistingCase,
        }
    }

    fn other_case(command: &CaseCommand) -> Option<OtherCase> {
        match command {
            CaseCommand::MergeCase(merge) => Some(OtherCase::Existing {
                field: "survivor",
                id: merge.survivor,
            }),
            CaseCommand::SplitCase(split) => Some(OtherCase::New {
                field: "new_case_id",
                id: split.new_case_id,
            }),
            _ => None,
        }
    }

    fn assignee(command: &CaseCommand) -> Option<(&'static str, &str)> {
        match command {
            CaseCommand::AssignCase(assign) => Some(("agent_id", assign.agent_id.as_str())),
            _ => None,
        }
    }
}

impl Resource for UnpaidOrder {
    const COLLECTION: &'static str = "unpaid-orders";
    const CREATE: &'static str = "RegisterUnpaidOrder";
    const COMMANDS: &'static [(&'static str, &'static [Role])] =
        aftersales_domain::reminder::ReminderCommand::ROLES;

    fn handler(services: &Services) -> &Handler<Self> {
        &services.orders
    }

    fn scope(_: &Self::Command) -> Scope {
        Scope::Category("payment_reminder".to_owned())
    }
}

impl Resource for SamplingAudit {
    const COLLECTION: &'static str = "sampling-audits";
    const CREATE: &'static str = "DrawSample";
    const COMMANDS: &'static [(&'static str, &'static [Role])] =
        aftersales_domain::audit::AuditCommand::ROLES;

    fn handler(services: &Services) -> &Handler<Self> {
        &services.audits
    }

    fn scope(_: &Self::Command) -> Scope {
        Scope::Unscoped
    }
}

impl Resource for RepairOrder {
    const COLLECTION: &'static str = "repairs";
    const CREATE: &'static str = "ReceiveDevice";
    const COMMANDS: &'static [(&'static str, &'static [Role])] =
        aftersales_domain::repair::RepairCommand::ROLES;

    fn handler(services: &Services) -> &Handler<Self> {
        &services.repairs
    }

    fn scope(_: &Self::Command) -> Scope {
        Scope::Category("repair".to_owned())
    }
}

impl Resource for AccessGrant {
    const COLLECTION: &'static str = "access-grants";
    const CREATE: &'static str = "RequestAccess";
    const COMMANDS: &'static [(&'static str, &'static [Role])] =
        aftersales_domain::grant::GrantCommand::ROLES;

    fn handler(services: &Services) -> &Handler<Self> {
        &services.grants
    }

    fn scope(_: &Self::Command) -> Scope {
        Scope::Unscoped
    }
}

/// A serde enum's wire name (`Category::PriceDrop` → `price_drop`).
pub(crate) fn text_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => text,
        _ => String::new(),
    }
}

/// `LogCall` → `log-call`: the path segment of a command.
pub(crate) fn kebab(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn routes<R: Resource>() -> Router<AppState>
where
    R::Command: schemars::JsonSchema + Send + Sync,
    R::Event: Send + Sync,
{
    Router::new()
        .route(&format!("/v1/{}", R::COLLECTION), post(create::<R>))
        .route(
            &format!("/v1/{}/{{id}}/{{action}}", R::COLLECTION),
            post(act::<R>),
        )
}

/// What an accepted command did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CommandAccepted {
    pub id: Uuid,
    pub stream: String,
    /// The stream's revision after the command: send it as `If-Match`.
    pub revision: Option<Revision>,
    /// The global position of the last event appended, if any.
    pub position: Option<Position>,
    /// The events the command appended (none if it changed nothing).
    pub events: Vec<AcceptedEvent>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AcceptedEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    #[schemars(with = "Value")]
    pub data: Box<RawValue>,
}

async fn create<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError>
where
    R::Command: schemars::JsonSchema + Send + Sync,
    R::Event: Send + Sync,
{
    let path = format!("/v1/{}", R::COLLECTION);
    // With an Idempotency-Key the new resource's id follows from it, so a
    // retry after a lost answer names the same resource.
    let key = idempotency_key(&headers)?;
    let id = match &key {
        Some(key) => derived_id(&caller, key, "resource"),
        None => Uuid::now_v7(),
    };
    idempotent(&state, &caller, &path, key.as_deref(), body, |bytes| {
        execute::<R>(
            &state,
            &caller,
            id,
            R::CREATE,
            &headers,
            key.as_deref(),
            bytes,
        )
    })
    .await
}

async fn act<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError>
where
    R::Command: schemars::JsonSchema + Send + Sync,
    R::Event: Send + Sync,
{
    let path = format!("/v1/{}/{id}/{action}", R::COLLECTION);
    let id = parse_id(&id)?;
    let name = R::COMMANDS
        .iter()
        .map(|(name, _)| *name)
        .find(|name| *name != R::CREATE && kebab(name) == action)
        .ok_or_else(|| ApiError::NotFound(format!("no command {action:?} on {}", R::COLLECTION)))?;
    let key = idempotency_key(&headers)?;
    let answer = idempotent(&state, &caller, &path, key.as_deref(), body, |bytes| {
        execute::<R>(&state, &caller, id, name, &headers, key.as_deref(), bytes)
    })
    .await;
    // Counted under the command's own route, which a known command name
    // makes one of a fixed few.
    let mut response = answer.into_response();
    response
        .extensions_mut()
        .insert(crate::metrics::Route(format!(
            "/v1/{}/{{id}}/{action}",
            R::COLLECTION
        )));
    Ok(response)
}

pub(crate) fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound(format!("{id:?} is not an id")))
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| !key.is_empty() && key.len() <= 255)
        .ok_or_else(|| ApiError::invalid("Idempotency-Key", "1 to 255 visible ASCII characters"))?;
    Ok(Some(key.to_owned()))
}

fn derived_id(caller: &Caller, key: &str, what: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x5d1f_3c0e_8a57_4b7e_9a44_61f2_0c6b_d8a3);
    Uuid::new_v5(
        &NAMESPACE,
        format!("{what}\n{}\n{key}", caller.key.id).as_bytes(),
    )
}

/// Runs `handle` at most once per (key, Idempotency-Key): a retry gets the
/// first answer back, a different request with the same key is refused.
async fn idempotent<F, Fut>(
    state: &AppState,
    caller: &Caller,
    path: &str,
    key: Option<&str>,
    body: Body,
    handle: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(axum::body::Bytes) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let bytes = body::read_body(body, state.inner.limits.body_bytes).await?;
    let Some(key) = key else {
        return handle(bytes).await;
    };
    let access = &state.inner.access;
    let hash = request_hash("POST", path, &bytes);
    match access.claim(&caller.key.id, key, &hash).await? {
        Claim::Fresh => {}
        Claim::Replay(stored) => return Ok(replay(stored)),
        Claim::InFlight => return Err(ApiError::IdempotencyKeyInFlight),
        Claim::Mismatch => return Err(ApiError::IdempotencyKeyReused),
    }
    let response = match handle(bytes).await {
        Ok(response) => response,
        Err(error) if error.status().is_server_error() => {
            // A passing failure: the retry should run the command again.
            access.release(&caller.key.id, key).await?;
            return Err(error);
        }
        Err(error) => error.into_response(),
    };
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let kept: serde_json::Map<String, Value> =
        [header::CONTENT_TYPE, header::ETAG, header::LOCATION]
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), Value::from(value)))
            })
            .collect();
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        headers: Value::Object(kept).to_string(),
        body: body.to_vec(),
    };
    access.answer(&caller.key.id, key, &stored).await?;
    Ok(replay(stored))
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    if let Ok(Value::Object(headers)) = serde_json::from_str::<Value>(&stored.headers) {
        for (name, value) in headers {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

/// The revision a command expects, from `If-Match: "7"`.
fn if_match(headers: &HeaderMap) -> Result<Option<Revision>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| ApiError::invalid("If-Match", "an ETag as given by a GET, such as \"7\""))
}

pub(crate) fn etag(revision: Revision) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

async fn execute<R: Resource>(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    name: &str,
    headers: &HeaderMap,
    idempotency_key: Option<&str>,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError>
where
    R::Command: schemars::JsonSchema + Send + Sync,
    R::Event: Send + Sync,
{
    let creates = name == R::CREATE;
    let data = body::parse(headers, &bytes)?;
    let command: R::Command = body::decode(json!({ "command": name, "data": data }), "data")?;
    let services = &state.inner;
    let stream = Handler::<R>::stream(id)?;
    if !creates && !R::handler(services).exists(id).await? {
        return Err(ApiError::NotFound(format!("no {} {id}", R::COLLECTION)));
    }
    if caller.key.categories.is_some() {
        match R::scope(&command) {
            Scope::Category(category) => caller.require_category(&category)?,
            Scope::ExistingCase => {
                let view = crate::visibility::case_view(state, id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
                caller.require_case_category(id, &view.category)?;
            }
            Scope::Unscoped => {
                return Err(ApiError::Forbidden(format!(
                    "this key is limited to case categories and may not use {}",
                    R::COLLECTION
                )))
            }
        }
    }
    match R::other_case(&command) {
        Some(OtherCase::Existing { field, id: other }) => {
            let (revision, case) = services.cases.load(other).await?;
            // A case in a category the caller may not act on is answered as
            // one that does not exist: the answer must not tell them apart.
            let allowed = case
                .category
                .is_some_and(|category| caller.require_category(&text_of(&category)).is_ok());
            if revision == CurrentRevision::NoStream || !allowed {
                return Err(ApiError::invalid(field, "an existing case you may act on"));
            }
        }
        Some(OtherCase::New { field, id: other }) if services.cases.exists(other).await? => {
            return Err(ApiError::invalid(
                field,
                "the id of a case that does not exist yet",
            ));
        }
        Some(OtherCase::New { .. }) | None => {}
    }
    if let Some((field, name)) = R::assignee(&command) {
        let role = state.access().live_role(name).await?;
        if !role.is_some_and(|role| CASE_HANDLERS.contains(&role)) {
            return Err(ApiError::invalid(
                field,
                "the name of a live key of an agent or a supervisor",
            ));
        }
    }
    let mut envelope = Envelope::new(id, command, caller.actor());
    envelope.expected_revision = if_match(headers)?;
    if let Some(correlation) = headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok())
    {
        envelope.correlation_id = correlation;
    }
    if let Some(key) = idempotency_key {
        // The same events, with the same ids, if a retry runs it again.
        envelope.command_id = derived_id(caller, key, "command");
    }
    let outcome = R::handler(services).execute(&envelope).await?;
    let events = outcome
        .events
        .iter()
        .map(|event| {
            Ok(AcceptedEvent {
                event_type: event.event_type().to_owned(),
                data: RawValue::from_string(event.encode()?)?,
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let accepted = CommandAccepted {
        id,
        stream: stream.to_string(),
        revision: outcome.revision,
        position: outcome.position,
        events,
    };
    let status = if creates {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, axum::Json(accepted)).into_response();
    if let Some(revision) = outcome.revision {
        response.headers_mut().insert(header::ETAG, etag(revision));
    }
    if creates {
        if let Ok(location) = HeaderValue::from_str(&format!("/v1/{}/{id}", R::COLLECTION)) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_become_path_segments() {
        assert_eq!(kebab("LogCall"), "log-call");
        assert_eq!(
            kebab("RequestPriceDifferenceRefund"),
            "request-price-difference-refund"
        );
    }
}
