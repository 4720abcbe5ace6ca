//! The worklists a team works from (回访计划, 跟进, 对接, 升级, 交接班):
//! every open revisit, follow-up and handoff, and the cases escalated or
//! warned of their deadline, read from the case views.
//!
//! A worklist is open work, so it stays small however long the log grows:
//! it is read whole, from the cases tagged with an open item of its kind,
//! and sorted by when each item falls due.

use aftersales_domain::model::{Department, Priority};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::case_views::{self, CaseFilter, CaseView, WorkItemKind};
use crate::db::ReadDb;
use crate::error::ProjectionError;

/// One open item of a worklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkItem {
    pub kind: WorkItemKind,
    pub case_id: Uuid,
    /// The revisit's, follow-up's or handoff's id; none for an escalated or
    /// warned case, which is the item itself.
    pub item_id: Option<Uuid>,
    /// When it falls due: the revisit's, follow-up's or handoff's time, or
    /// the case's resolution deadline.
    pub due_at: Option<DateTime<Utc>>,
    /// Who is to act: a follow-up's owner, else the case's assignee.
    pub owner: Option<String>,
    /// The department a handoff waits on.
    pub department: Option<Department>,
    /// What the item is: a revisit's kind, a follow-up's reason, a
    /// handoff's state (waiting, confirmed by …, escalated to …), to whom
    /// a case was escalated.
    pub detail: String,
    pub priority: Priority,
    pub category: String,
    /// The case's assignee.
    pub assignee: Option<String>,
}

impl WorkItem {
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.due_at.is_some_and(|due| due < now)
    }
}

/// The open items of `kind` on one case.
pub fn items(view: &CaseView, kind: WorkItemKind) -> Vec<WorkItem> {
    let item = |item_id, due_at, owner: Option<&String>, department, detail: String| WorkItem {
        kind,
        case_id: view.case_id,
        item_id,
        due_at,
        owner: owner.or(view.assignee.as_ref()).cloned(),
        department,
        detail,
        priority: view.priority,
        category: view.category.clone(),
        assignee: view.assignee.clone(),
    };
    let open = view.closed_at.is_none() && view.merged_into.is_none();
    match kind {
        WorkItemKind::Revisit => view
            .revisits_due
            .iter()
            .map(|(id, revisit)| {
                let detail = case_views::serde_plain(&revisit.kind);
                item(Some(*id), Some(revisit.due_at), None, None, detail)
            })
            .collect(),
        WorkItemKind::FollowUp => view
            .follow_ups
            .iter()
            .map(|(id, follow_up)| {
                let owner = follow_up.owner.as_ref();
                item(
                    Some(*id),
                    follow_up.due_at,
                    owner,
                    None,
                    follow_up.reason.clone(),
                )
            })
            .collect(),
        WorkItemKind::Handoff => view
            .open_handoffs
            .iter()
            .map(|(id, handoff)| {
                let detail = match (&handoff.escalated_to, &handoff.confirmed_by) {
                    (Some(to), _) => format!("escalated to {to}"),
                    (None, Some(by)) => format!("confirmed by {by}"),
                    (None, None) => "waiting for the department".to_owned(),
                };
                let due = Some(handoff.due_at);
                item(Some(*id), due, None, Some(handoff.department), detail)
            })
            .collect(),
        WorkItemKind::Escalation => match &view.escalated_to {
            Some(to) if open => {
                vec![item(None, view.sla.resolution_due, None, None, to.clone())]
            }
            _ => Vec::new(),
        },
        WorkItemKind::AtRisk => match view.sla.at_risk_since {
            Some(since) if open && view.escalated_to.is_none() => vec![item(
                None,
                view.sla.resolution_due,
                None,
                None,
                format!("warned at {}", since.to_rfc3339()),
            )],
            _ => Vec::new(),
        },
    }
}

/// Most cases a worklist reads: open work, not the log's history.
pub const MAX_CASES: usize = 20_000;
const PAGE: usize = 500;

/// Every open item of `kind` on the cases `filter` selects, soonest due
/// first (items without a due time last); `true` with them when more than
/// [`MAX_CASES`] cases had one and the list stops there.
pub async fn worklist(
    db: &ReadDb,
    kind: WorkItemKind,
    filter: &CaseFilter,
) -> Result<(Vec<WorkItem>, bool), ProjectionError> {
    let filter = CaseFilter {
        open_item: Some(kind),
        ..filter.clone()
    };
    let mut list = Vec::new();
    let mut cursor = None;
    let mut cases = 0;
    loop {
        let page = case_views::list(db, &filter, cursor.as_deref(), PAGE).await?;
        cases += page.cases.len();
        list.extend(page.cases.iter().flat_map(|view| items(view, kind)));
        match page.next {
            Some(next) if cases < MAX_CASES => cursor = Some(next),
            Some(_) => {
                sort(&mut list);
                return Ok((list, true));
            }
            None => {
                sort(&mut list);
                return Ok((list, false));
            }
        }
    }
}

fn sort(list: &mut [WorkItem]) {
    list.sort_by_key(|item| {
        (
            item.due_at.is_none(),
            item.due_at,
            item.case_id,
            item.item_id,
        )
    });
}
