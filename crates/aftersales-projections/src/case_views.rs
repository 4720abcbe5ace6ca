//! Case views: the current state of every case and its timeline, and the
//! searchable case list (售后服务登记表 as the team reads it today).
//!
//! A case's timeline is kept as rows of its own, one per event, appended
//! once: inside the case's document, every command on the case would
//! rewrite it whole.

use std::collections::BTreeMap;

use aftersales_domain::case::{ApprovalSubject, CaseEvent, SlaClock};
use aftersales_domain::model::{
    Customer, Department, ParcelClass, Priority, ReturnCause, RevisitKind,
};
use aftersales_domain::{DomainEvent as _, Money};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::docs::Docs;
use crate::envelope::{AnyEvent, Envelope};
use crate::error::ProjectionError;
use crate::projection::{DocKey, Projection};

pub const CASE: &str = "case";
/// The collection of timeline entries, keyed by case and revision.
const TIMELINE: &str = "timeline";

/// The case views read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaseViews;

/// Where a case stands, as lists filter it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Open,
    /// Open, with an SLA clock paused (waiting for the customer).
    Waiting,
    Closed,
    Merged,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Waiting => "waiting",
            Self::Closed => "closed",
            Self::Merged => "merged",
        }
    }
}

/// A case as the team sees it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseView {
    pub case_id: Uuid,
    pub status: CaseStatus,
    pub priority: Priority,
    pub category: String,
    /// Why the case is a complaint (投诉), once it is flagged one.
    #[serde(default)]
    pub complaint: Option<String>,
    pub channel: String,
    pub customer: Customer,
    pub order_no: Option<String>,
    pub product: String,
    pub product_model: Option<String>,
    pub phenomenon: String,
    /// The batch incident (批量故障) the case is one of, its batch and the
    /// root cause found.
    #[serde(default)]
    pub incident: Option<String>,
    #[serde(default)]
    pub batch: Option<String>,
    #[serde(default)]
    pub root_cause: Option<String>,
    pub registered_at: DateTime<Utc>,
    /// Who registered the case: its owner until it is assigned.
    #[serde(default)]
    pub registered_by: Option<String>,
    pub assignee: Option<String>,
    /// When the case went to its assignee: their first unmasked read after
    /// it is recorded.
    #[serde(default)]
    pub assigned_at: Option<DateTime<Utc>>,
    pub sla: SlaView,
    pub escalated_to: Option<String>,
    pub open_approvals: BTreeMap<Uuid, ApprovalView>,
    pub parcel: Option<ParcelView>,
    pub goods_return: Option<ReturnView>,
    pub exchange: Option<String>,
    pub open_handoffs: BTreeMap<Uuid, HandoffView>,
    pub refunds: BTreeMap<Uuid, RefundView>,
    pub money: MoneyTotals,
    pub calls: u32,
    pub revisits: u32,
    /// Revisits scheduled and not yet recorded.
    #[serde(default)]
    pub revisits_due: BTreeMap<Uuid, RevisitDueView>,
    pub last_score: Option<u8>,
    pub open_follow_ups: u32,
    /// The open follow-ups that can be closed one by one.
    #[serde(default)]
    pub follow_ups: BTreeMap<Uuid, FollowUpView>,
    pub resolution: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub customer_confirmed: Option<bool>,
    pub merged_into: Option<Uuid>,
    pub split_from: Option<Uuid>,
    pub split_into: Vec<Uuid>,
    /// The stream revision of the last event: the case's ETag.
    pub revision: u64,
    /// The log position of the case's last change.
    pub position: u64,
    pub updated_at: DateTime<Utc>,
}

/// A case with its timeline, as `GET /v1/cases/{id}` answers it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: CaseView,
    /// Every event of the case, oldest first: the stored entries passed on
    /// as they are, since nothing in them is masked.
    #[schemars(with = "Vec<TimelineEntry>")]
    pub timeline: Box<serde_json::value::RawValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlaView {
    pub first_response_due: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub first_response_on_time: Option<bool>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub resolved_on_time: Option<bool>,
    pub paused_since: Option<DateTime<Utc>>,
    pub breaches: Vec<SlaClock>,
    /// When the owner was warned that the resolution deadline draws near.
    #[serde(default)]
    pub at_risk_since: Option<DateTime<Utc>>,
    /// The deadline a supervisor agreed on an escalation, once one did.
    #[serde(default)]
    pub agreed_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RevisitDueView {
    pub kind: RevisitKind,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FollowUpView {
    pub reason: String,
    pub owner: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub opened_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalView {
    pub subject: String,
    pub amount: Option<Money>,
    pub requested_by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParcelView {
    pub tracking_no: String,
    pub carrier: String,
    pub class: ParcelClass,
    pub photos: u32,
    pub chased: u32,
    pub loss_confirmed: bool,
    pub reshipped: Vec<String>,
    pub recalled: bool,
    pub transferred_to: Option<String>,
    pub returned_to_sender: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReturnView {
    pub cause: ReturnCause,
    pub no_reason: bool,
    /// requested | authorised | received | inspected | restocked
    pub state: String,
    pub received: u32,
    pub resellable: Option<bool>,
    pub restocked: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HandoffView {
    pub department: Department,
    pub due_at: DateTime<Utc>,
    /// Who in the department took it on, once someone did.
    #[serde(default)]
    pub confirmed_by: Option<String>,
    /// To whom it went when its time was up unanswered.
    #[serde(default)]
    pub escalated_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefundView {
    pub amount: Money,
    /// requested | approved | auto_accepted | rejected | paid
    pub state: String,
    pub deadline: Option<DateTime<Utc>>,
}

/// Money on the case, in minor units of the case's currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MoneyTotals {
    pub currency: Option<String>,
    pub order_paid: i64,
    pub refunds_requested: i64,
    pub refunds_approved: i64,
    pub refunds_paid: i64,
    pub compensation_granted: i64,
    pub compensation_paid: i64,
    pub price_difference_requested: i64,
    pub price_difference_paid: i64,
    pub postage_advanced: i64,
    pub postage_reimbursed: i64,
    pub claims_filed: i64,
    pub claims_settled: i64,
}

/// One event of the case, as its timeline lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TimelineEntry {
    pub revision: u64,
    pub position: u64,
    pub at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub event_type: String,
    pub actor: String,
    pub role: Option<String>,
}

/// The key of a case's timeline entry: the case, then the revision with
/// leading zeros, so that keys sort as revisions do.
fn timeline_key(case_id: Uuid, revision: u64) -> String {
    format!("{case_id}/{revision:020}")
}

impl CaseView {
    pub fn breached(&self) -> bool {
        !self.sla.breaches.is_empty()
    }

    /// Whose case it is: its assignee, or until it has one, who registered
    /// it. The owner sees the customer's personal data.
    pub fn owner(&self) -> Option<&str> {
        self.assignee.as_deref().or(self.registered_by.as_deref())
    }

    fn status_now(&self) -> CaseStatus {
        if self.merged_into.is_some() {
            CaseStatus::Merged
        } else if self.closed_at.is_some() {
            CaseStatus::Closed
        } else if self.sla.paused_since.is_some() {
            CaseStatus::Waiting
        } else {
            CaseStatus::Open
        }
    }
}

impl Projection for CaseViews {
    type Doc = CaseView;
    const NAME: &'static str = "case_views";
    const VERSION: u32 = 9;

    fn reads(&self, event: &Envelope, keys: &mut Vec<DocKey>) {
        if let AnyEvent::Case(_) = event.event {
            keys.push((CASE, event.aggregate_id.to_string()));
        }
    }

    fn apply(&self, event: &Envelope, docs: &mut Docs<CaseView>) -> Result<(), ProjectionError> {
        let AnyEvent::Case(case_event) = &event.event else {
            return Ok(());
        };
        let key = event.aggregate_id.to_string();
        if let CaseEvent::CaseRegistered(registered) = case_event {
            let view = CaseView {
                case_id: event.aggregate_id,
                status: CaseStatus::Open,
                priority: registered.priority,
                category: registered.category.as_str().to_owned(),
                complaint: None,
                channel: serde_plain(&registered.channel),
                customer: registered.customer.clone(),
                order_no: registered
                    .order
                    .as_ref()
                    .map(|order| order.order_no.clone()),
                product: registered.product.name.clone(),
                product_model: registered.product.model.clone(),
                phenomenon: registered.problem.phenomenon.clone(),
                incident: None,
                batch: None,
                root_cause: None,
                registered_at: registered.registered_at,
                registered_by: Some(event.actor().to_owned()),
                assignee: None,
                assigned_at: None,
                sla: SlaView {
                    first_response_due: registered.first_response_due,
                    resolution_due: registered.resolution_due,
                    ..SlaView::default()
                },
                escalated_to: None,
                open_approvals: BTreeMap::new(),
                parcel: None,
                goods_return: None,
                exchange: None,
                open_handoffs: BTreeMap::new(),
                refunds: BTreeMap::new(),
                money: MoneyTotals {
                    currency: registered
                        .order
                        .as_ref()
                        .map(|order| order.paid.currency.as_str().to_owned()),
                    order_paid: registered
                        .order
                        .as_ref()
                        .map_or(0, |order| order.paid.minor),
                    ..MoneyTotals::default()
                },
                calls: 0,
                revisits: 0,
                revisits_due: BTreeMap::new(),
                last_score: None,
                open_follow_ups: 0,
                follow_ups: BTreeMap::new(),
                resolution: None,
                closed_at: None,
                customer_confirmed: None,
                merged_into: None,
                split_from: registered.split_from,
                split_into: Vec::new(),
                revision: 0,
                position: 0,
                updated_at: event.recorded_at,
            };
            docs.put(CASE, key.clone(), view);
        }
        let view = docs
            .get_mut(CASE, &key)
            .ok_or_else(|| ProjectionError::Inconsistent {
                position: event.position,
                reason: format!("{} before the case was registered", case_event.event_type()),
            })?;
        evolve(view, case_event);
        view.status = view.status_now();
        view.revision = event.revision;
        view.position = event.position;
        view.updated_at = event.recorded_at;
        docs.append(
            TIMELINE,
            timeline_key(event.aggregate_id, event.revision),
            &TimelineEntry {
                revision: event.revision,
                position: event.position,
                at: event.recorded_at,
                event_type: case_event.event_type().to_owned(),
                actor: event.actor().to_owned(),
                role: event.actor_role.clone(),
            },
        )
    }

    fn sort_key(&self, view: &CaseView) -> String {
        sortable_time(view.registered_at)
    }

    fn tags(&self, view: &CaseView, tags: &mut Vec<(&'static str, String)>) {
        tags.push((CHANGED, changed_term(view.position)));
        tags.push(("status", view.status.as_str().to_owned()));
        tags.push(("priority", format!("{:?}", view.priority)));
        tags.push(("category", view.category.clone()));
        tags.push(("phone", view.customer.phone.clone()));
        tags.push(("breached", view.breached().to_string()));
        // The worklists: cases with something open on them.
        for (item, open) in [
            (WorkItemKind::Handoff, !view.open_handoffs.is_empty()),
            (WorkItemKind::FollowUp, !view.follow_ups.is_empty()),
            (WorkItemKind::Revisit, !view.revisits_due.is_empty()),
        ] {
            if open {
                tags.push(("open_item", item.as_str().to_owned()));
            }
        }
        if view.closed_at.is_none() && view.merged_into.is_none() {
            if view.escalated_to.is_some() {
                tags.push(("open_item", WorkItemKind::Escalation.as_str().to_owned()));
            } else if view.sla.at_risk_since.is_some() {
                tags.push(("open_item", WorkItemKind::AtRisk.as_str().to_owned()));
            }
        }
        if let Some(assignee) = &view.assignee {
            tags.push(("assignee", assignee.clone()));
        }
        if let Some(incident) = &view.incident {
            tags.push(("incident", incident.clone()));
        }
        if let Some(order_no) = &view.order_no {
            tags.push(("order_no", order_no.clone()));
        }
        if let Some(buyer_id) = &view.customer.buyer_id {
            tags.push(("buyer_id", buyer_id.clone()));
        }
        // A courier names a parcel by its waybill (运单号): the first
        // parcel's and every reshipment's find the case.
        if let Some(parcel) = &view.parcel {
            tags.push(("tracking_no", parcel.tracking_no.clone()));
            for reshipped in &parcel.reshipped {
                tags.push(("tracking_no", reshipped.clone()));
            }
        }
    }
}

fn evolve(view: &mut CaseView, event: &CaseEvent) {
    let money = &mut view.money;
    match event {
        CaseEvent::CaseRegistered(_) => {}
        CaseEvent::CaseAssigned(e) => {
            view.assignee = Some(e.agent_id.clone());
            view.assigned_at = Some(e.at);
        }
        CaseEvent::PriorityChanged(e) => {
            view.priority = e.priority;
            view.sla.first_response_due = e.first_response_due;
            view.sla.resolution_due = e.resolution_due;
            view.sla.at_risk_since = None;
        }
        CaseEvent::CategoryChanged(e) => view.category = e.category.as_str().to_owned(),
        CaseEvent::ComplaintFlagged(e) => {
            view.complaint = Some(e.reason.clone());
            view.sla.first_response_due = e.first_response_due;
            view.sla.resolution_due = e.resolution_due;
        }
        CaseEvent::FirstResponseRecorded(e) => {
            view.sla.first_response_at = Some(e.at);
            view.sla.first_response_on_time = Some(e.on_time);
        }
        CaseEvent::SlaPaused(e) => view.sla.paused_since = Some(e.at),
        CaseEvent::SlaResumed(e) => {
            view.sla.paused_since = None;
            view.sla.first_response_due = e.first_response_due;
            view.sla.resolution_due = e.resolution_due;
        }
        CaseEvent::SlaAtRisk(e) => view.sla.at_risk_since = Some(e.at),
        CaseEvent::SlaBreached(e) => {
            if !view.sla.breaches.contains(&e.clock) {
                view.sla.breaches.push(e.clock);
            }
        }
        CaseEvent::CaseEscalated(e) => view.escalated_to = Some(e.to.clone()),
        CaseEvent::DeadlineAgreed(e) => {
            view.sla.resolution_due = Some(e.resolution_due);
            view.sla.at_risk_since = None;
            view.sla.agreed_by = Some(e.agreed_by.clone());
            view.escalated_to = None;
        }
        CaseEvent::CaseMergedInto(e) => view.merged_into = Some(e.survivor),
        CaseEvent::CaseSplit(e) => view.split_into.push(e.new_case_id),
        CaseEvent::CallLogged(_) => view.calls += 1,
        CaseEvent::CustomerContactAttempted(_) => {}
        CaseEvent::ParcelProblemReported(e) => {
            view.parcel = Some(ParcelView {
                tracking_no: e.tracking_no.clone(),
                carrier: e.carrier.clone(),
                class: e.class,
                photos: 0,
                chased: 0,
                loss_confirmed: false,
                reshipped: Vec::new(),
                recalled: false,
                transferred_to: None,
                returned_to_sender: false,
            });
        }
        CaseEvent::ParcelPhotosAdded(e) => with_parcel(view, |p| p.photos += count(e.photos.len())),
        CaseEvent::ParcelChased(_) => with_parcel(view, |p| p.chased += 1),
        CaseEvent::ReceiptExtended(_) => {}
        CaseEvent::ParcelLossConfirmed(_) => with_parcel(view, |p| p.loss_confirmed = true),
        CaseEvent::ParcelReshipped(e) => {
            with_parcel(view, |p| p.reshipped.push(e.tracking_no.clone()))
        }
        CaseEvent::ParcelRecalled(_) => with_parcel(view, |p| p.recalled = true),
        CaseEvent::ParcelTransferred(e) => {
            with_parcel(view, |p| p.transferred_to = Some(e.carrier.clone()))
        }
        CaseEvent::SelfPickupArranged(_) => {}
        CaseEvent::ParcelReturnedToSender(_) => with_parcel(view, |p| p.returned_to_sender = true),
        CaseEvent::CourierClaimFiled(e) => money.claims_filed += e.amount.minor,
        CaseEvent::CourierClaimSettled(e) => money.claims_settled += e.amount.minor,
        CaseEvent::ReturnRequested(e) => {
            view.goods_return = Some(ReturnView {
                cause: e.cause,
                no_reason: e.no_reason,
                state: "requested".to_owned(),
                received: 0,
                resellable: None,
                restocked: 0,
            });
        }
        CaseEvent::ReturnAuthorised(_) => with_return(view, |r| r.state = "authorised".to_owned()),
        CaseEvent::ReturnParcelReceived(e) => with_return(view, |r| {
            r.state = "received".to_owned();
            r.received += e.quantity;
        }),
        CaseEvent::ReturnInspected(e) => with_return(view, |r| {
            r.state = "inspected".to_owned();
            r.resellable = Some(e.resellable);
        }),
        CaseEvent::ReturnRestocked(e) => with_return(view, |r| {
            r.state = "restocked".to_owned();
            r.restocked += e.quantity;
        }),
        CaseEvent::ExchangeRequested(_) => view.exchange = Some("requested".to_owned()),
        CaseEvent::ExchangeParcelReceived(_) => view.exchange = Some("received".to_owned()),
        CaseEvent::PostageAdvancedByCustomer(e) => money.postage_advanced += e.amount.minor,
        CaseEvent::PostageReimbursed(e) => money.postage_reimbursed += e.amount.minor,
        CaseEvent::ReshipOrderCreated(_) => {
            if view.exchange.is_some() {
                view.exchange = Some("reship_ordered".to_owned());
            }
        }
        // The reship register shows who signed it off.
        CaseEvent::ReshipOrderSignedOff(_) => {}
        CaseEvent::ReshipOrderShipped(_) => {
            if view.exchange.is_some() {
                view.exchange = Some("shipped".to_owned());
            }
        }
        CaseEvent::RefundRequested(e) => {
            money.refunds_requested += e.amount.minor;
            view.refunds.insert(
                e.refund_id,
                RefundView {
                    amount: e.amount,
                    state: "requested".to_owned(),
                    deadline: e.auto_accept_at,
                },
            );
        }
        CaseEvent::PlatformRefundDeadlineRecorded(e) => {
            if let Some(refund) = view.refunds.get_mut(&e.refund_id) {
                refund.deadline = Some(e.deadline);
            }
        }
        CaseEvent::RefundApproved(e) => approve_refund(view, e.refund_id, "approved"),
        CaseEvent::RefundAutoAccepted(e) => approve_refund(view, e.refund_id, "auto_accepted"),
        CaseEvent::RefundRejected(e) => {
            if let Some(refund) = view.refunds.get_mut(&e.refund_id) {
                refund.state = "rejected".to_owned();
            }
        }
        CaseEvent::RefundPaid(e) => {
            money.refunds_paid += e.amount.minor;
            if let Some(refund) = view.refunds.get_mut(&e.refund_id) {
                refund.state = "paid".to_owned();
            }
        }
        CaseEvent::CompensationGranted(e) => money.compensation_granted += e.amount.minor,
        CaseEvent::CompensationProposed(_) => {}
        CaseEvent::CompensationPaid(e) => money.compensation_paid += e.amount.minor,
        CaseEvent::PriceDifferenceRefundRequested(e) => {
            money.price_difference_requested += e.amount.minor
        }
        CaseEvent::PriceDifferenceRefundPaid(e) => money.price_difference_paid += e.amount.minor,
        CaseEvent::ApprovalRequested(e) => {
            let (subject, amount) = match &e.subject {
                ApprovalSubject::Compensation { amount, .. } => ("compensation", Some(*amount)),
                ApprovalSubject::PriceDifferenceRefund { amount, .. } => {
                    ("price_difference_refund", Some(*amount))
                }
                ApprovalSubject::UnverifiedShortShipmentReship { .. } => {
                    ("unverified_short_shipment_reship", None)
                }
                ApprovalSubject::Exception { .. } => ("exception", None),
            };
            view.open_approvals.insert(
                e.approval_id,
                ApprovalView {
                    subject: subject.to_owned(),
                    amount,
                    requested_by: e.requested_by.clone(),
                    at: e.at,
                },
            );
        }
        CaseEvent::ApprovalGranted(e) => {
            view.open_approvals.remove(&e.approval_id);
        }
        CaseEvent::ApprovalRejected(e) => {
            view.open_approvals.remove(&e.approval_id);
        }
        CaseEvent::CaseHandedOff(e) => {
            view.open_handoffs.insert(
                e.handoff_id,
                HandoffView {
                    department: e.department,
                    due_at: e.due_at,
                    confirmed_by: None,
                    escalated_to: None,
                },
            );
        }
        CaseEvent::DepartmentResponded(e) => {
            view.open_handoffs.remove(&e.handoff_id);
        }
        CaseEvent::HandoffConfirmed(e) => {
            if let Some(handoff) = view.open_handoffs.get_mut(&e.handoff_id) {
                handoff.confirmed_by = Some(e.confirmed_by.clone());
            }
        }
        CaseEvent::HandoffEscalated(e) => {
            if let Some(handoff) = view.open_handoffs.get_mut(&e.handoff_id) {
                handoff.escalated_to = Some(e.to.clone());
            }
        }
        CaseEvent::CustomerInformed(_) | CaseEvent::CaseNoteAdded(_) => {}
        CaseEvent::CaseLinkedToIncident(e) => {
            view.incident = Some(e.incident.clone());
            view.batch.clone_from(&e.batch);
        }
        CaseEvent::RootCauseRecorded(e) => view.root_cause = Some(e.cause.clone()),
        CaseEvent::RevisitScheduled(e) => {
            view.revisits_due.insert(
                e.revisit_id,
                RevisitDueView {
                    kind: e.kind,
                    due_at: e.due_at,
                },
            );
        }
        CaseEvent::RevisitRecorded(e) => {
            view.revisits_due.remove(&e.revisit_id);
            view.revisits += 1;
            if let aftersales_domain::model::RevisitOutcome::Scored { score, .. } = e.outcome {
                view.last_score = Some(score);
            }
        }
        CaseEvent::FollowUpOpened(e) => {
            view.open_follow_ups += 1;
            if let Some(id) = e.follow_up_id {
                view.follow_ups.insert(
                    id,
                    FollowUpView {
                        reason: e.reason.clone(),
                        owner: e.owner.clone(),
                        due_at: e.due_at,
                        opened_at: e.at,
                    },
                );
            }
        }
        CaseEvent::FollowUpClosed(e) => {
            if view.follow_ups.remove(&e.follow_up_id).is_some() {
                view.open_follow_ups = view.open_follow_ups.saturating_sub(1);
            }
        }
        CaseEvent::CaseClosed(e) => {
            view.closed_at = Some(e.at);
            view.resolution = Some(serde_plain(&e.resolution));
            view.sla.resolved_on_time = e.on_time;
            view.sla.paused_since = None;
            // Follow-ups recorded without an id ended with the case.
            view.open_follow_ups = count(view.follow_ups.len());
        }
        CaseEvent::CustomerFeedbackRecorded(e) => view.customer_confirmed = Some(e.confirmed),
        CaseEvent::CaseReopened(e) => {
            view.closed_at = None;
            view.resolution = None;
            view.sla.resolved_on_time = None;
            view.sla.resolution_due = e.resolution_due;
            view.sla.at_risk_since = None;
            view.customer_confirmed = None;
        }
    }
}

fn approve_refund(view: &mut CaseView, refund_id: Uuid, state: &str) {
    if let Some(refund) = view.refunds.get_mut(&refund_id) {
        refund.state = state.to_owned();
        view.money.refunds_approved += refund.amount.minor;
    }
}

fn with_parcel(view: &mut CaseView, change: impl FnOnce(&mut ParcelView)) {
    if let Some(parcel) = view.parcel.as_mut() {
        change(parcel);
    }
}

fn with_return(view: &mut CaseView, change: impl FnOnce(&mut ReturnView)) {
    if let Some(goods_return) = view.goods_return.as_mut() {
        change(goods_return);
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The snake_case name serde gives a unit enum variant.
pub(crate) fn serde_plain<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A time as text that sorts in time order (fixed width, UTC).
pub(crate) fn sortable_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Filters of the case list; all given ones must match.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub phone: Option<String>,
    pub order_no: Option<String>,
    pub buyer_id: Option<String>,
    pub tracking_no: Option<String>,
    pub incident: Option<String>,
    pub category: Option<String>,
    pub breached: Option<bool>,
    /// Cases with an open item of this kind.
    pub open_item: Option<WorkItemKind>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_until: Option<DateTime<Utc>>,
}

/// What a worklist lists: each kind a case can have open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkItemKind {
    /// A revisit scheduled and not yet made.
    Revisit,
    /// A follow-up not yet closed.
    FollowUp,
    /// A handoff the department has not answered.
    Handoff,
    /// An open case escalated and not yet given a new deadline.
    Escalation,
    /// An open case warned that its resolution deadline draws near.
    AtRisk,
}

impl WorkItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revisit => "revisit",
            Self::FollowUp => "follow_up",
            Self::Handoff => "handoff",
            Self::Escalation => "escalation",
            Self::AtRisk => "at_risk",
        }
    }
}

/// A page of the case list and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CasePage {
    pub cases: Vec<CaseView>,
    /// Pass back to get the page after this one; stable while cases are added.
    pub next: Option<String>,
}

fn table() -> String {
    crate::runner::table_name(CaseViews::NAME, crate::runner::Target::Live)
}

/// One case's view.
pub async fn get(db: &crate::ReadDb, case_id: Uuid) -> Result<Option<CaseView>, ProjectionError> {
    let rows = db.load(&table(), CASE, &[case_id.to_string()]).await?;
    rows.into_iter()
        .next()
        .map(|(key, doc)| {
            serde_json::from_str(&doc)
                .map_err(|e| ProjectionError::CorruptRow(format!("case {key}: {e}")))
        })
        .transpose()
}

/// One case's view with its timeline, read together.
pub async fn detail(
    db: &crate::ReadDb,
    case_id: Uuid,
) -> Result<Option<CaseDetail>, ProjectionError> {
    let found = db
        .load_with_entries(
            &table(),
            CASE,
            &case_id.to_string(),
            TIMELINE,
            (&timeline_key(case_id, 0), &timeline_key(case_id, u64::MAX)),
        )
        .await?;
    let Some((doc, timeline)) = found else {
        return Ok(None);
    };
    let corrupt =
        |e: serde_json::Error| ProjectionError::CorruptRow(format!("case {case_id}: {e}"));
    Ok(Some(CaseDetail {
        case: serde_json::from_str(&doc).map_err(corrupt)?,
        timeline: serde_json::value::RawValue::from_string(timeline).map_err(corrupt)?,
    }))
}

/// The search term that orders cases by their last change.
const CHANGED: &str = "changed";

/// A position as a term that sorts as the number does.
fn changed_term(position: u64) -> String {
    format!("{position:020}")
}

/// Cases changed after a log position, in the order of their last change
/// (Zendesk's incremental export): a case changed again after it was
/// exported comes again, later; since the read models apply the log in
/// order, a case never changes behind a position already passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangedCases {
    pub cases: Vec<CaseView>,
    /// The position to ask from next: the last change exported, or `after`
    /// when nothing had changed.
    pub next: u64,
    /// Whether every change the read model holds was exported.
    pub end_of_stream: bool,
}

pub async fn changed_since(
    db: &crate::ReadDb,
    after: u64,
    limit: usize,
) -> Result<ChangedCases, ProjectionError> {
    let rows = db
        .after_term(&table(), CASE, CHANGED, &changed_term(after), limit)
        .await?;
    let end_of_stream = rows.len() < limit;
    let mut next = after;
    let mut cases = Vec::with_capacity(rows.len());
    for (_, row) in rows {
        let view: CaseView = parse(&row)?;
        next = next.max(view.position);
        cases.push(view);
    }
    Ok(ChangedCases {
        cases,
        next,
        end_of_stream,
    })
}

/// A page of cases in registration order, after `cursor`.
pub async fn list(
    db: &crate::ReadDb,
    filter: &CaseFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<CasePage, ProjectionError> {
    let (cases, next) = page_of(db, filter, cursor, limit).await?;
    Ok(CasePage { cases, next })
}

/// A page of the case list as stored JSON, for an answer that passes the
/// documents on: reading each into a [`CaseView`] and writing it out again
/// would cost most of the answer's time.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseDocPage {
    /// Each case's stored JSON text.
    pub cases: Vec<String>,
    pub next: Option<String>,
}

/// [`list`], as stored JSON.
pub async fn list_docs(
    db: &crate::ReadDb,
    filter: &CaseFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<CaseDocPage, ProjectionError> {
    let (rows, next) = db.page(&table(), list_query(filter, limit), cursor).await?;
    let cases = rows.into_iter().map(|row| row.doc).collect();
    Ok(CaseDocPage { cases, next })
}

async fn page_of<T: serde::de::DeserializeOwned>(
    db: &crate::ReadDb,
    filter: &CaseFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), ProjectionError> {
    let (rows, next) = db.page(&table(), list_query(filter, limit), cursor).await?;
    let cases = rows.iter().map(parse).collect::<Result<_, _>>()?;
    Ok((cases, next))
}

fn list_query(filter: &CaseFilter, limit: usize) -> crate::ListQuery {
    let mut tags = Vec::new();
    let mut tag = |field: &'static str, value: Option<String>| {
        if let Some(value) = value {
            tags.push((field, value));
        }
    };
    tag("status", filter.status.map(|s| s.as_str().to_owned()));
    tag("priority", filter.priority.map(|p| format!("{p:?}")));
    tag("assignee", filter.assignee.clone());
    tag("phone", filter.phone.clone());
    tag("order_no", filter.order_no.clone());
    tag("buyer_id", filter.buyer_id.clone());
    tag("tracking_no", filter.tracking_no.clone());
    tag("incident", filter.incident.clone());
    tag("category", filter.category.clone());
    tag("breached", filter.breached.map(|b| b.to_string()));
    tag("open_item", filter.open_item.map(|k| k.as_str().to_owned()));
    crate::ListQuery {
        collection: CASE,
        tags,
        sort_from: filter.created_from.map(sortable_time),
        sort_until: filter.created_until.map(sortable_time),
        after: None,
        limit,
    }
}

fn parse<T: serde::de::DeserializeOwned>(row: &crate::DocRow) -> Result<T, ProjectionError> {
    serde_json::from_str(&row.doc)
        .map_err(|e| ProjectionError::CorruptRow(format!("case {}: {e}", row.key)))
}
