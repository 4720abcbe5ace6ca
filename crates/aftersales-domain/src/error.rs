//! The rules a command can break. Each variant names one rule; `code()` is
//! its stable machine-readable name (the API's problem type), `field()` the
//! input at fault where there is one.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::actor::Role;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the {role} role may not {command}")]
    RoleNotAllowed { command: &'static str, role: Role },
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the amount overflows")]
    MoneyOverflow,
    #[error("the amount is in {actual}, not {expected}")]
    CurrencyMismatch { expected: String, actual: String },

    // The life of a case.
    #[error("the case is not registered")]
    CaseNotRegistered,
    #[error("the case is already registered")]
    CaseAlreadyRegistered,
    #[error("the case was merged into case {survivor}")]
    CaseMerged { survivor: Uuid },
    #[error("the case is closed; reopen it first")]
    CaseClosed,
    #[error("the case is not closed")]
    CaseNotClosed,
    #[error("the customer has not been told the result: inform them (about: result) before closing the case")]
    ResultNotTold,
    #[error("the case is already assigned to that agent")]
    AlreadyAssigned,
    #[error("the case is {assignee}'s: a supervisor reassigns another agent's case")]
    TakeoverNeedsSupervisor { assignee: String },
    #[error("the case still has open items: {what}")]
    OpenItems { what: &'static str },
    #[error("already done: {what}")]
    AlreadyDone { what: &'static str },
    #[error("no such {what} on this case")]
    Unknown { what: &'static str },
    #[error("not due yet{}", .due.map(|d| format!(" (due {d})")).unwrap_or_default())]
    NotDueYet { due: Option<DateTime<Utc>> },

    // SLA clocks.
    #[error("the SLA clocks are already paused")]
    SlaAlreadyPaused,
    #[error("the SLA clocks are not paused")]
    SlaNotPaused,
    #[error("the SLA clocks are paused")]
    SlaPaused,
    #[error("the case is not escalated: a new deadline answers an escalation")]
    NotEscalated,

    // Parcels.
    #[error("no parcel problem was reported on this case")]
    NoParcelProblem,
    #[error("the parcel was already reshipped or returned to the sender")]
    ParcelSettled,
    #[error("this needs a parcel classed {needed}")]
    ParcelClassMismatch { needed: &'static str },
    #[error("a damaged parcel needs at least {need} photos before a reship; {have} given")]
    DamagedParcelNeedsPhotos { have: usize, need: usize },
    #[error("a lost parcel is reshipped only once the courier confirms it cannot be found")]
    LostParcelNeedsCourierConfirmation,
    #[error("the trade is completed; the receipt time cannot be extended")]
    TradeAlreadyCompleted,

    // Returns and exchanges.
    #[error("goods not yet shipped are refunded directly, not returned")]
    NotShippedRefundInstead,
    #[error("a no-reason return is accepted only for goods that can be resold")]
    NoReasonReturnNotResellable,
    #[error("the return is {actual}, not {expected}")]
    ReturnStage {
        expected: &'static str,
        actual: &'static str,
    },
    #[error("goods that cannot be resold need photos of the damage")]
    DamageNeedsPhotos,
    #[error("the returned goods cannot be resold, so they are not restocked")]
    NotResellable,
    #[error("at the buyer's own wish, goods are exchanged only when they can be resold (tags, packaging intact, not worn or washed)")]
    ExchangeNotResellable,
    #[error("no return or exchange was requested on this case")]
    NoReturnOrExchange,
    #[error("postage is reimbursed only when the company or product quality is at fault and the customer advanced it")]
    PostageNotReimbursable,
    #[error("the reimbursement exceeds the postage advanced ({advanced} advanced, {reimbursed} reimbursed, in minor units)")]
    ReimbursementExceedsAdvanced { advanced: i64, reimbursed: i64 },
    #[error("a reship of a short shipment not verified by weight needs a supervisor's approval")]
    UnverifiedReshipNeedsApproval,
    #[error(
        "the shop's policy has a reship order signed off by the department head before it ships"
    )]
    ReshipNotSignedOff,

    // Refunds and money.
    #[error("the case has no order with a paid amount")]
    NoOrder,
    #[error(
        "the refund of {requested} exceeds what may still be refunded, {refundable} (minor units)"
    )]
    RefundExceedsPaid { requested: i64, refundable: i64 },
    #[error(
        "a refund for goods not received covers the whole order: {order_remaining} (minor units)"
    )]
    NotReceivedRefundIsWholeOrder { order_remaining: i64 },
    #[error("the order's platform has no refund timers in the shop's policy")]
    UnknownPlatform,
    #[error("in \"buyer paid\" a refund may be requested from {allowed_from}")]
    RefundTooEarly { allowed_from: DateTime<Utc> },
    #[error("a direct transfer is for orders whose trade succeeded")]
    DirectTransferNeedsTradeSucceeded,
    #[error("the refund is not waiting for an answer")]
    RefundNotPending,
    #[error("the refund was not approved or accepted")]
    RefundNotApproved,
    #[error("rejecting a refund needs a reason and evidence")]
    RejectionNeedsReasonAndEvidence,
    #[error("the {what} is not granted")]
    NotGranted { what: &'static str },

    // Approvals.
    #[error("the approval is not pending")]
    ApprovalNotPending,
    #[error("the approver must not be the requester")]
    ApproverIsRequester,

    // Revisits and audits.
    #[error("a satisfaction score is 1 to 5, not {score}")]
    ScoreOutOfRange { score: u8 },

    // Unpaid orders (催款).
    #[error("the order is not registered as unpaid")]
    OrderNotRegistered,
    #[error("the order is already registered")]
    OrderAlreadyRegistered,
    #[error("the order is paid or closed")]
    OrderSettled,
    #[error("the buyer asked not to be called again")]
    DoNotCall,

    // Sampling audits (回访抽查).
    #[error("a sampling audit draws at least {min} customers; {size} asked")]
    SampleTooSmall { size: usize, min: usize },
    #[error("only {available} distinct customers to draw {size} from")]
    PopulationTooSmall { size: usize, available: usize },
    #[error("the sample of this audit is already drawn")]
    SampleAlreadyDrawn,
    #[error("the sample of this audit is not drawn yet")]
    SampleNotDrawn,
    #[error("the customer is not in this audit's sample")]
    NotInSample,
    #[error("the customer is already scored or excluded in this audit")]
    AlreadyScored,
    #[error("audit calls are made weekdays 09:00-12:00 and 13:00-20:00, holidays 10:00-12:00 and 13:00-20:00")]
    OutsideCallWindow,
    #[error("a customer is excluded only after {need} unanswered attempts in different time slots; {have} so far")]
    NotEnoughAttempts { have: usize, need: usize },
    #[error("a score below 5 needs the customer's reason")]
    LowScoreNeedsReason,
    #[error("the audit is closed")]
    AuditClosed,

    // Repairs (返修).
    #[error("the repair order is not open")]
    RepairNotOpen,
    #[error("the repair is not at that step: {expected}")]
    RepairStep { expected: &'static str },
    #[error("a paid repair needs the customer's cost cap and signature")]
    PaidRepairNeedsConsent,
    #[error("the customer must acknowledge the data-loss disclaimer first")]
    DisclaimerNotAcknowledged,
    #[error("the device failed its post-repair test")]
    RepairTestFailed,
    #[error("the quote of {quote} is above the cap of {cap} the customer agreed to (minor units): agree a new cap with the customer first")]
    QuoteAboveCap { quote: i64, cap: i64 },
    #[error("a free repair has no quote or cost cap")]
    FreeRepair,

    // Personal-data access (客户信息借阅).
    #[error("the access grant is not pending")]
    GrantNotPending,
    #[error("the access grant is not active")]
    GrantNotActive,
}

impl DomainError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The rule's stable name.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RoleNotAllowed { .. } => "role-not-allowed",
            Self::Invalid { .. } => "invalid-field",
            Self::MoneyOverflow => "money-overflow",
            Self::CurrencyMismatch { .. } => "currency-mismatch",
            Self::CaseNotRegistered => "case-not-registered",
            Self::CaseAlreadyRegistered => "case-already-registered",
            Self::CaseMerged { .. } => "case-merged",
            Self::CaseClosed => "case-closed",
            Self::CaseNotClosed => "case-not-closed",
            Self::ResultNotTold => "result-not-told",
            Self::AlreadyAssigned => "already-assigned",
            Self::TakeoverNeedsSupervisor { .. } => "takeover-needs-supervisor",
            Self::OpenItems { .. } => "case-has-open-items",
            Self::AlreadyDone { .. } => "already-done",
            Self::Unknown { .. } => "unknown-reference",
            Self::NotDueYet { .. } => "not-due-yet",
            Self::SlaAlreadyPaused => "sla-already-paused",
            Self::SlaNotPaused => "sla-not-paused",
            Self::SlaPaused => "sla-paused",
            Self::NotEscalated => "not-escalated",
            Self::NoParcelProblem => "no-parcel-problem",
            Self::ParcelSettled => "parcel-settled",
            Self::ParcelClassMismatch { .. } => "parcel-class-mismatch",
            Self::DamagedParcelNeedsPhotos { .. } => "damaged-parcel-needs-photos",
            Self::LostParcelNeedsCourierConfirmation => "lost-parcel-needs-courier-confirmation",
            Self::TradeAlreadyCompleted => "trade-already-completed",
            Self::NotShippedRefundInstead => "not-shipped-refund-instead",
            Self::NoReasonReturnNotResellable => "no-reason-return-not-resellable",
            Self::ReturnStage { .. } => "return-stage",
            Self::DamageNeedsPhotos => "damage-needs-photos",
            Self::NotResellable => "not-resellable",
            Self::ExchangeNotResellable => "exchange-not-resellable",
            Self::NoReturnOrExchange => "no-return-or-exchange",
            Self::PostageNotReimbursable => "postage-not-reimbursable",
            Self::ReimbursementExceedsAdvanced { .. } => "reimbursement-exceeds-advanced",
            Self::UnverifiedReshipNeedsApproval => "unverified-reship-needs-approval",
            Self::ReshipNotSignedOff => "reship-not-signed-off",
            Self::NoOrder => "no-order",
            Self::RefundExceedsPaid { .. } => "refund-exceeds-paid",
            Self::NotReceivedRefundIsWholeOrder { .. } => "not-received-refund-is-whole-order",
            Self::UnknownPlatform => "unknown-platform",
            Self::RefundTooEarly { .. } => "refund-too-early",
            Self::DirectTransferNeedsTradeSucceeded => "direct-transfer-needs-trade-succeeded",
            Self::RefundNotPending => "refund-not-pending",
            Self::RefundNotApproved => "refund-not-approved",
            Self::RejectionNeedsReasonAndEvidence => "rejection-needs-reason-and-evidence",
            Self::NotGranted { .. } => "not-granted",
            Self::ApprovalNotPending => "approval-not-pending",
            Self::ApproverIsRequester => "approver-is-requester",
            Self::ScoreOutOfRange { .. } => "score-out-of-range",
            Self::OrderNotRegistered => "order-not-registered",
            Self::OrderAlreadyRegistered => "order-already-registered",
            Self::OrderSettled => "order-settled",
            Self::DoNotCall => "do-not-call",
            Self::SampleTooSmall { .. } => "sample-too-small",
            Self::PopulationTooSmall { .. } => "population-too-small",
            Self::SampleAlreadyDrawn => "sample-already-drawn",
            Self::SampleNotDrawn => "sample-not-drawn",
            Self::NotInSample => "not-in-sample",
            Self::AlreadyScored => "already-scored",
            Self::OutsideCallWindow => "outside-call-window",
            Self::NotEnoughAttempts { .. } => "not-enough-attempts",
            Self::LowScoreNeedsReason => "low-score-needs-reason",
            Self::AuditClosed => "audit-closed",
            Self::RepairNotOpen => "repair-not-open",
            Self::RepairStep { .. } => "repair-step",
            Self::PaidRepairNeedsConsent => "paid-repair-needs-consent",
            Self::DisclaimerNotAcknowledged => "disclaimer-not-acknowledged",
            Self::RepairTestFailed => "repair-test-failed",
            Self::QuoteAboveCap { .. } => "quote-above-cap",
            Self::FreeRepair => "free-repair",
            Self::GrantNotPending => "grant-not-pending",
            Self::GrantNotActive => "grant-not-active",
        }
    }

    /// The input field at fault, where one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::CurrencyMismatch { .. }
            | Self::RefundExceedsPaid { .. }
            | Self::NotReceivedRefundIsWholeOrder { .. }
            | Self::ReimbursementExceedsAdvanced { .. } => Some("amount"),
            Self::ScoreOutOfRange { .. } => Some("outcome.score"),
            Self::QuoteAboveCap { .. } => Some("cost"),
            _ => None,
        }
    }
}
