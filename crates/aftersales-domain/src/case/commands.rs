//! What users ask of a case, in the imperative, with the roles that may ask.
//! Ids of things a command creates (refunds, approvals, calls…) come with the
//! command, so that a retried command names the same things.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::{
    ApprovalSubject, AttemptChannel, InformedAbout, PauseReason, PayoutChannel,
    ReturnToSenderReason, SlaClock,
};
use crate::model::{
    CallDirection, CallOutcome, Category, ContactChannel, Customer, Department, FollowUpStatus,
    GoodsLine, Order, ParcelClass, Priority, Problem, Product, RefundKind, Resolution, ReturnCause,
    RevisitKind, RevisitOutcome, WarrantyStatus,
};
use crate::money::Money;

crate::domain_commands! {
    /// Every command on a case stream.
    pub enum CaseCommand {
        RegisterCase => [Agent, Supervisor, Integration, Admin],
        AssignCase => [Agent, Supervisor, Admin],
        ChangePriority => [Agent, Supervisor],
        ChangeCategory => [Agent, Supervisor],
        FlagComplaint => [Agent, Supervisor, Integration],
        PauseSla => [Agent, Supervisor],
        ResumeSla => [Agent, Supervisor],
        RecordSlaAtRisk => [System, Supervisor],
        RecordSlaBreach => [System, Supervisor],
        EscalateCase => [Agent, Supervisor],
        AgreeDeadline => [Supervisor],
        MergeCase => [Agent, Supervisor],
        SplitCase => [Agent, Supervisor],
        LogCall => [Agent, Supervisor, Integration],
        RecordContactAttempt => [Agent, Supervisor],
        ReportParcelProblem => [Agent, Supervisor, Warehouse, Integration],
        AddParcelPhotos => [Agent, Supervisor, Warehouse],
        ChaseParcel => [Agent, Supervisor],
        ExtendReceipt => [Agent, Supervisor],
        ConfirmParcelLost => [Agent, Supervisor, Integration],
        ReshipParcel => [Agent, Supervisor, Warehouse],
        RecallParcel => [Agent, Supervisor, Warehouse],
        TransferToCarrier => [Agent, Supervisor, Warehouse],
        ArrangeSelfPickup => [Agent, Supervisor],
        ReturnParcelToSender => [Agent, Supervisor, System],
        FileCourierClaim => [Agent, Supervisor, Finance],
        SettleCourierClaim => [Finance],
        RequestReturn => [Agent, Supervisor, Integration],
        AuthoriseReturn => [Agent, Supervisor],
        ReceiveReturnParcel => [Warehouse],
        InspectReturn => [Warehouse],
        RestockReturn => [Warehouse],
        RequestExchange => [Agent, Supervisor, Integration],
        ReceiveExchangeParcel => [Warehouse],
        RecordAdvancedPostage => [Agent, Supervisor],
        ReimbursePostage => [Finance],
        CreateReshipOrder => [Agent, Supervisor],
        SignOffReshipOrder => [Supervisor],
        ShipReshipOrder => [Warehouse],
        RequestRefund => [Agent, Supervisor, Integration],
        RecordPlatformRefundDeadline => [Agent, Supervisor, Finance],
        ApproveRefund => [Agent, Supervisor],
        AutoAcceptRefund => [System],
        RejectRefund => [Agent, Supervisor],
        ExecuteRefund => [Finance],
        OfferCompensation => [Agent, Supervisor],
        PayCompensation => [Finance],
        RequestPriceDifferenceRefund => [Agent, Supervisor],
        PayPriceDifferenceRefund => [Finance],
        RequestApproval => [Agent, Supervisor, Warehouse],
        ApproveRequest => [Supervisor],
        RejectRequest => [Supervisor],
        HandOffCase => [Agent, Supervisor],
        ConfirmHandoff => [Agent, Supervisor, Warehouse, Finance, Technician],
        EscalateHandoff => [System, Supervisor],
        RecordDepartmentResponse => [Agent, Supervisor, Warehouse, Finance, Technician],
        InformCustomer => [Agent, Supervisor],
        AddCaseNote => [Agent, Supervisor, Warehouse, Finance, Technician],
        LinkIncident => [Agent, Supervisor, Technician],
        RecordRootCause => [Agent, Supervisor, Technician],
        ScheduleRevisit => [Agent, Supervisor, System],
        RecordRevisit => [Agent, Supervisor],
        CloseFollowUp => [Agent, Supervisor],
        CloseCase => [Agent, Supervisor],
        RecordCustomerFeedback => [Agent, Supervisor, Integration],
        ReopenCase => [Agent, Supervisor],
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCase {
    pub customer: Customer,
    #[serde(default)]
    pub order: Option<Order>,
    pub product: Product,
    pub problem: Problem,
    pub channel: ContactChannel,
    pub category: Category,
    pub priority: Priority,
    /// Set when this case is split from another (see [`SplitCase`]).
    #[serde(default)]
    pub split_from: Option<Uuid>,
    /// When the customer reached out (the call's or the message's time),
    /// if earlier than the registration: the SLA clocks start then.
    #[serde(default)]
    pub contacted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignCase {
    pub agent_id: String,
}

/// The case turned out more (or less) urgent than registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePriority {
    pub priority: Priority,
    pub reason: String,
}

/// The case is about something else than registered (问题分类).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeCategory {
    pub category: Category,
    pub reason: String,
}

/// The customer complains (投诉), at any time of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagComplaint {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseSla {
    pub reason: PauseReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeSla {}

/// Issued by the scheduler when a deadline has passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSlaBreach {
    pub clock: SlaClock,
}

/// Issued by the scheduler when the policy's share of the time to a
/// deadline has passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSlaAtRisk {
    pub clock: SlaClock,
}

/// The case's owner sees it will run late and takes it to a supervisor
/// before the deadline (若处理进度可能延迟,需提前升级).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateCase {
    pub reason: String,
}

/// A supervisor answers an escalated case with a new resolution deadline;
/// the customer is told of it, by the channel named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreeDeadline {
    pub resolution_due: DateTime<Utc>,
    pub reason: String,
    pub told_customer_via: ContactChannel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeCase {
    pub survivor: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitCase {
    pub new_case_id: Uuid,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogCall {
    pub call_id: Uuid,
    pub direction: CallDirection,
    /// Whether the person on the line is the customer (002's scripts log
    /// calls with others as such).
    #[serde(default = "yes")]
    pub with_customer: bool,
    #[serde(default)]
    pub party_name: Option<String>,
    pub number: String,
    pub called_at: DateTime<Utc>,
    pub content: String,
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub fault: Option<String>,
    pub warranty: WarrantyStatus,
    pub outcome: CallOutcome,
    pub follow_up: FollowUpStatus,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordContactAttempt {
    pub channel: AttemptChannel,
    pub reached: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportParcelProblem {
    pub tracking_no: String,
    pub carrier: String,
    pub class: ParcelClass,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddParcelPhotos {
    pub photos: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaseParcel {
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendReceipt {
    pub days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmParcelLost {
    pub courier_reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReshipParcel {
    pub reship_id: Uuid,
    pub tracking_no: String,
    pub carrier: String,
    pub items: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallParcel {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferToCarrier {
    pub carrier: String,
    pub tracking_no: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrangeSelfPickup {
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnParcelToSender {
    pub reason: ReturnToSenderReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileCourierClaim {
    pub claim_id: Uuid,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleCourierClaim {
    pub claim_id: Uuid,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestReturn {
    pub cause: ReturnCause,
    pub sub_reason: String,
    /// Not yet shipped goods are refunded directly, not returned.
    pub goods_shipped: bool,
    #[serde(default)]
    pub no_reason: bool,
    /// Tags and packaging intact, not worn or washed (不影响二次销售).
    pub resellable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthoriseReturn {
    pub return_address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveReturnParcel {
    pub tracking_no: String,
    pub quantity: u32,
    /// The goods line by line (product, 规格, quantity), adding up to the
    /// quantity; none: the case's product.
    #[serde(default)]
    pub lines: Vec<GoodsLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectReturn {
    pub resellable: bool,
    #[serde(default)]
    pub photos: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestockReturn {
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestExchange {
    pub cause: ReturnCause,
    pub reason: String,
    pub resellable: bool,
}

/// The goods an exchange sends back, received at the warehouse (换货退回):
/// no return request of their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveExchangeParcel {
    pub tracking_no: String,
    pub quantity: u32,
    /// The goods line by line (product, 规格, quantity), adding up to the
    /// quantity; none: the case's product.
    #[serde(default)]
    pub lines: Vec<GoodsLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordAdvancedPostage {
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReimbursePostage {
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReshipOrder {
    pub reship_order_id: Uuid,
    pub stock_name: String,
    pub quantity: u32,
    pub reason: String,
    /// For a short shipment: whether the warehouse verified it by weight.
    /// An unverified one needs a granted approval, named here.
    #[serde(default)]
    pub verified_by_weight: Option<bool>,
    #[serde(default)]
    pub approval_id: Option<Uuid>,
    /// The goods line by line (product, 规格, quantity), adding up to the
    /// quantity; none: one line of `stock_name`.
    #[serde(default)]
    pub lines: Vec<GoodsLine>,
}

/// The department head signs the reship order (重发单: 部门主管签字).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignOffReshipOrder {
    pub reship_order_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipReshipOrder {
    pub reship_order_id: Uuid,
    pub tracking_no: String,
    pub carrier: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestRefund {
    pub refund_id: Uuid,
    pub kind: RefundKind,
    pub amount: Money,
    pub reason: String,
    #[serde(default)]
    pub payee_account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPlatformRefundDeadline {
    pub refund_id: Uuid,
    pub deadline: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRefund {
    pub refund_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoAcceptRefund {
    pub refund_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRefund {
    pub refund_id: Uuid,
    pub reason: String,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRefund {
    pub refund_id: Uuid,
    pub channel: PayoutChannel,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferCompensation {
    pub compensation_id: Uuid,
    /// Used when the amount needs a supervisor's approval.
    pub approval_id: Uuid,
    pub amount: Money,
    pub issue: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayCompensation {
    pub compensation_id: Uuid,
    pub channel: PayoutChannel,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestPriceDifferenceRefund {
    pub price_refund_id: Uuid,
    pub approval_id: Uuid,
    pub amount: Money,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayPriceDifferenceRefund {
    pub price_refund_id: Uuid,
    pub channel: PayoutChannel,
    pub reference: String,
}

/// Ask a supervisor to approve a reship of an unverified short shipment or
/// an exceptional demand. (Compensations and price-difference refunds ask
/// by themselves.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestApproval {
    pub approval_id: Uuid,
    pub subject: ApprovalSubject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    pub approval_id: Uuid,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    pub approval_id: Uuid,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOffCase {
    pub handoff_id: Uuid,
    pub department: Department,
    pub question: String,
    /// Service hours the department has to answer; by default the
    /// policy's for the department.
    #[serde(default)]
    pub respond_within_hours: Option<u32>,
    /// How the customer was told the case went to the department.
    #[serde(default)]
    pub told_customer_via: Option<ContactChannel>,
}

/// The department has taken the handoff on (确认).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmHandoff {
    pub handoff_id: Uuid,
}

/// A handoff past its deadline without an answer goes to the department's head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateHandoff {
    pub handoff_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordDepartmentResponse {
    pub handoff_id: Uuid,
    pub response: String,
}

/// A step taken, noted on the case as it happens (责任人需在工单系统中实时记录
/// 处理步骤; 沟通后所做操作需备注).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCaseNote {
    pub note: String,
}

/// 批量故障: the case is one of many with the same failure, named by the
/// incident's code (e.g. `2026-03 IH-40B 主板`), shared by its cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIncident {
    pub incident: String,
    /// The production batch of the failing goods (批次), where known.
    #[serde(default)]
    pub batch: Option<String>,
}

/// Why the problem happened (根本原因), as the analysis found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRootCause {
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InformCustomer {
    pub channel: ContactChannel,
    pub summary: String,
    /// progress (default), or the result of the case (结果告知), which a
    /// case needs before it closes as resolved or declined.
    #[serde(default)]
    pub about: InformedAbout,
    /// References to proof of what was told or done (a repair sheet, a
    /// delivery screenshot), at most 20.
    #[serde(default)]
    pub proof: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRevisit {
    pub revisit_id: Uuid,
    pub kind: RevisitKind,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRevisit {
    pub revisit_id: Uuid,
    pub outcome: RevisitOutcome,
    #[serde(default)]
    pub complaint: Option<String>,
}

/// A follow-up is done: what was done, and how the customer took it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseFollowUp {
    pub follow_up_id: Uuid,
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseCase {
    pub solution: String,
    pub resolution: Resolution,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordCustomerFeedback {
    pub confirmed: bool,
    #[serde(default)]
    pub feedback: Option<String>,
    /// What follows when the customer is not satisfied: the case reopens,
    /// or a follow-up is opened. Required then: never silently nothing.
    #[serde(default)]
    pub then: Option<Unsatisfied>,
}

/// What follows a customer who is not satisfied with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unsatisfied {
    Reopen,
    FollowUp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenCase {
    pub reason: String,
}
