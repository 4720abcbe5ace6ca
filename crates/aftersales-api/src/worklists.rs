//! The team's worklists over HTTP: what is due and overdue (revisits,
//! follow-ups, handoffs), what is escalated or running late, and the shift
//! handover of what each agent has open.

use std::collections::BTreeMap;

use aftersales_domain::model::{Category, Department, Priority};
use aftersales_domain::Role;
use aftersales_projections::case_views::{self, CaseFilter, CaseStatus, CaseView, WorkItemKind};
use aftersales_projections::worklists::{self, WorkItem};
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Caller, Cost};
use crate::commands::text_of;
use crate::error::ApiError;
use crate::privacy;
use crate::reads::{query, text};
use crate::state::AppState;

/// Who reads the worklists: the team, and the departments the handoffs
/// wait on.
const WORK_READERS: &[Role] = &[
    Role::Agent,
    Role::Supervisor,
    Role::Admin,
    Role::Warehouse,
    Role::Finance,
    Role::Technician,
];
const HANDOVER_READERS: &[Role] = &[Role::Agent, Role::Supervisor, Role::Admin];

/// Each worklist's path segment and the open items it lists.
const WORKLISTS: &[(&str, WorkItemKind)] = &[
    ("revisits", WorkItemKind::Revisit),
    ("follow-ups", WorkItemKind::FollowUp),
    ("handoffs", WorkItemKind::Handoff),
    ("escalations", WorkItemKind::Escalation),
    ("at-risk", WorkItemKind::AtRisk),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/worklists/handover", get(handover))
        .route("/v1/worklists/{kind}", get(worklist))
}

/// Filters of a worklist.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorklistQuery {
    /// Items a given person is to act on (a follow-up's owner, else the
    /// case's assignee).
    pub owner: Option<String>,
    /// Handoffs waiting on this department.
    pub department: Option<Department>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    /// Items due before this time (RFC 3339).
    #[serde(default, deserialize_with = "text::option")]
    pub due_before: Option<DateTime<Utc>>,
    /// `true`: only items past their due time now.
    #[serde(default, deserialize_with = "text::option")]
    pub overdue: Option<bool>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Worklist {
    pub kind: String,
    /// The time the list was read at; `overdue` counts from it.
    pub as_of: DateTime<Utc>,
    /// Soonest due first.
    #[schemars(with = "Vec<serde_json::Value>")]
    pub items: Vec<Value>,
    pub overdue: usize,
    /// More cases had open items than one list reads; narrow the filter.
    pub truncated: bool,
}

async fn worklist(
    State(state): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Worklist>, ApiError> {
    caller.require(WORK_READERS, "read the worklists")?;
    let (name, kind) = WORKLISTS
        .iter()
        .find(|(name, _)| *name == kind)
        .copied()
        .ok_or_else(|| {
            let names: Vec<&str> = WORKLISTS.iter().map(|(name, _)| *name).collect();
            ApiError::NotFound(format!(
                "no worklist {kind:?}; the worklists are handover, {}",
                names.join(", ")
            ))
        })?;
    let params: WorklistQuery = query(raw)?;
    if let Some(category) = params.category {
        caller.require_category(&text_of(&category))?;
    }
    caller.spend(&state, Cost::Report)?;
    let now = state.inner.clock.now();
    let filter = CaseFilter {
        category: params.category.map(|c| text_of(&c)),
        priority: params.priority,
        ..CaseFilter::default()
    };
    let (items, truncated) = worklists::worklist(&state.inner.read_db, kind, &filter).await?;
    let due_before = match params.overdue {
        Some(true) => Some(params.due_before.map_or(now, |before| before.min(now))),
        _ => params.due_before,
    };
    let items: Vec<WorkItem> = items
        .into_iter()
        .filter(|item| allowed(&caller, &item.category))
        .filter(|item| params.owner.is_none() || item.owner == params.owner)
        .filter(|item| params.department.is_none() || item.department == params.department)
        .filter(|item| due_before.is_none_or(|before| item.due_at.is_some_and(|due| due < before)))
        .filter(|item| params.overdue != Some(false) || !item.overdue(now))
        .collect();
    let overdue = items.iter().filter(|item| item.overdue(now)).count();
    let items = items
        .iter()
        .map(|item| privacy::in_list(item, item.assignee.as_deref(), &caller))
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(Worklist {
        kind: name.to_owned(),
        as_of: now,
        items,
        overdue,
        truncated,
    }))
}

/// A key limited to some categories sees their items only.
fn allowed(caller: &Caller, category: &str) -> bool {
    caller
        .key
        .categories
        .as_ref()
        .is_none_or(|allowed| allowed.iter().any(|c| c == category))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverQuery {
    /// One agent's open cases; everyone's if not given.
    pub agent: Option<String>,
}

/// What one agent hands over at the end of a shift (交接班).
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct AgentHandover {
    pub agent: String,
    pub open_cases: usize,
    /// Open cases whose SLA clocks are paused, waiting on someone.
    pub waiting_cases: usize,
    pub at_risk: usize,
    pub escalated: usize,
    /// Cases past a deadline.
    pub breached: usize,
    pub open_handoffs: usize,
    pub open_follow_ups: usize,
    pub revisits_due: usize,
    /// Items past their due time now (handoffs, follow-ups, revisits, and
    /// resolution deadlines).
    pub overdue: usize,
    pub cases: Vec<HandoverCase>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HandoverCase {
    pub case_id: Uuid,
    pub status: CaseStatus,
    pub priority: Priority,
    pub category: String,
    pub resolution_due: Option<DateTime<Utc>>,
    pub escalated_to: Option<String>,
    pub at_risk: bool,
    pub open_handoffs: usize,
    pub open_follow_ups: usize,
    pub revisits_due: usize,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Handover {
    pub as_of: DateTime<Utc>,
    /// By agent; cases nobody is assigned to under the agent "".
    pub agents: Vec<AgentHandover>,
    pub truncated: bool,
}

async fn handover(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Handover>, ApiError> {
    caller.require(HANDOVER_READERS, "read the shift handover")?;
    let params: HandoverQuery = query(raw)?;
    caller.spend(&state, Cost::Report)?;
    let now = state.inner.clock.now();
    let mut agents: BTreeMap<String, AgentHandover> = BTreeMap::new();
    let mut truncated = false;
    for status in [CaseStatus::Open, CaseStatus::Waiting] {
        let filter = CaseFilter {
            status: Some(status),
            assignee: params.agent.clone(),
            ..CaseFilter::default()
        };
        let mut cursor = None;
        let mut read = 0;
        loop {
            let page =
                case_views::list(&state.inner.read_db, &filter, cursor.as_deref(), 500).await?;
            read += page.cases.len();
            for view in page.cases.iter().filter(|v| allowed(&caller, &v.category)) {
                let agent = view.assignee.clone().unwrap_or_default();
                let entry = agents
                    .entry(agent.clone())
                    .or_insert_with(|| AgentHandover {
                        agent,
                        ..AgentHandover::default()
                    });
                add(entry, view, now);
            }
            match page.next {
                Some(_) if read >= worklists::MAX_CASES => {
                    truncated = true;
                    break;
                }
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(Json(Handover {
        as_of: now,
        agents: agents.into_values().collect(),
        truncated,
    }))
}

fn add(agent: &mut AgentHandover, view: &CaseView, now: DateTime<Utc>) {
    let at_risk = view.sla.at_risk_since.is_some();
    agent.open_cases += 1;
    agent.waiting_cases += usize::from(view.status == CaseStatus::Waiting);
    agent.at_risk += usize::from(at_risk);
    agent.escalated += usize::from(view.escalated_to.is_some());
    agent.breached += usize::from(view.breached());
    agent.open_handoffs += view.open_handoffs.len();
    agent.open_follow_ups += view.follow_ups.len();
    agent.revisits_due += view.revisits_due.len();
    let late = |due: Option<DateTime<Utc>>| usize::from(due.is_some_and(|due| due < now));
    agent.overdue += late(view.sla.resolution_due)
        + view
            .open_handoffs
            .values()
            .map(|h| late(Some(h.due_at)))
            .sum::<usize>()
        + view
            .follow_ups
            .values()
            .map(|f| late(f.due_at))
            .sum::<usize>()
        + view
            .revisits_due
            .values()
            .map(|r| late(Some(r.due_at)))
            .sum::<usize>();
    agent.cases.push(HandoverCase {
        case_id: view.case_id,
        status: view.status,
        priority: view.priority,
        category: view.category.clone(),
        resolution_due: view.sla.resolution_due,
        escalated_to: view.escalated_to.clone(),
        at_risk,
        open_handoffs: view.open_handoffs.len(),
        open_follow_ups: view.follow_ups.len(),
        revisits_due: view.revisits_due.len(),
    });
}
