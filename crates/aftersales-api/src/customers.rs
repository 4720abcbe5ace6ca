//! 客户信息卡: a customer, known by their phone number, with every case
//! registered for them, their calls, revisit scores, refunds and repairs;
//! found by phone number or platform buyer id.
//!
//! A card gathers personal data from many cases, so it is always masked:
//! whoever must see a customer's number reads the case, where the read is
//! recorded. A search by number or buyer id would tell anyone whether
//! someone is a customer: those who may not see others' personal data find
//! only customers of their own cases.

use std::collections::BTreeMap;

use aftersales_domain::Role;
use aftersales_projections::case_views::{self, CaseStatus, RefundView};
use aftersales_projections::resources::{
    self, phone_key, CustomerView, Kind, RepairView, ResourceView,
};
use aftersales_projections::CaseView;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Caller;
use crate::commands::parse_id;
use crate::error::ApiError;
use crate::privacy;
use crate::reads::query;
use crate::state::AppState;

const CARD_READERS: &[Role] = &[Role::Agent, Role::Supervisor, Role::Auditor, Role::Admin];

/// Most cases and repairs a card gathers, as many as the read model keeps
/// of a customer's cases; a customer with more has the case list
/// (`GET /v1/cases?phone=`) to page through.
const CARD_LIMIT: usize = resources::CARD_CASES;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/customers", get(search))
        .route("/v1/customers/{id}", get(card))
}

/// One case on a customer's card.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CardCase {
    pub case_id: Uuid,
    pub status: CaseStatus,
    pub category: String,
    pub registered_at: DateTime<Utc>,
    pub product: String,
    pub phenomenon: String,
    pub calls: u32,
    pub revisits: u32,
    pub last_score: Option<u8>,
    pub complaint: Option<String>,
    pub refunds: BTreeMap<Uuid, RefundView>,
    pub closed_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
}

impl From<&CaseView> for CardCase {
    fn from(view: &CaseView) -> Self {
        Self {
            case_id: view.case_id,
            status: view.status,
            category: view.category.clone(),
            registered_at: view.registered_at,
            product: view.product.clone(),
            phenomenon: view.phenomenon.clone(),
            calls: view.calls,
            revisits: view.revisits,
            last_score: view.last_score,
            complaint: view.complaint.clone(),
            refunds: view.refunds.clone(),
            closed_at: view.closed_at,
            resolution: view.resolution.clone(),
        }
    }
}

/// A customer's card, masked.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CustomerCard {
    pub customer_id: Uuid,
    pub name: String,
    pub phone: String,
    pub buyer_ids: Vec<String>,
    /// Their cases, oldest first (those of the key's categories, for a key
    /// limited to some).
    pub cases: Vec<CardCase>,
    /// The repairs of their cases.
    pub repairs: Vec<RepairView>,
    pub open_cases: usize,
    pub calls: u64,
    /// Refunds paid to them, in minor units.
    pub refunds_paid_minor: i64,
}

async fn card(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(CARD_READERS, "read customer cards")?;
    let id = parse_id(&id)?;
    let not_found = || ApiError::NotFound(format!("no customer {id}"));
    let customer = find(&state, vec![("id", id.to_string())])
        .await?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    let db = &state.inner.read_db;
    let mut cases = Vec::new();
    for case_id in &customer.cases {
        if let Some(view) = case_views::get(db, *case_id).await? {
            if caller.require_category(&view.category).is_ok() {
                cases.push(view);
            }
        }
    }
    if cases.is_empty() {
        return Err(not_found());
    }
    let mut repairs = Vec::new();
    for view in &cases {
        let tags = vec![("case_id", view.case_id.to_string())];
        let (found, _) = resources::list(db, Kind::Repair, tags, None, CARD_LIMIT).await?;
        repairs.extend(found.into_iter().filter_map(|repair| match repair {
            ResourceView::Repair(repair) => Some(repair),
            _ => None,
        }));
    }
    let card = CustomerCard {
        customer_id: customer.common.id,
        name: customer.name.clone(),
        phone: customer.phone.clone(),
        buyer_ids: customer.buyer_ids.clone(),
        open_cases: cases
            .iter()
            .filter(|view| matches!(view.status, CaseStatus::Open | CaseStatus::Waiting))
            .count(),
        calls: cases.iter().map(|view| u64::from(view.calls)).sum(),
        refunds_paid_minor: cases.iter().map(|view| view.money.refunds_paid).sum(),
        cases: cases.iter().map(CardCase::from).collect(),
        repairs,
    };
    let mut json = serde_json::to_value(&card).map_err(|e| ApiError::Internal(e.to_string()))?;
    privacy::mask(&mut json);
    Ok(Json(json))
}

/// A customer as a search finds them: masked.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CustomerMatch {
    pub customer_id: Uuid,
    pub name: String,
    pub phone: String,
    pub cases: u64,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// A phone number, written any way (`+86 138-0013-8000`).
    pub phone: Option<String>,
    /// A platform buyer id (旺旺ID).
    pub buyer_id: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CustomerMatches {
    #[schemars(with = "Vec<CustomerMatch>")]
    pub customers: Vec<Value>,
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<CustomerMatches>, ApiError> {
    caller.require(CARD_READERS, "find customers")?;
    let params: CustomerQuery = query(raw)?;
    let tags = match (params.phone, params.buyer_id) {
        (Some(phone), None) => vec![("phone", phone_key(&phone))],
        (None, Some(buyer_id)) => vec![("buyer_id", buyer_id)],
        _ => {
            return Err(ApiError::invalid(
                "phone",
                "give a phone number or a buyer id, one of them",
            ))
        }
    };
    let mut customers = Vec::new();
    for customer in find(&state, tags).await? {
        if !caller.sees_personal_data() && !owns_a_case(&state, &caller, &customer).await? {
            continue;
        }
        let found = CustomerMatch {
            customer_id: customer.common.id,
            name: customer.name.clone(),
            phone: customer.phone.clone(),
            cases: customer.case_count,
        };
        let mut json =
            serde_json::to_value(&found).map_err(|e| ApiError::Internal(e.to_string()))?;
        privacy::mask(&mut json);
        customers.push(json);
    }
    Ok(Json(CustomerMatches { customers }))
}

async fn find(
    state: &AppState,
    tags: Vec<(&'static str, String)>,
) -> Result<Vec<CustomerView>, ApiError> {
    let (found, _) =
        resources::list(&state.inner.read_db, Kind::Customer, tags, None, CARD_LIMIT).await?;
    Ok(found
        .into_iter()
        .filter_map(|view| match view {
            ResourceView::Customer(customer) => Some(customer),
            _ => None,
        })
        .collect())
}

/// Whether one of the customer's cases is the caller's own.
async fn owns_a_case(
    state: &AppState,
    caller: &Caller,
    customer: &CustomerView,
) -> Result<bool, ApiError> {
    for case_id in &customer.cases {
        if let Some(view) = case_views::get(&state.inner.read_db, *case_id).await? {
            if view.owner() == Some(caller.key.name.as_str()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
