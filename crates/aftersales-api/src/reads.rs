//! The read side: case views and the case list, a case's audit trail, the
//! SOP reports, the ledger and the read models' status.

use std::sync::Arc;

use aftersales_domain::model::{Category, Priority};
use aftersales_domain::Role;
use aftersales_projections::case_views::{self, CaseFilter, CaseStatus};
use aftersales_projections::reports::catalogue::{self, Period};
use aftersales_projections::{admin, ledger, Table, TableDocument};
use aftersales_store::{
    Direction, EventMetadata, EventStore, RecordedEvent, StreamFrom, StreamName,
};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Caller, Cost};
use crate::commands::{etag, parse_id, text_of};
use crate::error::ApiError;
use crate::privacy;
use crate::state::AppState;
use crate::visibility;
use aftersales_domain::streams::PERSONAL_DATA_VIEWS;

/// Roles that read the team's reports and the ledger.
const REPORT_READERS: &[Role] = &[
    Role::Agent,
    Role::Supervisor,
    Role::Finance,
    Role::Auditor,
    Role::Admin,
];
const LEDGER_READERS: &[Role] = &[Role::Supervisor, Role::Finance, Role::Auditor, Role::Admin];
const OPERATORS: &[Role] = &[Role::Supervisor, Role::Admin];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/cases", get(list_cases))
        .route("/v1/cases/{id}", get(get_case))
        .route("/v1/incremental/cases", get(changed_cases))
        .route("/v1/cases/{id}/history", get(history))
        .route("/v1/reports", get(list_reports))
        .route("/v1/reports/{name}", get(report))
        .route("/v1/ledger/balances", get(balances))
        .route("/v1/ledger/check", get(ledger_check))
        .route("/v1/projections", get(projections))
}

/// Parses a query string, refusing unknown parameters.
pub(crate) fn query<T: DeserializeOwned>(raw: Option<String>) -> Result<T, ApiError> {
    let raw = raw.unwrap_or_default();
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&raw).map_err(|e| ApiError::invalid("query", e.to_string()))?;
    // Repeated or empty parameters are mistakes, not requests.
    let mut object = serde_json::Map::new();
    for (name, value) in pairs {
        if object.insert(name.clone(), Value::String(value)).is_some() {
            return Err(ApiError::invalid(name, "given more than once"));
        }
    }
    crate::json::decode(Value::Object(object), "")
}

/// A query value that is a number, a boolean or a time, sent as text.
pub(crate) mod text {
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer};

    pub fn option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Filters and paging of the case list.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseListQuery {
    pub status: Option<CaseStatus>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub phone: Option<String>,
    pub order_no: Option<String>,
    pub buyer_id: Option<String>,
    /// A waybill number (运单号): the case's parcel's or a reshipment's.
    pub tracking_no: Option<String>,
    /// The cases of one batch incident (批量故障).
    pub incident: Option<String>,
    pub category: Option<Category>,
    #[serde(default, deserialize_with = "text::option")]
    pub breached: Option<bool>,
    #[serde(default, deserialize_with = "text::option")]
    pub created_from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "text::option")]
    pub created_until: Option<DateTime<Utc>>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500; 50 if not given.
    #[serde(default, deserialize_with = "text::option")]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CaseList {
    /// Each case as the caller may see it: personal data masked unless the
    /// case is the caller's own.
    #[schemars(with = "Vec<aftersales_projections::CaseView>")]
    pub cases: Vec<Value>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Paging of the incremental export of cases.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangedCasesQuery {
    /// The `next` of the previous page; 0 (or none) from the start.
    #[serde(default, deserialize_with = "text::option")]
    pub after: Option<u64>,
    /// 1 to 500; 50 if not given.
    #[serde(default, deserialize_with = "text::option")]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ChangedCaseList {
    /// Cases in the order of their last change, each as the caller may see
    /// it; a case changed again after a page comes again in a later one.
    #[schemars(with = "Vec<aftersales_projections::CaseView>")]
    pub cases: Vec<Value>,
    /// The log position to pass as `after` for the next page.
    pub next: u64,
    /// Every change the read models hold was exported: poll again later
    /// from `next`.
    pub end_of_stream: bool,
}

/// 增量导出: every case changed after a log position, for a data warehouse
/// or an order system that keeps its own copy.
async fn changed_cases(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<ChangedCaseList>, ApiError> {
    let params: ChangedCasesQuery = query(raw)?;
    let limit = page_limit(&state, params.limit)?;
    let page =
        case_views::changed_since(&state.inner.read_db, params.after.unwrap_or(0), limit).await?;
    // A key limited to some categories passes over the others' cases: its
    // pages may be shorter, and its cursor moves on past them all the same.
    let cases = page
        .cases
        .iter()
        .filter(|view| caller.require_category(&view.category).is_ok())
        .map(|view| privacy::in_list(view, view.owner(), &caller))
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(ChangedCaseList {
        cases,
        next: page.next,
        end_of_stream: page.end_of_stream,
    }))
}

pub(crate) fn page_limit(state: &AppState, limit: Option<usize>) -> Result<usize, ApiError> {
    let max = state.inner.limits.max_page;
    match limit {
        None => Ok(50.min(max)),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", format!("1 to {max}"))),
    }
}

async fn list_cases(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params: CaseListQuery = query(raw)?;
    let mut category = params.category.map(|c| text_of(&c));
    if let Some(allowed) = &caller.key.categories {
        match (&category, allowed.as_slice()) {
            (Some(wanted), _) => caller.require_category(wanted)?,
            (None, [only]) => category = Some(only.clone()),
            (None, _) => {
                return Err(ApiError::invalid(
                    "category",
                    "this key is limited to some categories: name one",
                ))
            }
        }
    }
    // Finding cases by a customer's phone or buyer id would tell anyone
    // whether someone is a customer: those who may not see others' personal
    // data find only the cases assigned to them.
    let mut assignee = params.assignee;
    if (params.phone.is_some() || params.buyer_id.is_some()) && !caller.sees_personal_data() {
        let own = caller.key.name.clone();
        if assignee.as_ref().is_some_and(|wanted| *wanted != own) {
            return Ok(Json(CaseList {
                cases: Vec::new(),
                next: None,
            })
            .into_response());
        }
        assignee = Some(own);
    }
    let filter = CaseFilter {
        status: params.status,
        priority: params.priority,
        assignee,
        phone: params.phone,
        order_no: params.order_no,
        buyer_id: params.buyer_id,
        tracking_no: params.tracking_no,
        incident: params.incident,
        category,
        breached: params.breached,
        open_item: None,
        created_from: params.created_from,
        created_until: params.created_until,
    };
    let limit = page_limit(&state, params.limit)?;
    let page = case_views::list_docs(
        &state.inner.read_db,
        &filter,
        params.cursor.as_deref(),
        limit,
    )
    .await?;
    // The answer is a `CaseList`, written from the stored documents as they
    // are: reading each whole and writing it out again would cost most of
    // the answer's time.
    let mut body = String::from(r#"{"cases":["#);
    for (i, case) in page.cases.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        privacy::write_list_line(case, &caller, &mut body)?;
    }
    body.push_str(r#"],"next":"#);
    body.push_str(
        &serde_json::to_string(&page.next).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    body.push('}');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The grant a request names for reading personal data.
fn grant_header(headers: &HeaderMap) -> Result<Option<Uuid>, ApiError> {
    headers
        .get("x-access-grant")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| Uuid::parse_str(v).ok())
                .ok_or_else(|| ApiError::invalid("X-Access-Grant", "an access grant's id"))
        })
        .transpose()
}

/// A case as the caller may see it, with its timeline as stored.
#[derive(Serialize)]
struct CaseAnswer<'a> {
    #[serde(flatten)]
    case: &'a Value,
    timeline: &'a serde_json::value::RawValue,
}

async fn get_case(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let detail = visibility::case_detail(&state, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    let view = &detail.case;
    caller.require_case_category(id, &view.category)?;
    let sight = privacy::sight(&state, &caller, view, grant_header(&headers)?).await?;
    let case = privacy::reveal(&state, &caller, view, &sight, "case", view).await?;
    let mut response = Json(CaseAnswer {
        case: &case,
        timeline: &detail.timeline,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(view.revision));
    Ok(response)
}

/// One event of a case's audit trail.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HistoryEntry {
    pub position: u64,
    pub stream: String,
    pub revision: u64,
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub recorded_at: DateTime<Utc>,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub data: Value,
}

/// Most events a history answers with.
const HISTORY_LIMIT: usize = 10_000;

async fn read_whole(
    store: &Arc<dyn EventStore>,
    stream: &StreamName,
) -> Result<Vec<RecordedEvent>, ApiError> {
    let mut events: Vec<RecordedEvent> = Vec::new();
    loop {
        let from = events.last().map_or(StreamFrom::Start, |last| {
            StreamFrom::Revision(last.revision + 1)
        });
        let page = store
            .read_stream(stream, from, Direction::Forwards, 1_000)
            .await?;
        let done = page.len() < 1_000;
        events.extend(page);
        if done || events.len() >= HISTORY_LIMIT {
            return Ok(events);
        }
    }
}

async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let store = &state.inner.store;
    let case_events = read_whole(store, &StreamName::of("case", id)?).await?;
    if case_events.is_empty() {
        return Err(ApiError::NotFound(format!("no case {id}")));
    }
    let views = read_whole(store, &StreamName::of(PERSONAL_DATA_VIEWS, id)?).await?;
    let mut events: Vec<RecordedEvent> = case_events.into_iter().chain(views).collect();
    events.sort_by_key(|event| event.position);
    let entries: Vec<HistoryEntry> = events
        .into_iter()
        .map(|event| {
            let metadata: EventMetadata =
                serde_json::from_str(event.metadata.get()).unwrap_or_default();
            HistoryEntry {
                position: event.position,
                stream: event.stream,
                revision: event.revision,
                event_id: event.id,
                event_type: event.event_type,
                recorded_at: event.recorded_at,
                actor_id: metadata.actor_id,
                actor_role: metadata.actor_role,
                correlation_id: metadata.correlation_id,
                causation_id: metadata.causation_id,
                data: serde_json::from_str(event.data.get()).unwrap_or(Value::Null),
            }
        })
        .collect();
    // The view decides who sees personal data; while it is not built yet,
    // everything is masked.
    let json = match visibility::case_view(&state, id).await? {
        Some(view) => {
            caller.require_case_category(id, &view.category)?;
            let sight = privacy::sight(&state, &caller, &view, grant_header(&headers)?).await?;
            privacy::reveal(&state, &caller, &view, &sight, "history", &entries).await?
        }
        // Without the view its category is unknown: a limited key waits.
        None if caller.key.categories.is_some() => {
            return Err(ApiError::NotFound(format!("no case {id}")));
        }
        None => {
            let mut json =
                serde_json::to_value(&entries).map_err(|e| ApiError::Internal(e.to_string()))?;
            privacy::mask(&mut json);
            json
        }
    };
    Ok(Json(serde_json::json!({ "case_id": id, "events": json })).into_response())
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ReportEntry {
    pub name: String,
    pub title: String,
}

async fn list_reports(caller: Caller) -> Result<Json<Vec<ReportEntry>>, ApiError> {
    caller.require(REPORT_READERS, "read reports")?;
    Ok(Json(
        aftersales_projections::reports::catalogue::REPORTS
            .iter()
            .map(|(name, title)| ReportEntry {
                name: (*name).to_owned(),
                title: (*title).to_owned(),
            })
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// The report as it read at this time (RFC 3339).
    #[serde(default, deserialize_with = "text::option")]
    pub as_of: Option<DateTime<Utc>>,
    /// The report as it read when the log ended at this global position.
    #[serde(default, deserialize_with = "text::option")]
    pub position: Option<u64>,
    /// The first business day the report covers (YYYY-MM-DD, in the
    /// shop's time zone).
    #[serde(default, deserialize_with = "text::option")]
    pub from: Option<NaiveDate>,
    /// The last business day the report covers, included.
    #[serde(default, deserialize_with = "text::option")]
    pub until: Option<NaiveDate>,
    /// `json` (the default), or `xlsx` for an Excel workbook with the
    /// forms' Chinese headings (also by `Accept`).
    pub format: Option<ReportFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Json,
    Xlsx,
}

/// The media type of an Excel workbook.
pub(crate) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A report as the API answers it. Personal data in reports is always
/// masked over the API.
pub type ReportBody = TableDocument;

fn report_body(table: &Table, position: Option<u64>) -> ReportBody {
    let mut body = table.document(position);
    for row in &mut body.rows {
        let mut value = Value::Object(std::mem::take(row));
        privacy::mask(&mut value);
        if let Value::Object(masked) = value {
            *row = masked;
        }
    }
    body
}

async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(REPORT_READERS, "read reports")?;
    let params: ReportQuery = query(raw)?;
    let accepts_xlsx = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains(XLSX));
    let format = params.format.unwrap_or(if accepts_xlsx {
        ReportFormat::Xlsx
    } else {
        ReportFormat::Json
    });
    let services = &state.inner;
    let position = match (params.as_of, params.position) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "as_of",
                "give as_of or position, not both",
            ))
        }
        (Some(time), None) => Some(admin::position_at(services.store.as_ref(), time).await?),
        (None, position) => position,
    };
    let period = Period {
        from: params.from,
        until: params.until,
    };
    if let (Some(from), Some(until)) = (period.from, period.until) {
        if until < from {
            return Err(ApiError::invalid("until", "must not lie before from"));
        }
    }
    let table = match position {
        Some(position) => report_as_of(&state, &caller, &name, position, period).await?,
        None => {
            caller.spend(&state, Cost::Report)?;
            Arc::new(catalogue::build(&services.read_db, &name, period).await?)
        }
    };
    let body = report_body(&table, position);
    match format {
        ReportFormat::Json => Ok(Json(body).into_response()),
        ReportFormat::Xlsx => {
            let workbook = aftersales_projections::workbook::workbook(&body)?;
            let disposition = format!("attachment; filename=\"{}.xlsx\"", body.name);
            let mut response = workbook.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(XLSX));
            if let Ok(disposition) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, disposition);
            }
            Ok(response)
        }
    }
}

/// A report as of a past position: a replay of the log up to it, within
/// the replay budget, kept for the next who asks the same.
async fn report_as_of(
    state: &AppState,
    caller: &Caller,
    name: &str,
    position: u64,
    period: Period,
) -> Result<Arc<Table>, ApiError> {
    let gauges = &state.inner.gauges;
    let cached = format!("{name}|{:?}|{:?}", period.from, period.until);
    if let Some(table) = gauges.cached_report(&cached, position) {
        return Ok(table);
    }
    caller.spend(state, Cost::Replay)?;
    let _replay = gauges.replay(&caller.key.id)?;
    let store = state.inner.store.clone();
    let table = Arc::new(admin::report_as_of(store, name, position, period).await?);
    gauges.keep_report(&cached, position, table.clone());
    Ok(table)
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceQuery {
    /// What the balances are grouped by; all accounts if not given.
    #[serde(default)]
    pub by: ledger::BalanceBy,
}

async fn balances(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<ReportBody>, ApiError> {
    caller.require(LEDGER_READERS, "read the ledger")?;
    let params: BalanceQuery = query(raw)?;
    let by = params.by;
    let transactions = ledger::transactions(&state.inner.read_db).await?;
    Ok(Json(report_body(
        &ledger::balances(&transactions, by),
        None,
    )))
}

/// Whether the money ledger holds together.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LedgerCheckAnswer {
    /// Every transaction balances and agrees with the case views.
    pub ok: bool,
    pub transactions: usize,
    /// The positions of transactions whose entries do not sum to zero.
    pub unbalanced: Vec<u64>,
    /// Cases where the ledger and the case view disagree.
    pub disagreements: Vec<String>,
}

async fn ledger_check(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<LedgerCheckAnswer>, ApiError> {
    caller.require(LEDGER_READERS, "read the ledger")?;
    let check = ledger::check(&state.inner.read_db).await?;
    Ok(Json(LedgerCheckAnswer {
        ok: check.is_ok(),
        transactions: check.transactions,
        unbalanced: check.unbalanced,
        disagreements: check.disagreements,
    }))
}

async fn projections(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<admin::Status>>, ApiError> {
    caller.require(OPERATORS, "read the projections' status")?;
    Ok(Json(
        admin::status(state.inner.store.as_ref(), &state.inner.read_db).await?,
    ))
}
