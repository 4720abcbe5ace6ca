//! Reads of the resources beside cases: unpaid orders, repair orders,
//! sampling audits and access grants, one at a time and as filtered,
//! cursor-paged lists.
//!
//! Who may read a kind of resource: the roles that may act on it, and
//! supervisors, auditors and administrators. A key limited to some case
//! categories reads cases alone. Personal data (a buyer id, a grant's
//! customer) is masked unless the resource is the caller's own (an access
//! grant they asked for, an unpaid order they registered, an audit they
//! drew).

use aftersales_domain::audit::SamplingAudit;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::repair::RepairOrder;
use aftersales_domain::Role;
use aftersales_projections::resources::{
    self, status_term, AuditStatus, GrantStatus, Kind, RepairStatus, ResourceView, UnpaidStatus,
};
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Caller;
use crate::commands::{etag, parse_id, Resource};
use crate::error::ApiError;
use crate::privacy;
use crate::reads::{page_limit, query, text};
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/unpaid-orders", get(list_unpaid_orders))
        .route("/v1/unpaid-orders/{id}", get(one::<UnpaidOrder>))
        .route("/v1/repairs", get(list_repairs))
        .route("/v1/repairs/{id}", get(one::<RepairOrder>))
        .route("/v1/sampling-audits", get(list_sampling_audits))
        .route("/v1/sampling-audits/{id}", get(one::<SamplingAudit>))
        .route("/v1/access-grants", get(list_access_grants))
        .route("/v1/access-grants/{id}", get(one::<AccessGrant>))
}

/// The resources with a read model of their own: the kind each is, and
/// where and by whom it is acted on.
pub(crate) trait Readable {
    const KIND: Kind;
    const COLLECTION: &'static str;
    const COMMANDS: &'static [(&'static str, &'static [Role])];
}

macro_rules! readable {
    ($($resource:ty => $kind:expr),* $(,)?) => {
        $(impl Readable for $resource {
            const KIND: Kind = $kind;
            const COLLECTION: &'static str = <$resource as Resource>::COLLECTION;
            const COMMANDS: &'static [(&'static str, &'static [Role])] =
                <$resource as Resource>::COMMANDS;
        })*
    };
}

readable!(
    UnpaidOrder => Kind::UnpaidOrder,
    RepairOrder => Kind::Repair,
    SamplingAudit => Kind::SamplingAudit,
    AccessGrant => Kind::AccessGrant,
);

/// Roles that read every kind of resource, whether or not they act on it.
const OVERSEERS: &[Role] = &[Role::Supervisor, Role::Auditor, Role::Admin];

/// Refuses a caller who may neither act on `R` nor oversee the team.
fn require_reader<R: Readable>(caller: &Caller) -> Result<(), ApiError> {
    if caller.key.categories.is_some() {
        return Err(ApiError::Forbidden(
            "a key limited to some case categories reads cases alone".to_owned(),
        ));
    }
    let acts = R::COMMANDS
        .iter()
        .any(|(_, roles)| roles.contains(&caller.role()));
    if acts || OVERSEERS.contains(&caller.role()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "the {} role may not read {}",
            caller.role(),
            R::COLLECTION
        )))
    }
}

/// Whose a resource is: an access grant is its requester's; an unpaid
/// order or an audit the one's who registered or drew it.
fn owner(view: &ResourceView) -> Option<&str> {
    match view {
        ResourceView::AccessGrant(grant) => Some(grant.requested_by.as_str()),
        ResourceView::UnpaidOrder(_) | ResourceView::SamplingAudit(_) => {
            Some(view.common().created_by.as_str())
        }
        ResourceView::Repair(_) | ResourceView::Customer(_) => None,
    }
}

/// An agent sees the access grants they asked for; overseers see all.
fn visible(view: &ResourceView, caller: &Caller) -> bool {
    match view {
        ResourceView::AccessGrant(grant) => {
            OVERSEERS.contains(&caller.role()) || grant.requested_by == caller.key.name
        }
        ResourceView::UnpaidOrder(_) | ResourceView::Repair(_) | ResourceView::SamplingAudit(_) => {
            true
        }
        // Customers are read through their cards.
        ResourceView::Customer(_) => false,
    }
}

async fn one<R: Readable>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_reader::<R>(&caller)?;
    let id = parse_id(&id)?;
    let not_found = || ApiError::NotFound(format!("no {} {id}", R::COLLECTION));
    let view = resources::get(&state.inner.read_db, R::KIND, id)
        .await?
        .filter(|view| visible(view, &caller))
        .ok_or_else(not_found)?;
    let revision = view.common().revision;
    let json = privacy::in_list(&view, owner(&view), &caller)?;
    let mut response = Json(json).into_response();
    response.headers_mut().insert(header::ETAG, etag(revision));
    Ok(response)
}

/// A page of resources of one kind, oldest first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ResourceList {
    #[schemars(with = "Vec<ResourceView>")]
    pub items: Vec<Value>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<String>,
}

async fn list<R: Readable>(
    state: &AppState,
    caller: &Caller,
    tags: Vec<(&'static str, String)>,
    cursor: Option<String>,
    limit: Option<usize>,
) -> Result<Json<ResourceList>, ApiError> {
    require_reader::<R>(caller)?;
    let limit = page_limit(state, limit)?;
    let (views, next) = resources::list(
        &state.inner.read_db,
        R::KIND,
        tags,
        cursor.as_deref(),
        limit,
    )
    .await?;
    let items = views
        .iter()
        .filter(|view| visible(view, caller))
        .map(|view| privacy::in_list(view, owner(view), caller))
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(ResourceList { items, next }))
}

fn tag(tags: &mut Vec<(&'static str, String)>, field: &'static str, value: Option<String>) {
    if let Some(value) = value {
        tags.push((field, value));
    }
}

/// Filters and paging of the unpaid orders.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnpaidOrderQuery {
    pub status: Option<UnpaidStatus>,
    pub buyer_id: Option<String>,
    pub order_no: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500; 50 if not given.
    #[serde(default, deserialize_with = "text::option")]
    pub limit: Option<usize>,
}

async fn list_unpaid_orders(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<ResourceList>, ApiError> {
    let params: UnpaidOrderQuery = query(raw)?;
    let mut tags = Vec::new();
    tag(&mut tags, "status", params.status.map(status_term));
    tag(&mut tags, "buyer_id", params.buyer_id);
    tag(&mut tags, "order_no", params.order_no);
    list::<UnpaidOrder>(&state, &caller, tags, params.cursor, params.limit).await
}

/// Filters and paging of the repair orders.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairQuery {
    pub status: Option<RepairStatus>,
    /// The case the repair is for.
    pub case_id: Option<Uuid>,
    /// The serial number on the outside of the device.
    pub serial: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500; 50 if not given.
    #[serde(default, deserialize_with = "text::option")]
    pub limit: Option<usize>,
}

async fn list_repairs(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<ResourceList>, ApiError> {
    let params: RepairQuery = query(raw)?;
    let mut tags = Vec::new();
    tag(&mut tags, "status", params.status.map(status_term));
    tag(
        &mut tags,
        "case_id",
        params.case_id.map(|id| id.to_string()),
    );
    tag(&mut tags, "serial", params.serial);
    list::<RepairOrder>(&state, &caller, tags, params.cursor, params.limit).await
}

/// Filters and paging of the sampling audits.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SamplingAuditQuery {
    pub status: Option<AuditStatus>,
    /// `YYYY-MM`.
    pub month: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500; 50 if not given.
    #[serde(default, deserialize_with = "text::option")]
    pub limit: Option<usize>,
}

async fn list_sampling_audits(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<ResourceList>, ApiError> {
    let params: SamplingAuditQuery = query(raw)?;
    let mut tags = Vec::new();
    tag(&mut tags, "status", params.status.map(status_term));
    tag(&mut tags, "month", params.month);
    list::<SamplingAudit>(&state, &caller, tags, params.cursor, params.limit).await
}

/// Filters and paging of the access grants.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessGrantQuery {
    pub status: Option<GrantStatus>,
    pub requested_by: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500; 50 if not given.
    #[serde(default, deserialize_with = "text::option")]
    pub limit: Option<usize>,
}

async fn list_access_grants(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<ResourceList>, ApiError> {
    let params: AccessGrantQuery = query(raw)?;
    let mut tags = Vec::new();
    tag(&mut tags, "status", params.status.map(status_term));
    // An agent lists the grants they asked for.
    let requested_by = match params.requested_by {
        _ if !OVERSEERS.contains(&caller.role()) => Some(caller.key.name.clone()),
        wanted => wanted,
    };
    tag(&mut tags, "requested_by", requested_by);
    list::<AccessGrant>(&state, &caller, tags, params.cursor, params.limit).await
}
