//! The case as its events leave it: only what the rules need.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::events::*;
use crate::model::{Category, Department, Order, ParcelClass, Priority, RefundKind, ReturnCause};
use crate::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// No `CaseRegistered` yet.
    #[default]
    New,
    Open,
    Closed,
    /// Merged into another case; read-only from then on.
    Merged,
}

#[derive(Debug, Clone, Default)]
pub struct Sla {
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub paused_since: Option<DateTime<Utc>>,
    pub breached: Vec<SlaClock>,
    /// When to warn of the resolution deadline, and whether that warning
    /// was given for the deadline in force.
    pub resolution_warn_at: Option<DateTime<Utc>>,
    pub warned: bool,
    pub escalated: bool,
}

impl Sla {
    /// A new resolution deadline: warned of and breached anew.
    fn set_resolution(&mut self, due: Option<DateTime<Utc>>, warn_at: Option<DateTime<Utc>>) {
        if due != self.resolution_due {
            self.breached.retain(|clock| *clock != SlaClock::Resolution);
            self.warned = false;
        }
        self.resolution_due = due;
        self.resolution_warn_at = warn_at;
    }
}

/// The 4-day rule as the SOP set it, for parcels reported before the log
/// recorded each policy.
const SOP_UNREACHABLE_RETURN_HOURS: u32 = 96;

#[derive(Debug, Clone)]
pub struct Parcel {
    pub class: ParcelClass,
    pub carrier: String,
    pub reported_at: DateTime<Utc>,
    /// Hours an unreachable customer has before the parcel goes back.
    pub unreachable_return_hours: u32,
    pub photos: usize,
    pub loss_confirmed: bool,
    pub reshipped: bool,
    pub recalled: bool,
    pub returned_to_sender: bool,
}

impl Parcel {
    /// Reshipped, returned or picked up: nothing left to chase.
    pub fn is_settled(&self) -> bool {
        self.reshipped || self.returned_to_sender
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnStage {
    Requested,
    Authorised,
    Received,
    Inspected,
    Restocked,
}

#[derive(Debug, Clone)]
pub struct Return {
    pub cause: ReturnCause,
    pub no_reason: bool,
    pub stage: ReturnStage,
    pub received_quantity: u32,
    pub resellable: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStage {
    Requested,
    Approved,
    AutoAccepted,
    Rejected,
    Paid,
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub kind: RefundKind,
    pub amount: Money,
    pub stage: RefundStage,
    pub auto_accept_at: Option<DateTime<Utc>>,
    /// The platform's own deadline wins over the computed one.
    pub platform_deadline: Option<DateTime<Utc>>,
}

impl Refund {
    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        self.platform_deadline.or(self.auto_accept_at)
    }

    /// Money promised or paid back to the buyer.
    pub fn counts_against_paid(&self) -> bool {
        self.stage != RefundStage::Rejected
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStage {
    Pending,
    Granted,
    Rejected,
}

#[derive(Debug, Clone)]
pub struct Approval {
    pub subject: ApprovalSubject,
    pub requested_by: String,
    pub stage: ApprovalStage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStage {
    /// Waiting for its approval.
    Proposed,
    Granted,
    Rejected,
    Paid,
}

/// A compensation or a price-difference refund.
#[derive(Debug, Clone)]
pub struct Payout {
    pub amount: Money,
    pub stage: GrantStage,
    /// The issue compensated, or the reason for the price difference.
    pub why: String,
}

#[derive(Debug, Clone)]
pub struct Handoff {
    pub department: Department,
    pub due_at: DateTime<Utc>,
    pub confirmed: bool,
    pub answered: bool,
    pub escalated: bool,
}

#[derive(Debug, Clone)]
pub struct Revisit {
    pub recorded: bool,
}

#[derive(Debug, Clone)]
pub struct FollowUp {
    pub due_at: Option<DateTime<Utc>>,
    pub closed: bool,
}

#[derive(Debug, Clone)]
pub struct Claim {
    pub amount: Money,
    pub settled: bool,
}

#[derive(Debug, Clone)]
pub struct ReshipOrder {
    pub shipped: bool,
    pub signed_off: bool,
}

/// The case aggregate (售后工单), stream `case-<id>`.
#[derive(Debug, Clone, Default)]
pub struct Case {
    pub id: Option<Uuid>,
    pub status: Status,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    /// Flagged a complaint (投诉).
    pub complaint: bool,
    /// The customer was told the result since the case was (re)opened.
    pub result_told: bool,
    pub registered_at: Option<DateTime<Utc>>,
    pub assignee: Option<String>,
    pub order: Option<Order>,
    pub sla: Sla,
    /// The last time the customer was reached, by a call or a contact attempt.
    pub last_reached_at: Option<DateTime<Utc>>,
    /// Unanswered attempts since then.
    pub unanswered_attempts: Vec<DateTime<Utc>>,
    pub parcel: Option<Parcel>,
    pub claims: BTreeMap<Uuid, Claim>,
    pub ret: Option<Return>,
    pub exchange_cause: Option<ReturnCause>,
    /// The exchanged goods are back at the warehouse.
    pub exchange_received: bool,
    pub postage_advanced: Option<Money>,
    pub postage_reimbursed: Option<Money>,
    pub reship_orders: BTreeMap<Uuid, ReshipOrder>,
    pub refunds: BTreeMap<Uuid, Refund>,
    pub compensations: BTreeMap<Uuid, Payout>,
    pub price_refunds: BTreeMap<Uuid, Payout>,
    pub approvals: BTreeMap<Uuid, Approval>,
    pub handoffs: BTreeMap<Uuid, Handoff>,
    pub revisits: BTreeMap<Uuid, Revisit>,
    pub follow_ups: BTreeMap<Uuid, FollowUp>,
    /// Follow-ups ever opened, counting those without an id.
    pub follow_ups_opened: u32,
    /// The batch incident (批量故障) the case is one of.
    pub incident: Option<String>,
    pub split_into: Vec<Uuid>,
    pub merged_into: Option<Uuid>,
}

impl Case {
    /// Refunds and price-difference refunds promised or paid, in the order's
    /// currency: never more than the buyer paid.
    pub fn refund_commitments(&self) -> Option<Money> {
        let currency = self.order.as_ref()?.paid.currency;
        let refunds = self
            .refunds
            .values()
            .filter(|r| r.counts_against_paid())
            .map(|r| r.amount.minor);
        let price = self
            .price_refunds
            .values()
            .filter(|p| p.stage != GrantStage::Rejected)
            .map(|p| p.amount.minor);
        Some(Money {
            minor: refunds.chain(price).sum(),
            currency,
        })
    }

    /// What may still be refunded.
    pub fn refundable(&self) -> Option<Money> {
        let order = self.order.as_ref()?;
        let committed = self.refund_commitments()?;
        Some(Money {
            minor: order.paid.minor - committed.minor,
            currency: order.paid.currency,
        })
    }

    pub fn pending_approvals(&self) -> usize {
        self.approvals
            .values()
            .filter(|a| a.stage == ApprovalStage::Pending)
            .count()
    }

    pub fn pending_refunds(&self) -> usize {
        self.refunds
            .values()
            .filter(|r| r.stage == RefundStage::Requested)
            .count()
    }

    pub(super) fn apply(&mut self, event: &CaseEvent) {
        match event {
            CaseEvent::CaseRegistered(e) => {
                self.id = Some(e.case_id);
                self.status = Status::Open;
                self.category = Some(e.category);
                self.priority = Some(e.priority);
                self.registered_at = Some(e.registered_at);
                self.order = e.order.clone();
                self.sla.first_response_due = e.first_response_due;
                self.sla
                    .set_resolution(e.resolution_due, e.resolution_warn_at);
            }
            CaseEvent::CaseAssigned(e) => self.assignee = Some(e.agent_id.clone()),
            CaseEvent::PriorityChanged(e) => {
                self.priority = Some(e.priority);
                self.sla.first_response_due = e.first_response_due;
                self.sla
                    .set_resolution(e.resolution_due, e.resolution_warn_at);
            }
            CaseEvent::CategoryChanged(e) => self.category = Some(e.category),
            CaseEvent::ComplaintFlagged(e) => {
                self.complaint = true;
                self.sla.first_response_due = e.first_response_due;
                self.sla
                    .set_resolution(e.resolution_due, e.resolution_warn_at);
            }
            CaseEvent::FirstResponseRecorded(e) => self.sla.first_response_at = Some(e.at),
            CaseEvent::SlaPaused(e) => self.sla.paused_since = Some(e.at),
            CaseEvent::SlaResumed(e) => {
                self.sla.paused_since = None;
                self.sla.first_response_due = e.first_response_due;
                // The same deadline, later by the pause: a warning given
                // before the pause stays given.
                self.sla.resolution_due = e.resolution_due;
                self.sla.resolution_warn_at = e.resolution_warn_at;
            }
            CaseEvent::SlaAtRisk(_) => self.sla.warned = true,
            CaseEvent::SlaBreached(e) => self.sla.breached.push(e.clock),
            CaseEvent::CaseEscalated(_) => self.sla.escalated = true,
            CaseEvent::DeadlineAgreed(e) => {
                self.sla
                    .set_resolution(Some(e.resolution_due), e.resolution_warn_at);
                self.sla.escalated = false;
            }
            CaseEvent::CaseMergedInto(e) => {
                self.status = Status::Merged;
                self.merged_into = Some(e.survivor);
            }
            CaseEvent::CaseSplit(e) => self.split_into.push(e.new_case_id),
            CaseEvent::CallLogged(e) => {
                if e.with_customer {
                    self.contact(e.called_at, e.outcome.reached_customer());
                }
            }
            CaseEvent::CustomerContactAttempted(e) => self.contact(e.at, e.reached),
            CaseEvent::ParcelProblemReported(e) => {
                let previous = self.parcel.take();
                self.parcel = Some(Parcel {
                    class: e.class,
                    carrier: e.carrier.clone(),
                    reported_at: e.at,
                    unreachable_return_hours: e
                        .unreachable_return_hours
                        .unwrap_or(SOP_UNREACHABLE_RETURN_HOURS),
                    photos: previous.as_ref().map_or(0, |p| p.photos),
                    loss_confirmed: previous.as_ref().is_some_and(|p| p.loss_confirmed),
                    reshipped: false,
                    recalled: false,
                    returned_to_sender: false,
                });
            }
            CaseEvent::ParcelPhotosAdded(e) => {
                if let Some(parcel) = &mut self.parcel {
                    parcel.photos += e.photos.len();
                }
            }
            CaseEvent::ParcelLossConfirmed(_) => {
                if let Some(parcel) = &mut self.parcel {
                    parcel.loss_confirmed = true;
                }
            }
            CaseEvent::ParcelReshipped(_) => {
                if let Some(parcel) = &mut self.parcel {
                    parcel.reshipped = true;
                }
            }
            CaseEvent::ParcelRecalled(_) => {
                if let Some(parcel) = &mut self.parcel {
                    parcel.recalled = true;
                }
            }
            CaseEvent::ParcelTransferred(e) => {
                if let Some(parcel) = &mut self.parcel {
                    parcel.carrier = e.carrier.clone();
                }
            }
            CaseEvent::ParcelReturnedToSender(_) => {
                if let Some(parcel) = &mut self.parcel {
                    parcel.returned_to_sender = true;
                }
            }
            CaseEvent::CourierClaimFiled(e) => {
                self.claims.insert(
                    e.claim_id,
                    Claim {
                        amount: e.amount,
                        settled: false,
                    },
                );
            }
            CaseEvent::CourierClaimSettled(e) => {
                if let Some(claim) = self.claims.get_mut(&e.claim_id) {
                    claim.settled = true;
                }
            }
            CaseEvent::ReturnRequested(e) => {
                self.ret = Some(Return {
                    cause: e.cause,
                    no_reason: e.no_reason,
                    stage: ReturnStage::Requested,
                    received_quantity: 0,
                    resellable: None,
                });
            }
            CaseEvent::ReturnAuthorised(_) => self.return_stage(ReturnStage::Authorised),
            CaseEvent::ReturnParcelReceived(e) => {
                if let Some(ret) = &mut self.ret {
                    ret.stage = ReturnStage::Received;
                    ret.received_quantity = e.quantity;
                }
            }
            CaseEvent::ReturnInspected(e) => {
                if let Some(ret) = &mut self.ret {
                    ret.stage = ReturnStage::Inspected;
                    ret.resellable = Some(e.resellable);
                }
            }
            CaseEvent::ReturnRestocked(_) => self.return_stage(ReturnStage::Restocked),
            CaseEvent::ExchangeRequested(e) => self.exchange_cause = Some(e.cause),
            CaseEvent::ExchangeParcelReceived(_) => self.exchange_received = true,
            CaseEvent::PostageAdvancedByCustomer(e) => {
                self.postage_advanced = Some(add(self.postage_advanced, e.amount));
            }
            CaseEvent::PostageReimbursed(e) => {
                self.postage_reimbursed = Some(add(self.postage_reimbursed, e.amount));
            }
            CaseEvent::ReshipOrderCreated(e) => {
                self.reship_orders.insert(
                    e.reship_order_id,
                    ReshipOrder {
                        shipped: false,
                        signed_off: false,
                    },
                );
            }
            CaseEvent::ReshipOrderSignedOff(e) => {
                if let Some(order) = self.reship_orders.get_mut(&e.reship_order_id) {
                    order.signed_off = true;
                }
            }
            CaseEvent::ReshipOrderShipped(e) => {
                if let Some(order) = self.reship_orders.get_mut(&e.reship_order_id) {
                    order.shipped = true;
                }
            }
            CaseEvent::RefundRequested(e) => {
                self.refunds.insert(
                    e.refund_id,
                    Refund {
                        kind: e.kind,
                        amount: e.amount,
                        stage: RefundStage::Requested,
                        auto_accept_at: e.auto_accept_at,
                        platform_deadline: None,
                    },
                );
            }
            CaseEvent::PlatformRefundDeadlineRecorded(e) => {
                if let Some(refund) = self.refunds.get_mut(&e.refund_id) {
                    refund.platform_deadline = Some(e.deadline);
                }
            }
            CaseEvent::RefundApproved(e) => self.refund_stage(e.refund_id, RefundStage::Approved),
            CaseEvent::RefundAutoAccepted(e) => {
                self.refund_stage(e.refund_id, RefundStage::AutoAccepted);
            }
            CaseEvent::RefundRejected(e) => self.refund_stage(e.refund_id, RefundStage::Rejected),
            CaseEvent::RefundPaid(e) => self.refund_stage(e.refund_id, RefundStage::Paid),
            CaseEvent::CompensationGranted(e) => {
                self.compensations.insert(
                    e.compensation_id,
                    Payout {
                        amount: e.amount,
                        stage: GrantStage::Granted,
                        why: e.issue.clone(),
                    },
                );
            }
            CaseEvent::CompensationProposed(e) => {
                self.compensations.insert(
                    e.compensation_id,
                    Payout {
                        amount: e.amount,
                        stage: GrantStage::Proposed,
                        why: e.issue.clone(),
                    },
                );
            }
            CaseEvent::CompensationPaid(e) => {
                if let Some(c) = self.compensations.get_mut(&e.compensation_id) {
                    c.stage = GrantStage::Paid;
                }
            }
            CaseEvent::PriceDifferenceRefundRequested(e) => {
                self.price_refunds.insert(
                    e.price_refund_id,
                    Payout {
                        amount: e.amount,
                        stage: if e.approval_id.is_some() {
                            GrantStage::Proposed
                        } else {
                            GrantStage::Granted
                        },
                        why: e.reason.clone(),
                    },
                );
            }
            CaseEvent::PriceDifferenceRefundPaid(e) => {
                if let Some(p) = self.price_refunds.get_mut(&e.price_refund_id) {
                    p.stage = GrantStage::Paid;
                }
            }
            CaseEvent::ApprovalRequested(e) => {
                self.approvals.insert(
                    e.approval_id,
                    Approval {
                        subject: e.subject.clone(),
                        requested_by: e.requested_by.clone(),
                        stage: ApprovalStage::Pending,
                    },
                );
            }
            CaseEvent::ApprovalGranted(e) => self.settle_approval(e.approval_id, true),
            CaseEvent::ApprovalRejected(e) => self.settle_approval(e.approval_id, false),
            CaseEvent::CaseHandedOff(e) => {
                self.handoffs.insert(
                    e.handoff_id,
                    Handoff {
                        department: e.department,
                        due_at: e.due_at,
                        confirmed: false,
                        answered: false,
                        escalated: false,
                    },
                );
            }
            CaseEvent::DepartmentResponded(e) => {
                if let Some(h) = self.handoffs.get_mut(&e.handoff_id) {
                    h.answered = true;
                }
            }
            CaseEvent::HandoffConfirmed(e) => {
                if let Some(h) = self.handoffs.get_mut(&e.handoff_id) {
                    h.confirmed = true;
                }
            }
            CaseEvent::HandoffEscalated(e) => {
                if let Some(h) = self.handoffs.get_mut(&e.handoff_id) {
                    h.escalated = true;
                }
            }
            CaseEvent::RevisitScheduled(e) => {
                self.revisits
                    .insert(e.revisit_id, Revisit { recorded: false });
            }
            CaseEvent::RevisitRecorded(e) => {
                if let Some(r) = self.revisits.get_mut(&e.revisit_id) {
                    r.recorded = true;
                }
            }
            CaseEvent::CaseClosed(_) => self.status = Status::Closed,
            CaseEvent::CaseReopened(e) => {
                self.status = Status::Open;
                self.sla
                    .set_resolution(e.resolution_due, e.resolution_warn_at);
                self.result_told = false;
            }
            CaseEvent::FollowUpOpened(e) => {
                self.follow_ups_opened += 1;
                if let Some(id) = e.follow_up_id {
                    self.follow_ups.insert(
                        id,
                        FollowUp {
                            due_at: e.due_at,
                            closed: false,
                        },
                    );
                }
            }
            CaseEvent::FollowUpClosed(e) => {
                if let Some(follow_up) = self.follow_ups.get_mut(&e.follow_up_id) {
                    follow_up.closed = true;
                }
            }
            CaseEvent::CustomerInformed(e) => {
                self.result_told |= e.about == InformedAbout::Result;
            }
            CaseEvent::CaseLinkedToIncident(e) => self.incident = Some(e.incident.clone()),
            CaseEvent::ParcelChased(_)
            | CaseEvent::ReceiptExtended(_)
            | CaseEvent::SelfPickupArranged(_)
            | CaseEvent::CaseNoteAdded(_)
            | CaseEvent::RootCauseRecorded(_)
            | CaseEvent::CustomerFeedbackRecorded(_) => {}
        }
    }

    fn contact(&mut self, at: DateTime<Utc>, reached: bool) {
        if reached {
            if self.last_reached_at.is_none_or(|last| at > last) {
                self.last_reached_at = Some(at);
            }
            self.unanswered_attempts.retain(|attempt| *attempt > at);
        } else if self.last_reached_at.is_none_or(|last| at > last) {
            self.unanswered_attempts.push(at);
        }
    }

    fn return_stage(&mut self, stage: ReturnStage) {
        if let Some(ret) = &mut self.ret {
            ret.stage = stage;
        }
    }

    fn refund_stage(&mut self, id: Uuid, stage: RefundStage) {
        if let Some(refund) = self.refunds.get_mut(&id) {
            refund.stage = stage;
        }
    }

    fn settle_approval(&mut self, id: Uuid, granted: bool) {
        let Some(approval) = self.approvals.get_mut(&id) else {
            return;
        };
        approval.stage = if granted {
            ApprovalStage::Granted
        } else {
            ApprovalStage::Rejected
        };
        let stage = if granted {
            GrantStage::Granted
        } else {
            GrantStage::Rejected
        };
        match &approval.subject {
            ApprovalSubject::Compensation {
                compensation_id, ..
            } => {
                if let Some(c) = self.compensations.get_mut(compensation_id) {
                    c.stage = stage;
                }
            }
            ApprovalSubject::PriceDifferenceRefund {
                price_refund_id, ..
            } => {
                if let Some(p) = self.price_refunds.get_mut(price_refund_id) {
                    p.stage = stage;
                }
            }
            ApprovalSubject::UnverifiedShortShipmentReship { .. }
            | ApprovalSubject::Exception { .. } => {}
        }
    }
}

fn add(total: Option<Money>, amount: Money) -> Money {
    Money {
        minor: total.map_or(0, |t| t.minor) + amount.minor,
        currency: amount.currency,
    }
}
