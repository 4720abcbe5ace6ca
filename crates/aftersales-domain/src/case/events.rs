//! What happens to a case, in the past tense. The string beside each variant
//! is its stored type name.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{
    CallDirection, CallOutcome, Category, ContactChannel, Customer, Department, FollowUpStatus,
    GoodsLine, Order, ParcelClass, PostageBearer, Priority, Problem, Product, RefundKind,
    Resolution, ReturnCause, RevisitKind, RevisitOutcome, WarrantyStatus,
};
use crate::money::Money;

crate::domain_events! {
    /// Every event of a case stream (`case-<id>`).
    pub enum CaseEvent {
        CaseRegistered = "CaseRegistered",
        CaseAssigned = "CaseAssigned",
        PriorityChanged = "PriorityChanged",
        CategoryChanged = "CategoryChanged",
        ComplaintFlagged = "ComplaintFlagged",
        FirstResponseRecorded = "FirstResponseRecorded",
        SlaPaused = "SlaPaused",
        SlaResumed = "SlaResumed",
        SlaAtRisk = "SlaAtRisk",
        SlaBreached = "SlaBreached",
        CaseEscalated = "CaseEscalated",
        DeadlineAgreed = "DeadlineAgreed",
        CaseMergedInto = "CaseMergedInto",
        CaseSplit = "CaseSplit",
        CallLogged = "CallLogged",
        CustomerContactAttempted = "CustomerContactAttempted",
        ParcelProblemReported = "ParcelProblemReported",
        ParcelPhotosAdded = "ParcelPhotosAdded",
        ParcelChased = "ParcelChased",
        ReceiptExtended = "ReceiptExtended",
        ParcelLossConfirmed = "ParcelLossConfirmed",
        ParcelReshipped = "ParcelReshipped",
        ParcelRecalled = "ParcelRecalled",
        ParcelTransferred = "ParcelTransferred",
        SelfPickupArranged = "SelfPickupArranged",
        ParcelReturnedToSender = "ParcelReturnedToSender",
        CourierClaimFiled = "CourierClaimFiled",
        CourierClaimSettled = "CourierClaimSettled",
        ReturnRequested = "ReturnRequested",
        ReturnAuthorised = "ReturnAuthorised",
        ReturnParcelReceived = "ReturnParcelReceived",
        ReturnInspected = "ReturnInspected",
        ReturnRestocked = "ReturnRestocked",
        ExchangeRequested = "ExchangeRequested",
        ExchangeParcelReceived = "ExchangeParcelReceived",
        PostageAdvancedByCustomer = "PostageAdvancedByCustomer",
        PostageReimbursed = "PostageReimbursed",
        ReshipOrderCreated = "ReshipOrderCreated",
        ReshipOrderSignedOff = "ReshipOrderSignedOff",
        ReshipOrderShipped = "ReshipOrderShipped",
        RefundRequested = "RefundRequested",
        PlatformRefundDeadlineRecorded = "PlatformRefundDeadlineRecorded",
        RefundApproved = "RefundApproved",
        RefundAutoAccepted = "RefundAutoAccepted",
        RefundRejected = "RefundRejected",
        RefundPaid = "RefundPaid",
        CompensationGranted = "CompensationGranted",
        CompensationProposed = "CompensationProposed",
        CompensationPaid = "CompensationPaid",
        PriceDifferenceRefundRequested = "PriceDifferenceRefundRequested",
        PriceDifferenceRefundPaid = "PriceDifferenceRefundPaid",
        ApprovalRequested = "ApprovalRequested",
        ApprovalGranted = "ApprovalGranted",
        ApprovalRejected = "ApprovalRejected",
        CaseHandedOff = "CaseHandedOff",
        HandoffConfirmed = "HandoffConfirmed",
        HandoffEscalated = "HandoffEscalated",
        DepartmentResponded = "DepartmentResponded",
        CustomerInformed = "CustomerInformed",
        CaseNoteAdded = "CaseNoteAdded",
        CaseLinkedToIncident = "CaseLinkedToIncident",
        RootCauseRecorded = "RootCauseRecorded",
        RevisitScheduled = "RevisitScheduled",
        RevisitRecorded = "RevisitRecorded",
        FollowUpOpened = "FollowUpOpened",
        FollowUpClosed = "FollowUpClosed",
        CaseClosed = "CaseClosed",
        CustomerFeedbackRecorded = "CustomerFeedbackRecorded",
        CaseReopened = "CaseReopened",
    }
}

/// 售后服务登记表: a case is opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseRegistered {
    pub case_id: Uuid,
    pub customer: Customer,
    pub order: Option<Order>,
    pub product: Product,
    pub problem: Problem,
    pub channel: ContactChannel,
    pub category: Category,
    pub priority: Priority,
    pub registered_at: DateTime<Utc>,
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    /// The case this one was split from.
    #[serde(default)]
    pub split_from: Option<Uuid>,
    /// When the customer reached out, if before `registered_at`: the SLA
    /// deadlines count from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacted_at: Option<DateTime<Utc>>,
    /// When the owner is warned that the resolution deadline draws near
    /// (the policy's share of the time to it); none on older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_warn_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseAssigned {
    pub agent_id: String,
    pub previous_agent_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// The SLA deadlines are counted again, from the change, on the new
/// priority's targets; a first response already given stays given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriorityChanged {
    pub priority: Priority,
    pub previous: Priority,
    pub reason: String,
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// When the owner is warned that the resolution deadline draws near
    /// (the policy's share of the time to it); none on older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_warn_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CategoryChanged {
    pub category: Category,
    pub previous: Category,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A complaint takes the complaint targets from the moment it is made
/// (000: 2 h to respond, 24 h to handle), where they are sooner than the
/// case's own deadlines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ComplaintFlagged {
    pub reason: String,
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// When the owner is warned that the resolution deadline draws near
    /// (the policy's share of the time to it); none on older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_warn_at: Option<DateTime<Utc>>,
}

/// The customer heard back from the team for the first time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FirstResponseRecorded {
    pub at: DateTime<Utc>,
    pub due: Option<DateTime<Utc>>,
    pub on_time: bool,
}

/// Why an SLA clock stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    WaitingOnCustomer,
    WaitingOnThirdParty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlaPaused {
    pub reason: PauseReason,
    pub at: DateTime<Utc>,
}

/// The clocks run again; the deadlines moved by the business time paused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlaResumed {
    pub at: DateTime<Utc>,
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    /// When the owner is warned that the resolution deadline draws near
    /// (the policy's share of the time to it); none on older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_warn_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaClock {
    FirstResponse,
    Resolution,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlaBreached {
    pub clock: SlaClock,
    pub due: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// The resolution deadline draws near with the case still open: its owner
/// and the supervisors are warned, so that it is escalated in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlaAtRisk {
    pub clock: SlaClock,
    pub due: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// A case goes up: a late P1 to the department manager, or one its owner
/// sees running late to a supervisor (提前升级).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseEscalated {
    pub to: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A supervisor answers an escalation with a new resolution deadline, which
/// the customer is told of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeadlineAgreed {
    pub previous_due: Option<DateTime<Utc>>,
    pub resolution_due: DateTime<Utc>,
    pub resolution_warn_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub agreed_by: String,
    pub at: DateTime<Utc>,
}

/// This case was a duplicate; its history stays, the survivor carries on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseMergedInto {
    pub survivor: Uuid,
    pub at: DateTime<Utc>,
}

/// Part of this case goes on as a new case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseSplit {
    pub new_case_id: Uuid,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// 客户呼入记录表 / 客户呼出电话记录表
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallLogged {
    pub call_id: Uuid,
    pub direction: CallDirection,
    /// Who was on the line: the customer, or someone else (named).
    pub with_customer: bool,
    pub party_name: Option<String>,
    pub number: String,
    pub called_at: DateTime<Utc>,
    pub content: String,
    pub product: Option<String>,
    pub fault: Option<String>,
    pub warranty: WarrantyStatus,
    pub outcome: CallOutcome,
    pub follow_up: FollowUpStatus,
}

/// The contact channels of the 4-day rule: phone, IM, SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptChannel {
    Phone,
    Im,
    Sms,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerContactAttempted {
    pub channel: AttemptChannel,
    pub reached: bool,
    pub at: DateTime<Utc>,
}

/// 快递查询: a parcel problem is reported and classed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParcelProblemReported {
    pub tracking_no: String,
    pub carrier: String,
    pub class: ParcelClass,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    /// How long a customer-caused difficult parcel waits for an unreachable
    /// customer before it goes back, by the policy in force when it was
    /// reported. Absent in events recorded before policies were: those ran
    /// under the SOP's 96 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_return_hours: Option<u32>,
}

/// Photo evidence (references to stored images).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParcelPhotosAdded {
    pub photos: Vec<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParcelChased {
    pub note: String,
    pub at: DateTime<Utc>,
}

/// 延长收货时间
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReceiptExtended {
    pub days: u32,
    pub at: DateTime<Utc>,
}

/// The courier confirmed the parcel cannot be found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParcelLossConfirmed {
    pub courier_reference: String,
    pub at: DateTime<Utc>,
}

/// 重发: the goods go out again under a new tracking number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParcelReshipped {
    pub reship_id: Uuid,
    pub tracking_no: String,
    pub carrier: String,
    pub items: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// 召回: the original parcel is called back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParcelRecalled {
    pub at: DateTime<Utc>,
}

/// Handed to another carrier (e.g. EMS for an out-of-area parcel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParcelTransferred {
    pub carrier: String,
    pub tracking_no: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SelfPickupArranged {
    pub location: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnToSenderReason {
    /// The 4-day rule: a customer-caused difficult parcel, customer unreachable.
    CustomerUnreachable,
    RejectedByRecipient,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParcelReturnedToSender {
    pub reason: ReturnToSenderReason,
    pub at: DateTime<Utc>,
}

/// The value of damaged or lost goods is claimed from the courier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CourierClaimFiled {
    pub claim_id: Uuid,
    pub carrier: String,
    pub amount: Money,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CourierClaimSettled {
    pub claim_id: Uuid,
    pub amount: Money,
    pub at: DateTime<Utc>,
}

/// 退货: the customer sends goods back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReturnRequested {
    pub cause: ReturnCause,
    pub sub_reason: String,
    /// A 7-day no-reason return (七天无理由).
    pub no_reason: bool,
    pub postage_bearer: PostageBearer,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReturnAuthorised {
    pub return_address: String,
    pub at: DateTime<Utc>,
}

/// The warehouse has the returned parcel (退件).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReturnParcelReceived {
    pub tracking_no: String,
    pub quantity: u32,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<GoodsLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReturnInspected {
    /// 不影响二次销售
    pub resellable: bool,
    pub photos: Vec<String>,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

/// 入库单
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReturnRestocked {
    pub quantity: u32,
    pub at: DateTime<Utc>,
}

/// 换货
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExchangeRequested {
    pub cause: ReturnCause,
    pub reason: String,
    pub postage_bearer: PostageBearer,
    pub at: DateTime<Utc>,
}

/// 换货退回: the goods an exchange replaces, back at the warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExchangeParcelReceived {
    pub tracking_no: String,
    pub quantity: u32,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<GoodsLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostageAdvancedByCustomer {
    pub amount: Money,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostageReimbursed {
    pub amount: Money,
    pub at: DateTime<Utc>,
}

/// 重发单: date, filled by (metadata), product by its stock name, quantity, reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReshipOrderCreated {
    pub reship_order_id: Uuid,
    pub stock_name: String,
    pub quantity: u32,
    pub reason: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<GoodsLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReshipOrderSignedOff {
    pub reship_order_id: Uuid,
    pub signed_off_by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReshipOrderShipped {
    pub reship_order_id: Uuid,
    pub tracking_no: String,
    pub carrier: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefundRequested {
    pub refund_id: Uuid,
    pub kind: RefundKind,
    pub amount: Money,
    pub reason: String,
    /// The buyer's account for a direct transfer (直接打款).
    pub payee_account: Option<String>,
    /// When the platform accepts the refund if nobody answers.
    pub auto_accept_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// The platform's own deadline for this refund (as Taobao's refund timeout
/// field reports it); it wins over the computed one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlatformRefundDeadlineRecorded {
    pub refund_id: Uuid,
    pub deadline: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefundApproved {
    pub refund_id: Uuid,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefundAutoAccepted {
    pub refund_id: Uuid,
    pub deadline: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefundRejected {
    pub refund_id: Uuid,
    pub reason: String,
    pub evidence: Vec<String>,
    pub at: DateTime<Utc>,
}

/// How money reaches the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutChannel {
    Platform,
    Bank,
    Alipay,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefundPaid {
    pub refund_id: Uuid,
    pub amount: Money,
    pub channel: PayoutChannel,
    pub reference: String,
    pub at: DateTime<Utc>,
}

/// 补偿 within what an agent may grant alone, or after approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CompensationGranted {
    pub compensation_id: Uuid,
    pub amount: Money,
    pub issue: String,
    pub approval_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// A compensation above the limit, waiting for a supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CompensationProposed {
    pub compensation_id: Uuid,
    pub amount: Money,
    pub issue: String,
    pub approval_id: Uuid,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CompensationPaid {
    pub compensation_id: Uuid,
    pub amount: Money,
    pub channel: PayoutChannel,
    pub reference: String,
    pub at: DateTime<Utc>,
}

/// 退差价: waits for a supervisor's approval (`approval_id`), unless the
/// amount is within what the policy lets an agent grant alone (`None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceDifferenceRefundRequested {
    pub price_refund_id: Uuid,
    pub amount: Money,
    pub reason: String,
    pub approval_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceDifferenceRefundPaid {
    pub price_refund_id: Uuid,
    pub amount: Money,
    pub channel: PayoutChannel,
    pub reference: String,
    pub at: DateTime<Utc>,
}

/// What a supervisor is asked to approve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ApprovalSubject {
    Compensation {
        compensation_id: Uuid,
        amount: Money,
    },
    PriceDifferenceRefund {
        price_refund_id: Uuid,
        amount: Money,
    },
    /// A reship of a short shipment the warehouse could not verify by weight.
    UnverifiedShortShipmentReship { description: String },
    /// An exceptional customer demand.
    Exception { description: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalRequested {
    pub approval_id: Uuid,
    pub subject: ApprovalSubject,
    pub requested_by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalGranted {
    pub approval_id: Uuid,
    pub approved_by: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalRejected {
    pub approval_id: Uuid,
    pub rejected_by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// 对接流程: the case goes to the owning department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseHandedOff {
    pub handoff_id: Uuid,
    pub department: Department,
    pub question: String,
    pub due_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HandoffConfirmed {
    pub handoff_id: Uuid,
    pub confirmed_by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HandoffEscalated {
    pub handoff_id: Uuid,
    pub department: Department,
    /// Who it went to: the department's head.
    pub to: String,
    pub due_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DepartmentResponded {
    pub handoff_id: Uuid,
    pub response: String,
    pub on_time: bool,
    pub at: DateTime<Utc>,
}

/// A progress note (处理步骤). Free text: shown redacted to those who may
/// not see the case's personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseNoteAdded {
    pub note: String,
    pub at: DateTime<Utc>,
}

/// 批量故障: the case is one of an incident's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseLinkedToIncident {
    pub incident: String,
    pub batch: Option<String>,
    pub at: DateTime<Utc>,
}

/// The root cause as found; a later finding replaces an earlier one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RootCauseRecorded {
    pub cause: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerInformed {
    pub channel: ContactChannel,
    pub summary: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub about: InformedAbout,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proof: Vec<String>,
}

/// What the customer was told.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InformedAbout {
    #[default]
    Progress,
    /// The result of the case (结果告知).
    Result,
}

/// 回访
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RevisitScheduled {
    pub revisit_id: Uuid,
    pub kind: RevisitKind,
    pub due_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RevisitRecorded {
    pub revisit_id: Uuid,
    pub outcome: RevisitOutcome,
    pub complaint: Option<String>,
    pub at: DateTime<Utc>,
}

/// A low score or a complaint in a revisit, or a customer unhappy with the
/// result, becomes a follow-up with an owner and a due time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FollowUpOpened {
    /// None on follow-ups recorded before they could be closed one by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_id: Option<Uuid>,
    /// The revisit that opened it; none when the customer's feedback on the
    /// result did.
    pub revisit_id: Option<Uuid>,
    pub reason: String,
    /// Who follows it up: the case's assignee, else whoever opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FollowUpClosed {
    pub follow_up_id: Uuid,
    /// What was done, and how the customer took it.
    pub outcome: String,
    pub on_time: bool,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseClosed {
    pub solution: String,
    pub resolution: Resolution,
    pub resolver: String,
    pub resolution_due: Option<DateTime<Utc>>,
    pub on_time: Option<bool>,
    pub at: DateTime<Utc>,
}

/// 客户签字: the customer's feedback and confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerFeedbackRecorded {
    pub confirmed: bool,
    pub feedback: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseReopened {
    pub reason: String,
    pub resolution_due: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// When the owner is warned that the resolution deadline draws near
    /// (the policy's share of the time to it); none on older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_warn_at: Option<DateTime<Utc>>,
}
