//! `POST /v1/unpaid-orders/import` (催款导单): the platform's export of the
//! day's unpaid orders (CSV or an `.xlsx` workbook), registered in one
//! call, each line answered.

use aftersales_commands::import::{import_unpaid_orders, ImportReport};
use aftersales_domain::reminder::ReminderCommand;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::routing::post;
use axum::{Json, Router};

use crate::auth::{Caller, Cost};
use crate::error::ApiError;
use crate::json::read_body;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/unpaid-orders/import", post(import))
}

async fn import(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportReport>, ApiError> {
    let roles = ReminderCommand::ROLES
        .iter()
        .find(|(name, _)| *name == "RegisterUnpaidOrder")
        .map_or(&[][..], |(_, roles)| *roles);
    caller.require(roles, "register unpaid orders")?;
    if caller.key.categories.is_some() {
        return Err(ApiError::Forbidden(
            "this key is limited to case categories and may not import orders".to_owned(),
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    // A workbook and CSV are told apart by their first bytes.
    let readable = [
        "text/csv",
        "application/csv",
        crate::reads::XLSX,
        "application/octet-stream",
    ];
    if !readable
        .iter()
        .any(|media| essence.eq_ignore_ascii_case(media))
    {
        return Err(ApiError::UnsupportedMediaType(
            "text/csv, an .xlsx workbook or application/octet-stream",
        ));
    }
    // Each line is a command: an import costs what a replay does.
    caller.spend(&state, Cost::Replay)?;
    let csv = read_body(body, state.inner.limits.body_bytes).await?;
    let policy = state.inner.policies.current();
    let report = import_unpaid_orders(
        &state.inner.orders,
        &csv,
        &policy.policy.calendar,
        &caller.actor(),
    )
    .await
    .map_err(|error| ApiError::invalid("file", error.to_string()))?;
    Ok(Json(report))
}
