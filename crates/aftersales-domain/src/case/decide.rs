//! The rules: given the case and a command, the events that happen or the
//! rule that stops them.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::commands::*;
use super::events::*;
use super::state::*;
use crate::actor::Role;
use crate::aggregate::Context;
use crate::error::DomainError;
use crate::model::{
    check_list, check_optional, require_short, require_text, Category, ParcelClass, PlatformState,
    Priority, RefundKind, ReturnCause, RevisitOutcome, MAX_LIST_ITEMS,
};
use crate::money::Money;
use crate::policy::hours;

type Decision = Result<Vec<CaseEvent>, DomainError>;

/// How far in the future a reported time may lie (clock skew between devices).
const CLOCK_SKEW_MINUTES: i64 = 5;

impl Case {
    pub(super) fn decide_command(&self, command: &CaseCommand, ctx: &Context<'_>) -> Decision {
        if let CaseCommand::RegisterCase(c) = command {
            return self.register(c, ctx);
        }
        match self.status {
            Status::New => return Err(DomainError::CaseNotRegistered),
            Status::Merged => {
                return Err(DomainError::CaseMerged {
                    survivor: self.merged_into.unwrap_or_default(),
                })
            }
            Status::Closed => {
                if !matches!(
                    command,
                    CaseCommand::ReopenCase(_)
                        | CaseCommand::RecordCustomerFeedback(_)
                        | CaseCommand::ExecuteRefund(_)
                        | CaseCommand::PayCompensation(_)
                        | CaseCommand::PayPriceDifferenceRefund(_)
                        | CaseCommand::SettleCourierClaim(_)
                        | CaseCommand::ScheduleRevisit(_)
                        | CaseCommand::RecordRevisit(_)
                        | CaseCommand::ReimbursePostage(_)
                        | CaseCommand::AddCaseNote(_)
                ) {
                    return Err(DomainError::CaseClosed);
                }
            }
            Status::Open => {}
        }
        let now = ctx.now;
        match command {
            CaseCommand::RegisterCase(_) => Err(DomainError::CaseAlreadyRegistered),
            CaseCommand::AssignCase(c) => {
                require_short("agent_id", &c.agent_id)?;
                if self.assignee.as_deref() == Some(c.agent_id.as_str()) {
                    return Err(DomainError::AlreadyAssigned);
                }
                // Taking over a colleague's case brings the customer's
                // personal data with it: a supervisor decides that.
                if let Some(assignee) = &self.assignee {
                    if ctx.actor.role == Role::Agent && c.agent_id == ctx.actor.id {
                        return Err(DomainError::TakeoverNeedsSupervisor {
                            assignee: assignee.clone(),
                        });
                    }
                }
                Ok(vec![CaseAssigned {
                    agent_id: c.agent_id.clone(),
                    previous_agent_id: self.assignee.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::PauseSla(c) => {
                if self.sla.paused_since.is_some() {
                    return Err(DomainError::SlaAlreadyPaused);
                }
                Ok(vec![SlaPaused {
                    reason: c.reason,
                    at: now,
                }
                .into()])
            }
            CaseCommand::ResumeSla(_) => self.resume(ctx),
            CaseCommand::RecordSlaBreach(c) => self.breach(c.clock, ctx),
            CaseCommand::MergeCase(c) => {
                if c.survivor == ctx.aggregate_id {
                    return Err(DomainError::invalid(
                        "survivor",
                        "a case cannot be merged into itself",
                    ));
                }
                Ok(vec![CaseMergedInto {
                    survivor: c.survivor,
                    at: now,
                }
                .into()])
            }
            CaseCommand::SplitCase(c) => {
                require_text("reason", &c.reason)?;
                if c.new_case_id == ctx.aggregate_id || self.split_into.contains(&c.new_case_id) {
                    return Err(DomainError::invalid(
                        "new_case_id",
                        "names this case or one already split off",
                    ));
                }
                Ok(vec![CaseSplit {
                    new_case_id: c.new_case_id,
                    reason: c.reason.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::LogCall(c) => self.log_call(c, ctx),
            CaseCommand::RecordContactAttempt(c) => {
                let mut events = vec![CaseEvent::from(CustomerContactAttempted {
                    channel: c.channel,
                    reached: c.reached,
                    at: now,
                })];
                if c.reached {
                    events.extend(self.first_response(now));
                }
                Ok(events)
            }
            CaseCommand::ReportParcelProblem(c) => {
                require_short("tracking_no", &c.tracking_no)?;
                require_short("carrier", &c.carrier)?;
                check_optional("note", &c.note)?;
                Ok(vec![ParcelProblemReported {
                    tracking_no: c.tracking_no.clone(),
                    carrier: c.carrier.clone(),
                    class: c.class,
                    note: c.note.clone(),
                    at: now,
                    unreachable_return_hours: (c.class == ParcelClass::DifficultByCustomer)
                        .then_some(ctx.policy.unreachable_return_hours),
                }
                .into()])
            }
            CaseCommand::AddParcelPhotos(c) => {
                self.parcel()?;
                if c.photos.is_empty() {
                    return Err(DomainError::invalid(
                        "photos",
                        "give 1 to 20 photo references",
                    ));
                }
                check_list("photos", &c.photos, 20)?;
                Ok(vec![ParcelPhotosAdded {
                    photos: c.photos.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ChaseParcel(c) => {
                self.open_parcel()?;
                require_text("note", &c.note)?;
                Ok(vec![ParcelChased {
                    note: c.note.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ExtendReceipt(c) => {
                self.open_parcel()?;
                if !(1..=30).contains(&c.days) {
                    return Err(DomainError::invalid(
                        "days",
                        "extend receipt by 1 to 30 days",
                    ));
                }
                if self
                    .order
                    .as_ref()
                    .is_some_and(|o| o.platform_state == PlatformState::TradeSucceeded)
                {
                    return Err(DomainError::TradeAlreadyCompleted);
                }
                Ok(vec![ReceiptExtended {
                    days: c.days,
                    at: now,
                }
                .into()])
            }
            CaseCommand::ConfirmParcelLost(c) => {
                let parcel = self.open_parcel()?;
                require_short("courier_reference", &c.courier_reference)?;
                if parcel.class != ParcelClass::Lost {
                    return Err(DomainError::ParcelClassMismatch { needed: "lost" });
                }
                Ok(vec![ParcelLossConfirmed {
                    courier_reference: c.courier_reference.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ReshipParcel(c) => {
                let parcel = self.open_parcel()?;
                require_short("tracking_no", &c.tracking_no)?;
                require_short("carrier", &c.carrier)?;
                require_text("items", &c.items)?;
                require_text("reason", &c.reason)?;
                match parcel.class {
                    ParcelClass::Damaged if parcel.photos < 2 => {
                        return Err(DomainError::DamagedParcelNeedsPhotos {
                            have: parcel.photos,
                            need: 2,
                        })
                    }
                    ParcelClass::Lost if !parcel.loss_confirmed => {
                        return Err(DomainError::LostParcelNeedsCourierConfirmation)
                    }
                    _ => {}
                }
                Ok(vec![ParcelReshipped {
                    reship_id: c.reship_id,
                    tracking_no: c.tracking_no.clone(),
                    carrier: c.carrier.clone(),
                    items: c.items.clone(),
                    reason: c.reason.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::RecallParcel(_) => {
                let parcel = self.parcel()?;
                if parcel.recalled {
                    return Err(DomainError::AlreadyDone {
                        what: "the parcel was recalled",
                    });
                }
                Ok(vec![ParcelRecalled { at: now }.into()])
            }
            CaseCommand::TransferToCarrier(c) => {
                self.open_parcel()?;
                require_short("carrier", &c.carrier)?;
                require_short("tracking_no", &c.tracking_no)?;
                Ok(vec![ParcelTransferred {
                    carrier: c.carrier.clone(),
                    tracking_no: c.tracking_no.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ArrangeSelfPickup(c) => {
                self.open_parcel()?;
                require_text("location", &c.location)?;
                Ok(vec![SelfPickupArranged {
                    location: c.location.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ReturnParcelToSender(c) => self.return_to_sender(c, ctx),
            CaseCommand::FileCourierClaim(c) => {
                let parcel = self.parcel()?;
                if !parcel.class.is_courier_liable() {
                    return Err(DomainError::ParcelClassMismatch {
                        needed: "damaged or lost",
                    });
                }
                c.amount.check_positive("amount")?;
                if self.claims.contains_key(&c.claim_id) {
                    return Err(DomainError::AlreadyDone {
                        what: "this claim was filed",
                    });
                }
                Ok(vec![CourierClaimFiled {
                    claim_id: c.claim_id,
                    carrier: parcel.carrier.clone(),
                    amount: c.amount,
                    at: now,
                }
                .into()])
            }
            CaseCommand::SettleCourierClaim(c) => {
                let claim = self
                    .claims
                    .get(&c.claim_id)
                    .ok_or(DomainError::Unknown { what: "claim" })?;
                if claim.settled {
                    return Err(DomainError::AlreadyDone {
                        what: "the claim was settled",
                    });
                }
                c.amount.check_positive("amount")?;
                if c.amount.currency != claim.amount.currency || c.amount.minor > claim.amount.minor
                {
                    return Err(DomainError::invalid(
                        "amount",
                        "a settlement cannot exceed the claim",
                    ));
                }
                Ok(vec![CourierClaimSettled {
                    claim_id: c.claim_id,
                    amount: c.amount,
                    at: now,
                }
                .into()])
            }
            CaseCommand::RequestReturn(c) => {
                require_text("sub_reason", &c.sub_reason)?;
                if self.ret.is_some() {
                    return Err(DomainError::AlreadyDone {
                        what: "a return was requested",
                    });
                }
                if !c.goods_shipped {
                    return Err(DomainError::NotShippedRefundInstead);
                }
                if c.no_reason && !c.resellable {
                    return Err(DomainError::NoReasonReturnNotResellable);
                }
                Ok(vec![ReturnRequested {
                    cause: c.cause,
                    sub_reason: c.sub_reason.clone(),
                    no_reason: c.no_reason,
                    postage_bearer: c.cause.postage_bearer(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::AuthoriseReturn(c) => {
                require_text("return_address", &c.return_address)?;
                self.return_at(ReturnStage::Requested)?;
                Ok(vec![ReturnAuthorised {
                    return_address: c.return_address.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ReceiveReturnParcel(c) => {
                require_short("tracking_no", &c.tracking_no)?;
                if c.quantity == 0 || c.quantity > 10_000 {
                    return Err(DomainError::invalid("quantity", "must be 1 to 10000"));
                }
                self.return_at(ReturnStage::Authorised)?;
                Ok(vec![ReturnParcelReceived {
                    tracking_no: c.tracking_no.clone(),
                    quantity: c.quantity,
                    at: now,
                }
                .into()])
            }
            CaseCommand::InspectReturn(c) => {
                self.return_at(ReturnStage::Received)?;
                if !c.resellable && c.photos.is_empty() {
                    return Err(DomainError::DamageNeedsPhotos);
                }
                check_list("photos", &c.photos, MAX_LIST_ITEMS)?;
                check_optional("note", &c.note)?;
                Ok(vec![ReturnInspected {
                    resellable: c.resellable,
                    photos: c.photos.clone(),
                    note: c.note.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::RestockReturn(c) => {
                let ret = self.return_at(ReturnStage::Inspected)?;
                if ret.resellable != Some(true) {
                    return Err(DomainError::NotResellable);
                }
                if c.quantity == 0 || c.quantity > ret.received_quantity {
                    return Err(DomainError::invalid(
                        "quantity",
                        "restock 1 up to the quantity received",
                    ));
                }
                Ok(vec![ReturnRestocked {
                    quantity: c.quantity,
                    at: now,
                }
                .into()])
            }
            CaseCommand::RequestExchange(c) => {
                require_text("reason", &c.reason)?;
                if self.exchange_cause.is_some() {
                    return Err(DomainError::AlreadyDone {
                        what: "an exchange was requested",
                    });
                }
                // Only a buyer's own wish depends on the goods' state: a
                // faulty or wrongly shipped item is exchanged whatever it is
                // like (换货 SOP: 产品在影响二次销售情况下买家要求换货).
                if !c.resellable && c.cause == ReturnCause::Customer {
                    return Err(DomainError::ExchangeNotResellable);
                }
                Ok(vec![ExchangeRequested {
                    cause: c.cause,
                    reason: c.reason.clone(),
                    postage_bearer: c.cause.postage_bearer(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ReceiveExchangeParcel(c) => {
                require_short("tracking_no", &c.tracking_no)?;
                if c.quantity == 0 || c.quantity > 10_000 {
                    return Err(DomainError::invalid("quantity", "must be 1 to 10000"));
                }
                if self.exchange_cause.is_none() {
                    return Err(DomainError::NoReturnOrExchange);
                }
                if self.exchange_received {
                    return Err(DomainError::AlreadyDone {
                        what: "the exchanged goods were received",
                    });
                }
                Ok(vec![ExchangeParcelReceived {
                    tracking_no: c.tracking_no.clone(),
                    quantity: c.quantity,
                    at: now,
                }
                .into()])
            }
            CaseCommand::RecordAdvancedPostage(c) => {
                c.amount.check_positive("amount")?;
                if self.exchange_cause.is_none() && self.ret.is_none() {
                    return Err(DomainError::NoReturnOrExchange);
                }
                Ok(vec![PostageAdvancedByCustomer {
                    amount: c.amount,
                    at: now,
                }
                .into()])
            }
            CaseCommand::ReimbursePostage(c) => {
                c.amount.check_positive("amount")?;
                let cause = self.exchange_cause.or(self.ret.as_ref().map(|r| r.cause));
                if !matches!(cause, Some(ReturnCause::Company | ReturnCause::Quality)) {
                    return Err(DomainError::PostageNotReimbursable);
                }
                let advanced = self
                    .postage_advanced
                    .ok_or(DomainError::PostageNotReimbursable)?;
                let reimbursed = self.postage_reimbursed.map_or(0, |m| m.minor);
                if c.amount.currency != advanced.currency
                    || reimbursed + c.amount.minor > advanced.minor
                {
                    return Err(DomainError::ReimbursementExceedsAdvanced {
                        advanced: advanced.minor,
                        reimbursed,
                    });
                }
                Ok(vec![PostageReimbursed {
                    amount: c.amount,
                    at: now,
                }
                .into()])
            }
            CaseCommand::CreateReshipOrder(c) => {
                require_short("stock_name", &c.stock_name)?;
                require_text("reason", &c.reason)?;
                if c.quantity == 0 || c.quantity > 10_000 {
                    return Err(DomainError::invalid("quantity", "must be 1 to 10000"));
                }
                if self.reship_orders.contains_key(&c.reship_order_id) {
                    return Err(DomainError::AlreadyDone {
                        what: "this reship order was created",
                    });
                }
                if c.verified_by_weight == Some(false) {
                    let granted = c
                        .approval_id
                        .and_then(|id| self.approvals.get(&id))
                        .is_some_and(|a| {
                            a.stage == ApprovalStage::Granted
                                && matches!(
                                    a.subject,
                                    ApprovalSubject::UnverifiedShortShipmentReship { .. }
                                )
                        });
                    if !granted {
                        return Err(DomainError::UnverifiedReshipNeedsApproval);
                    }
                }
                Ok(vec![ReshipOrderCreated {
                    reship_order_id: c.reship_order_id,
                    stock_name: c.stock_name.clone(),
                    quantity: c.quantity,
                    reason: c.reason.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ShipReshipOrder(c) => {
                require_short("tracking_no", &c.tracking_no)?;
                require_short("carrier", &c.carrier)?;
                let order =
                    self.reship_orders
                        .get(&c.reship_order_id)
                        .ok_or(DomainError::Unknown {
                            what: "reship order",
                        })?;
                if order.shipped {
                    return Err(DomainError::AlreadyDone {
                        what: "the reship order was shipped",
                    });
                }
                Ok(vec![ReshipOrderShipped {
                    reship_order_id: c.reship_order_id,
                    tracking_no: c.tracking_no.clone(),
                    carrier: c.carrier.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::RequestRefund(c) => self.request_refund(c, ctx),
            CaseCommand::RecordPlatformRefundDeadline(c) => {
                let refund = self.refund(c.refund_id)?;
                if refund.stage != RefundStage::Requested {
                    return Err(DomainError::RefundNotPending);
                }
                // A deadline already passed would have the scheduler accept
                // the refund at once, on nobody's decision.
                if c.deadline <= now {
                    return Err(DomainError::invalid(
                        "deadline",
                        "a platform deadline still ahead; this one has passed",
                    ));
                }
                Ok(vec![PlatformRefundDeadlineRecorded {
                    refund_id: c.refund_id,
                    deadline: c.deadline,
                    at: now,
                }
                .into()])
            }
            CaseCommand::ApproveRefund(c) => {
                if self.refund(c.refund_id)?.stage != RefundStage::Requested {
                    return Err(DomainError::RefundNotPending);
                }
                Ok(vec![RefundApproved {
                    refund_id: c.refund_id,
                    at: now,
                }
                .into()])
            }
            CaseCommand::AutoAcceptRefund(c) => {
                let refund = self.refund(c.refund_id)?;
                if refund.stage != RefundStage::Requested {
                    return Err(DomainError::RefundNotPending);
                }
                match refund.deadline() {
                    Some(deadline) if now >= deadline => Ok(vec![RefundAutoAccepted {
                        refund_id: c.refund_id,
                        deadline,
                        at: now,
                    }
                    .into()]),
                    deadline => Err(DomainError::NotDueYet { due: deadline }),
                }
            }
            CaseCommand::RejectRefund(c) => {
                if self.refund(c.refund_id)?.stage != RefundStage::Requested {
                    return Err(DomainError::RefundNotPending);
                }
                if c.reason.trim().is_empty() || c.evidence.is_empty() {
                    return Err(DomainError::RejectionNeedsReasonAndEvidence);
                }
                require_text("reason", &c.reason)?;
                check_list("evidence", &c.evidence, MAX_LIST_ITEMS)?;
                Ok(vec![RefundRejected {
                    refund_id: c.refund_id,
                    reason: c.reason.clone(),
                    evidence: c.evidence.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ExecuteRefund(c) => {
                let refund = self.refund(c.refund_id)?;
                if !matches!(
                    refund.stage,
                    RefundStage::Approved | RefundStage::AutoAccepted
                ) {
                    return Err(DomainError::RefundNotApproved);
                }
                require_short("reference", &c.reference)?;
                Ok(vec![RefundPaid {
                    refund_id: c.refund_id,
                    amount: refund.amount,
                    channel: c.channel,
                    reference: c.reference.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::OfferCompensation(c) => {
                c.amount.check_positive("amount")?;
                require_text("issue", &c.issue)?;
                if self.compensations.contains_key(&c.compensation_id) {
                    return Err(DomainError::AlreadyDone {
                        what: "this compensation was offered",
                    });
                }
                let limit = ctx.policy.approvals.compensation_limit.for_order(
                    self.order.as_ref().and_then(|o| o.postage),
                    c.amount.currency,
                );
                let within_limit = limit
                    .is_some_and(|l| l.currency == c.amount.currency && c.amount.minor <= l.minor);
                if within_limit {
                    return Ok(vec![CompensationGranted {
                        compensation_id: c.compensation_id,
                        amount: c.amount,
                        issue: c.issue.clone(),
                        approval_id: None,
                        at: now,
                    }
                    .into()]);
                }
                self.check_new_approval(c.approval_id)?;
                Ok(vec![
                    CompensationProposed {
                        compensation_id: c.compensation_id,
                        amount: c.amount,
                        issue: c.issue.clone(),
                        approval_id: c.approval_id,
                        at: now,
                    }
                    .into(),
                    ApprovalRequested {
                        approval_id: c.approval_id,
                        subject: ApprovalSubject::Compensation {
                            compensation_id: c.compensation_id,
                            amount: c.amount,
                        },
                        requested_by: ctx.actor.id.clone(),
                        at: now,
                    }
                    .into(),
                ])
            }
            CaseCommand::PayCompensation(c) => {
                let compensation =
                    self.compensations
                        .get(&c.compensation_id)
                        .ok_or(DomainError::Unknown {
                            what: "compensation",
                        })?;
                if compensation.stage != GrantStage::Granted {
                    return Err(DomainError::NotGranted {
                        what: "compensation",
                    });
                }
                require_short("reference", &c.reference)?;
                Ok(vec![CompensationPaid {
                    compensation_id: c.compensation_id,
                    amount: compensation.amount,
                    channel: c.channel,
                    reference: c.reference.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::RequestPriceDifferenceRefund(c) => {
                c.amount.check_positive("amount")?;
                require_text("reason", &c.reason)?;
                if self.price_refunds.contains_key(&c.price_refund_id) {
                    return Err(DomainError::AlreadyDone {
                        what: "this price-difference refund was requested",
                    });
                }
                self.check_refundable(c.amount)?;
                if c.amount.minor <= ctx.policy.approvals.price_difference_limit_fen {
                    return Ok(vec![PriceDifferenceRefundRequested {
                        price_refund_id: c.price_refund_id,
                        amount: c.amount,
                        reason: c.reason.clone(),
                        approval_id: None,
                        at: now,
                    }
                    .into()]);
                }
                self.check_new_approval(c.approval_id)?;
                Ok(vec![
                    PriceDifferenceRefundRequested {
                        price_refund_id: c.price_refund_id,
                        amount: c.amount,
                        reason: c.reason.clone(),
                        approval_id: Some(c.approval_id),
                        at: now,
                    }
                    .into(),
                    ApprovalRequested {
                        approval_id: c.approval_id,
                        subject: ApprovalSubject::PriceDifferenceRefund {
                            price_refund_id: c.price_refund_id,
                            amount: c.amount,
                        },
                        requested_by: ctx.actor.id.clone(),
                        at: now,
                    }
                    .into(),
                ])
            }
            CaseCommand::PayPriceDifferenceRefund(c) => {
                let payout =
                    self.price_refunds
                        .get(&c.price_refund_id)
                        .ok_or(DomainError::Unknown {
                            what: "price-difference refund",
                        })?;
                if payout.stage != GrantStage::Granted {
                    return Err(DomainError::NotGranted {
                        what: "price-difference refund",
                    });
                }
                require_short("reference", &c.reference)?;
                Ok(vec![PriceDifferenceRefundPaid {
                    price_refund_id: c.price_refund_id,
                    amount: payout.amount,
                    channel: c.channel,
                    reference: c.reference.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::RequestApproval(c) => {
                match &c.subject {
                    ApprovalSubject::UnverifiedShortShipmentReship { description }
                    | ApprovalSubject::Exception { description } => {
                        require_text("subject.description", description)?
                    }
                    _ => return Err(DomainError::invalid(
                        "subject",
                        "compensations and price-difference refunds ask for approval themselves",
                    )),
                }
                if c.subject_is_short_shipment() && self.category != Some(Category::WarehouseError)
                {
                    return Err(DomainError::invalid(
                        "subject",
                        "a short-shipment reship belongs to a warehouse-error case",
                    ));
                }
                self.check_new_approval(c.approval_id)?;
                Ok(vec![ApprovalRequested {
                    approval_id: c.approval_id,
                    subject: c.subject.clone(),
                    requested_by: ctx.actor.id.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ApproveRequest(c) => {
                let approval = self.pending_approval(c.approval_id, ctx)?;
                check_optional("note", &c.note)?;
                let mut events = vec![CaseEvent::from(ApprovalGranted {
                    approval_id: c.approval_id,
                    approved_by: ctx.actor.id.clone(),
                    note: c.note.clone(),
                    at: now,
                })];
                if let ApprovalSubject::Compensation {
                    compensation_id,
                    amount,
                } = &approval.subject
                {
                    let issue = self
                        .compensations
                        .get(compensation_id)
                        .map(|c| c.why.clone())
                        .unwrap_or_default();
                    events.push(
                        CompensationGranted {
                            compensation_id: *compensation_id,
                            amount: *amount,
                            issue,
                            approval_id: Some(c.approval_id),
                            at: now,
                        }
                        .into(),
                    );
                }
                Ok(events)
            }
            CaseCommand::RejectRequest(c) => {
                self.pending_approval(c.approval_id, ctx)?;
                require_text("reason", &c.reason)?;
                Ok(vec![ApprovalRejected {
                    approval_id: c.approval_id,
                    rejected_by: ctx.actor.id.clone(),
                    reason: c.reason.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::HandOffCase(c) => {
                require_text("question", &c.question)?;
                if !(1..=720).contains(&c.respond_within_hours) {
                    return Err(DomainError::invalid(
                        "respond_within_hours",
                        "must be 1 to 720",
                    ));
                }
                if self.handoffs.contains_key(&c.handoff_id) {
                    return Err(DomainError::AlreadyDone {
                        what: "this handoff was made",
                    });
                }
                let due_at = ctx
                    .policy
                    .calendar
                    .add_business_time(now, hours(c.respond_within_hours))
                    .unwrap_or(now + hours(c.respond_within_hours));
                Ok(vec![CaseHandedOff {
                    handoff_id: c.handoff_id,
                    department: c.department,
                    question: c.question.clone(),
                    due_at,
                    at: now,
                }
                .into()])
            }
            CaseCommand::RecordDepartmentResponse(c) => {
                require_text("response", &c.response)?;
                let handoff = self
                    .handoffs
                    .get(&c.handoff_id)
                    .ok_or(DomainError::Unknown { what: "handoff" })?;
                if handoff.answered {
                    return Err(DomainError::AlreadyDone {
                        what: "the department answered",
                    });
                }
                Ok(vec![DepartmentResponded {
                    handoff_id: c.handoff_id,
                    response: c.response.clone(),
                    on_time: now <= handoff.due_at,
                    at: now,
                }
                .into()])
            }
            CaseCommand::InformCustomer(c) => {
                require_text("summary", &c.summary)?;
                let mut events = vec![CaseEvent::from(CustomerInformed {
                    channel: c.channel,
                    summary: c.summary.clone(),
                    at: now,
                })];
                events.extend(self.first_response(now));
                Ok(events)
            }
            CaseCommand::AddCaseNote(c) => {
                require_text("note", &c.note)?;
                Ok(vec![CaseNoteAdded {
                    note: c.note.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ScheduleRevisit(c) => {
                if self.revisits.contains_key(&c.revisit_id) {
                    return Err(DomainError::AlreadyDone {
                        what: "this revisit was scheduled",
                    });
                }
                if c.due_at < now - Duration::days(1) {
                    return Err(DomainError::invalid("due_at", "lies in the past"));
                }
                Ok(vec![RevisitScheduled {
                    revisit_id: c.revisit_id,
                    kind: c.kind,
                    due_at: c.due_at,
                    at: now,
                }
                .into()])
            }
            CaseCommand::RecordRevisit(c) => self.record_revisit(c, ctx),
            CaseCommand::CloseCase(c) => {
                require_text("solution", &c.solution)?;
                if self.pending_approvals() > 0 {
                    return Err(DomainError::OpenItems {
                        what: "approvals are pending",
                    });
                }
                if self.pending_refunds() > 0 {
                    return Err(DomainError::OpenItems {
                        what: "refunds await an answer",
                    });
                }
                let due = self.sla.resolution_due;
                Ok(vec![CaseClosed {
                    solution: c.solution.clone(),
                    resolution: c.resolution,
                    resolver: ctx.actor.id.clone(),
                    resolution_due: due,
                    on_time: due.map(|d| now <= d),
                    at: now,
                }
                .into()])
            }
            CaseCommand::RecordCustomerFeedback(c) => {
                if self.status != Status::Closed {
                    return Err(DomainError::CaseNotClosed);
                }
                check_optional("feedback", &c.feedback)?;
                Ok(vec![CustomerFeedbackRecorded {
                    confirmed: c.confirmed,
                    feedback: c.feedback.clone(),
                    at: now,
                }
                .into()])
            }
            CaseCommand::ReopenCase(c) => {
                if self.status != Status::Closed {
                    return Err(DomainError::CaseNotClosed);
                }
                require_text("reason", &c.reason)?;
                let resolution_due = self.priority.and_then(|p| {
                    let h = ctx.policy.sla(p).resolution_hours?;
                    ctx.policy.sla_calendar(p).add_business_time(now, hours(h))
                });
                Ok(vec![CaseReopened {
                    reason: c.reason.clone(),
                    resolution_due,
                    at: now,
                }
                .into()])
            }
        }
    }

    fn register(&self, c: &RegisterCase, ctx: &Context<'_>) -> Decision {
        if self.status != Status::New {
            return Err(DomainError::CaseAlreadyRegistered);
        }
        c.customer.validate()?;
        c.product.validate()?;
        c.problem.validate()?;
        if let Some(order) = &c.order {
            order.validate()?;
            if order.paid_at > ctx.now + Duration::minutes(CLOCK_SKEW_MINUTES) {
                return Err(DomainError::invalid("order.paid_at", "lies in the future"));
            }
            if ctx
                .policy
                .refund_timers(order.platform.as_deref())
                .is_none()
            {
                return Err(DomainError::invalid(
                    "order.platform",
                    "is not a platform of the shop's policy",
                ));
            }
        }
        let targets = ctx.policy.sla(c.priority);
        let calendar = ctx.policy.sla_calendar(c.priority);
        Ok(vec![CaseRegistered {
            case_id: ctx.aggregate_id,
            customer: c.customer.clone(),
            order: c.order.clone(),
            product: c.product.clone(),
            problem: c.problem.clone(),
            channel: c.channel,
            category: c.category,
            priority: c.priority,
            registered_at: ctx.now,
            first_response_due: calendar
                .add_business_time(ctx.now, hours(targets.first_response_hours)),
            resolution_due: targets
                .resolution_hours
                .and_then(|h| calendar.add_business_time(ctx.now, hours(h))),
            split_from: c.split_from,
        }
        .into()])
    }

    fn resume(&self, ctx: &Context<'_>) -> Decision {
        let Some(paused_at) = self.sla.paused_since else {
            return Err(DomainError::SlaNotPaused);
        };
        let calendar = match self.priority {
            Some(priority) => ctx.policy.sla_calendar(priority),
            None => std::borrow::Cow::Borrowed(&ctx.policy.calendar),
        };
        // What was left of each clock when it stopped now runs from here.
        let shift = |due: Option<DateTime<Utc>>| {
            due.map(|due| {
                let left = calendar.business_time_between(paused_at, due);
                calendar.add_business_time(ctx.now, left).unwrap_or(due)
            })
        };
        let first_response_due = if self.sla.first_response_at.is_some() {
            self.sla.first_response_due
        } else {
            shift(self.sla.first_response_due)
        };
        Ok(vec![SlaResumed {
            at: ctx.now,
            first_response_due,
            resolution_due: shift(self.sla.resolution_due),
        }
        .into()])
    }

    /// The scheduler's breach: only once per clock, only when overdue and
    /// running. A late P1 is escalated to the department manager.
    fn breach(&self, clock: SlaClock, ctx: &Context<'_>) -> Decision {
        if self.sla.breached.contains(&clock) {
            return Err(DomainError::AlreadyDone {
                what: "the breach was recorded",
            });
        }
        if self.sla.paused_since.is_some() {
            return Err(DomainError::SlaPaused);
        }
        let due = match clock {
            SlaClock::FirstResponse if self.sla.first_response_at.is_none() => {
                self.sla.first_response_due
            }
            SlaClock::FirstResponse => None,
            SlaClock::Resolution => self.sla.resolution_due,
        };
        let Some(due) = due.filter(|due| ctx.now > *due) else {
            return Err(DomainError::NotDueYet { due });
        };
        let mut events = vec![CaseEvent::from(SlaBreached {
            clock,
            due,
            at: ctx.now,
        })];
        if self.priority == Some(Priority::P1) && !self.sla.escalated {
            events.push(
                CaseEscalated {
                    to: "department_manager".to_owned(),
                    reason: format!(
                        "P1 {} deadline missed",
                        match clock {
                            SlaClock::FirstResponse => "first-response",
                            SlaClock::Resolution => "resolution",
                        }
                    ),
                    at: ctx.now,
                }
                .into(),
            );
        }
        Ok(events)
    }

    /// `FirstResponseRecorded` if this is the first time the customer hears back.
    fn first_response(&self, at: DateTime<Utc>) -> Option<CaseEvent> {
        if self.sla.first_response_at.is_some() {
            return None;
        }
        let due = self.sla.first_response_due;
        Some(
            FirstResponseRecorded {
                at,
                due,
                on_time: due.is_none_or(|d| at <= d),
            }
            .into(),
        )
    }

    fn log_call(&self, c: &LogCall, ctx: &Context<'_>) -> Decision {
        require_short("number", &c.number)?;
        require_text("content", &c.content)?;
        check_optional("party_name", &c.party_name)?;
        check_optional("product", &c.product)?;
        check_optional("fault", &c.fault)?;
        if let crate::model::FollowUpStatus::Other(text) = &c.follow_up {
            require_text("follow_up", text)?;
        }
        if !c.with_customer && c.party_name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(DomainError::invalid(
                "party_name",
                "name the person when the call was not with the customer",
            ));
        }
        if c.called_at > ctx.now + Duration::minutes(CLOCK_SKEW_MINUTES) {
            return Err(DomainError::invalid("called_at", "lies in the future"));
        }
        let mut events = vec![CaseEvent::from(CallLogged {
            call_id: c.call_id,
            direction: c.direction,
            with_customer: c.with_customer,
            party_name: c.party_name.clone(),
            number: c.number.clone(),
            called_at: c.called_at,
            content: c.content.clone(),
            product: c.product.clone(),
            fault: c.fault.clone(),
            warranty: c.warranty,
            outcome: c.outcome,
            follow_up: c.follow_up.clone(),
        })];
        let registered = self.registered_at.unwrap_or(c.called_at);
        if c.with_customer && c.outcome.reached_customer() && c.called_at >= registered {
            events.extend(self.first_response(c.called_at));
        }
        Ok(events)
    }

    fn parcel(&self) -> Result<&Parcel, DomainError> {
        self.parcel.as_ref().ok_or(DomainError::NoParcelProblem)
    }

    /// The parcel, while something can still be done about it.
    fn open_parcel(&self) -> Result<&Parcel, DomainError> {
        let parcel = self.parcel()?;
        if parcel.is_settled() {
            return Err(DomainError::ParcelSettled);
        }
        Ok(parcel)
    }

    /// The 4-day rule: a customer-caused difficult parcel goes back when the
    /// customer could not be reached, by phone or IM, for 4 days (the
    /// window the policy set when the parcel was reported).
    pub fn unreachable_return_due(&self) -> Option<DateTime<Utc>> {
        let hours_allowed = self.parcel.as_ref()?.unreachable_return_hours;
        self.unreachable_since()
            .map(|since| since + hours(hours_allowed))
    }

    fn unreachable_since(&self) -> Option<DateTime<Utc>> {
        let parcel = self.parcel.as_ref()?;
        if parcel.class != ParcelClass::DifficultByCustomer || parcel.is_settled() {
            return None;
        }
        // The clock starts at the first unanswered attempt since the
        // problem was reported and the customer was last reached.
        let since = self
            .last_reached_at
            .map_or(parcel.reported_at, |r| r.max(parcel.reported_at));
        self.unanswered_attempts
            .iter()
            .copied()
            .filter(|a| *a >= since)
            .min()
    }

    fn return_to_sender(&self, c: &ReturnParcelToSender, ctx: &Context<'_>) -> Decision {
        self.open_parcel()?;
        if c.reason == ReturnToSenderReason::CustomerUnreachable {
            let due = self.unreachable_return_due();
            if due.is_none_or(|due| ctx.now < due) {
                return Err(DomainError::NotDueYet { due });
            }
        }
        Ok(vec![ParcelReturnedToSender {
            reason: c.reason,
            at: ctx.now,
        }
        .into()])
    }

    fn return_at(&self, stage: ReturnStage) -> Result<&Return, DomainError> {
        let ret = self.ret.as_ref().ok_or(DomainError::NoReturnOrExchange)?;
        if ret.stage != stage {
            return Err(DomainError::ReturnStage {
                expected: stage_name(stage),
                actual: stage_name(ret.stage),
            });
        }
        Ok(ret)
    }

    fn refund(&self, id: Uuid) -> Result<&Refund, DomainError> {
        self.refunds
            .get(&id)
            .ok_or(DomainError::Unknown { what: "refund" })
    }

    fn check_refundable(&self, amount: Money) -> Result<Money, DomainError> {
        let refundable = self.refundable().ok_or(DomainError::NoOrder)?;
        if amount.currency != refundable.currency {
            return Err(DomainError::CurrencyMismatch {
                expected: refundable.currency.as_str().to_owned(),
                actual: amount.currency.as_str().to_owned(),
            });
        }
        if amount.minor > refundable.minor {
            return Err(DomainError::RefundExceedsPaid {
                requested: amount.minor,
                refundable: refundable.minor,
            });
        }
        Ok(refundable)
    }

    fn request_refund(&self, c: &RequestRefund, ctx: &Context<'_>) -> Decision {
        c.amount.check_positive("amount")?;
        require_text("reason", &c.reason)?;
        if self.refunds.contains_key(&c.refund_id) {
            return Err(DomainError::AlreadyDone {
                what: "this refund was requested",
            });
        }
        let order = self.order.as_ref().ok_or(DomainError::NoOrder)?;
        let refundable = self.check_refundable(c.amount)?;
        if c.kind == RefundKind::NotReceived && c.amount.minor != refundable.minor {
            return Err(DomainError::NotReceivedRefundIsWholeOrder {
                order_remaining: refundable.minor,
            });
        }
        if c.kind == RefundKind::DirectTransfer {
            if order.platform_state != PlatformState::TradeSucceeded {
                return Err(DomainError::DirectTransferNeedsTradeSucceeded);
            }
            match &c.payee_account {
                Some(account) => require_short("payee_account", account)?,
                None => {
                    return Err(DomainError::invalid(
                        "payee_account",
                        "a direct transfer needs the buyer's account",
                    ))
                }
            }
        }
        let timers = ctx
            .policy
            .refund_timers(order.platform.as_deref())
            .ok_or(DomainError::UnknownPlatform)?;
        let auto_accept_at = match order.platform_state {
            PlatformState::BuyerPaid => {
                let allowed_from = order.paid_at + hours(timers.request_delay_hours);
                if ctx.now < allowed_from {
                    return Err(DomainError::RefundTooEarly { allowed_from });
                }
                Some(ctx.now + hours(timers.auto_accept_buyer_paid_hours))
            }
            PlatformState::SellerShipped => {
                Some(ctx.now + hours(timers.auto_accept_seller_shipped_hours))
            }
            PlatformState::TradeSucceeded => None,
        };
        Ok(vec![RefundRequested {
            refund_id: c.refund_id,
            kind: c.kind,
            amount: c.amount,
            reason: c.reason.clone(),
            payee_account: c.payee_account.clone(),
            auto_accept_at,
            at: ctx.now,
        }
        .into()])
    }

    fn check_new_approval(&self, id: Uuid) -> Result<(), DomainError> {
        if self.approvals.contains_key(&id) {
            return Err(DomainError::AlreadyDone {
                what: "an approval with this id was requested",
            });
        }
        Ok(())
    }

    /// The approver holds the supervisor role (checked by the command's
    /// roles) and is never the requester.
    fn pending_approval(&self, id: Uuid, ctx: &Context<'_>) -> Result<&Approval, DomainError> {
        let approval = self
            .approvals
            .get(&id)
            .ok_or(DomainError::Unknown { what: "approval" })?;
        if approval.stage != ApprovalStage::Pending {
            return Err(DomainError::ApprovalNotPending);
        }
        if approval.requested_by == ctx.actor.id {
            return Err(DomainError::ApproverIsRequester);
        }
        Ok(approval)
    }

    fn record_revisit(&self, c: &RecordRevisit, ctx: &Context<'_>) -> Decision {
        let revisit = self
            .revisits
            .get(&c.revisit_id)
            .ok_or(DomainError::Unknown { what: "revisit" })?;
        if revisit.recorded {
            return Err(DomainError::AlreadyDone {
                what: "the revisit was recorded",
            });
        }
        check_optional("complaint", &c.complaint)?;
        let low_score = match &c.outcome {
            RevisitOutcome::Scored {
                score,
                attitude,
                skill,
                comment,
            } => {
                let ratings = [Some(*score), *attitude, *skill];
                if let Some(out) = ratings.into_iter().flatten().find(|s| !(1..=5).contains(s)) {
                    return Err(DomainError::ScoreOutOfRange { score: out });
                }
                check_optional("outcome.comment", comment)?;
                // A low mark on either part is as much a reason to follow up
                // as a low overall score.
                let lowest = ratings.into_iter().flatten().min().unwrap_or(*score);
                (lowest <= ctx.policy.low_revisit_score)
                    .then(|| format!("satisfaction score {lowest}"))
            }
            RevisitOutcome::Refused | RevisitOutcome::Unreachable => None,
        };
        let complaint = c
            .complaint
            .as_ref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| format!("complaint: {t}"));
        let mut events = vec![CaseEvent::from(RevisitRecorded {
            revisit_id: c.revisit_id,
            outcome: c.outcome.clone(),
            complaint: c.complaint.clone(),
            at: ctx.now,
        })];
        if let Some(reason) = complaint.or(low_score) {
            events.push(
                FollowUpOpened {
                    revisit_id: c.revisit_id,
                    reason,
                    at: ctx.now,
                }
                .into(),
            );
        }
        Ok(events)
    }
}

impl RequestApproval {
    fn subject_is_short_shipment(&self) -> bool {
        matches!(
            self.subject,
            ApprovalSubject::UnverifiedShortShipmentReship { .. }
        )
    }
}

fn stage_name(stage: ReturnStage) -> &'static str {
    match stage {
        ReturnStage::Requested => "requested",
        ReturnStage::Authorised => "authorised",
        ReturnStage::Received => "received",
        ReturnStage::Inspected => "inspected",
        ReturnStage::Restocked => "restocked",
    }
}
