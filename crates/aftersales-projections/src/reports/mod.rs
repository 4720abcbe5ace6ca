//! The SOP reports' facts: one projection keeps the rows every report
//! (`aftersales reports list`) is built from; the reports themselves
//! ([`catalogue`]) group and total those rows when they are read, so any
//! report can be produced from any copy of the read model, live or as of a
//! past position.

pub mod catalogue;

use std::collections::BTreeMap;

use aftersales_domain::audit::AuditEvent;
use aftersales_domain::case::{
    CaseEvent, DepartmentResponded, ExchangeParcelReceived, HandoffConfirmed, HandoffEscalated,
    ReshipOrderShipped, ReshipOrderSignedOff, ReturnParcelReceived, SlaClock,
};
use aftersales_domain::model::{
    Category, Department, GoodsLine, ParcelClass, Priority, RevisitOutcome,
};
use aftersales_domain::reminder::ReminderEvent;
use aftersales_domain::repair::RepairEvent;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::case_views::{serde_plain, sortable_time};
use crate::docs::Docs;
use crate::envelope::{AnyEvent, Envelope};
use crate::error::ProjectionError;
use crate::projection::{DocKey, Projection};

pub(crate) const CASE: &str = "case";
pub(crate) const AGENT: &str = "agent";
pub(crate) const WORK_LOG: &str = "work_log";
pub(crate) const RESHIP: &str = "reship";
pub(crate) const HANDOFF: &str = "handoff";
pub(crate) const UNPAID: &str = "unpaid";
pub(crate) const REMINDER: &str = "reminder";
pub(crate) const REVISIT: &str = "revisit";
pub(crate) const AUDIT: &str = "audit";
pub(crate) const AUDIT_CUSTOMER: &str = "audit_customer";
pub(crate) const REPAIR: &str = "repair";

/// The report facts read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reports;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "doc", rename_all = "snake_case")]
// Most report documents are case facts: boxing them would allocate for
// nearly every document to spare the few smaller ones.
#[allow(clippy::large_enum_variant)]
pub enum ReportDoc {
    Case(CaseFacts),
    Agent(AgentFacts),
    WorkLog(WorkLogRow),
    Reship(ReshipRow),
    Unpaid(UnpaidRow),
    Reminder(ReminderRow),
    Revisit(RevisitRow),
    Audit(AuditRow),
    AuditCustomer(AuditCustomerRow),
    Repair(RepairRow),
    Handoff(HandoffRow),
}

/// 对接: one case handed to a department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffRow {
    pub case_id: Uuid,
    pub department: Department,
    /// The business month it was handed off in, `YYYY-MM`.
    pub month: String,
    /// The business day it was handed off on.
    pub day: NaiveDate,
    pub handed_off_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub on_time: Option<bool>,
    pub escalated: bool,
}

/// What the reports need to know of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseFacts {
    pub case_id: Uuid,
    pub customer: String,
    pub phone: String,
    /// The buyer's id on the platform (买家ID), as registered.
    #[serde(default)]
    pub buyer_id: Option<String>,
    /// The order's number (订单号), as registered.
    #[serde(default)]
    pub order_no: Option<String>,
    pub category: Category,
    pub priority: Priority,
    pub product: String,
    /// What the customer reported (故障现象).
    pub problem: String,
    /// The model, with the product, that a batch failure names.
    pub model: Option<String>,
    pub incident: Option<String>,
    pub batch: Option<String>,
    pub root_cause: Option<String>,
    pub registered_at: DateTime<Utc>,
    /// The business day it was registered on.
    pub registered_day: NaiveDate,
    pub assignee: Option<String>,
    /// open | closed | merged
    pub status: String,
    /// The department that last owned the case (by handoff).
    pub department: Option<String>,
    pub first_response_on_time: Option<bool>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub resolved_on_time: Option<bool>,
    pub customer_confirmed: Option<bool>,
    pub breaches: Vec<SlaClock>,
    /// A complaint: a service-complaint case, or one flagged a complaint
    /// (by an agent, or by a complaint on a revisit call).
    pub complaint: bool,
    /// Why it is a complaint, as flagged.
    pub complaint_reason: Option<String>,
    /// How it was solved, as closed.
    pub solution: Option<String>,
    /// What the customer said of the result (客户反馈).
    pub customer_feedback: Option<String>,
    pub reopened: u32,
    pub return_cause: Option<String>,
    /// Its rows of the return register (退件表).
    pub returns: Vec<ReturnRow>,
    /// Its rows of the damaged/lost parcel register.
    pub parcels: Vec<ParcelRow>,
    pub revisit_kinds: BTreeMap<Uuid, String>,
}

/// Counters of one person's work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFacts {
    pub agent: String,
    pub calls: u64,
    pub reminders: u64,
    pub revisits: u64,
    pub actions: u64,
}

/// 工作日志: a case worked on during a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkLogRow {
    pub day: NaiveDate,
    pub case_id: Uuid,
    pub customer: String,
    pub phone: String,
    pub category: Category,
    pub handler: String,
    pub status: String,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub actions: u32,
    pub last_action: String,
}

/// 退件表: one parcel that came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnRow {
    pub day: NaiveDate,
    /// What the parcel held, line by line: as the warehouse counted it, or
    /// the case's product when it gave no lines.
    pub lines: Vec<GoodsLine>,
    pub tracking_no: String,
    pub cause: Option<String>,
    pub resellable: Option<bool>,
    pub restocked: u32,
    pub received_by: String,
}

/// 重发单: one reship order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReshipRow {
    pub day: NaiveDate,
    pub case_id: Uuid,
    pub buyer_id: Option<String>,
    pub order_no: Option<String>,
    pub filled_by: String,
    /// The department head who signed it (部门主管签字).
    pub signed_off_by: Option<String>,
    /// What it sends, line by line.
    pub lines: Vec<GoodsLine>,
    pub reason: String,
    pub tracking_no: Option<String>,
    pub carrier: Option<String>,
}

/// 破损/丢件登记
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParcelRow {
    pub day: NaiveDate,
    pub tracking_no: String,
    pub carrier: String,
    pub class: ParcelClass,
    pub photos: u32,
    pub chases: u32,
    pub loss_confirmed: bool,
    pub reshipped: bool,
    pub claimed: i64,
    pub settled: i64,
}

/// An unpaid order under payment reminder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnpaidRow {
    pub order_id: Uuid,
    pub order_no: String,
    pub buyer_id: String,
    pub ordered_at: DateTime<Utc>,
    /// The business day it was ordered on, in the shop's time zone then.
    pub ordered_day: NaiveDate,
    pub amount: i64,
    pub currency: String,
    pub paid_at: Option<DateTime<Utc>>,
    pub paid_amount: i64,
    pub closed: Option<String>,
}

/// 催款明细: one reminder contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderRow {
    pub day: NaiveDate,
    pub order_id: Uuid,
    pub handler: String,
    pub channel: String,
    pub result: String,
}

/// 回访: one revisit's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisitRow {
    pub day: NaiveDate,
    pub case_id: Uuid,
    pub agent: String,
    pub department: String,
    pub kind: String,
    /// scored | refused | unreachable
    pub outcome: String,
    pub score: Option<u8>,
    /// 服务态度 and 技术, when rated apart.
    pub attitude: Option<u8>,
    pub skill: Option<u8>,
    pub comment: Option<String>,
    pub complaint: Option<String>,
}

/// 回访抽查: one month's audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub audit_id: Uuid,
    pub month: String,
    pub sampled: u32,
    pub calls: u32,
    pub scored: u32,
    pub refused: u32,
    pub excluded: u32,
    pub score_sum: u32,
    /// The month's satisfaction target in tenths, as the audit recorded it.
    pub target_tenths: u32,
    pub closed: bool,
}

/// 服务抽查明细表: one sampled customer of a month's audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditCustomerRow {
    pub audit_id: Uuid,
    pub month: String,
    /// A phone number or buyer id: personal data.
    pub customer: String,
    pub calls: u32,
    pub last_called_at: Option<DateTime<Utc>>,
    pub last_slot: Option<String>,
    /// pending | scored | refused | excluded
    pub outcome: String,
    pub score: Option<u8>,
    pub reason: Option<String>,
    pub caller: Option<String>,
    /// The agent whose service was rated.
    pub agent: Option<String>,
    pub complaint: Option<String>,
    pub target_tenths: u32,
}

/// 返修: one repair order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairRow {
    pub repair_id: Uuid,
    pub tier: u8,
    pub received_at: DateTime<Utc>,
    pub received_day: NaiveDate,
    pub due_at: DateTime<Utc>,
    pub free: Option<bool>,
    pub tests: u32,
    pub tests_passed: u32,
    pub first_test_passed: Option<bool>,
    pub returned_at: Option<DateTime<Utc>>,
    pub turnaround_days: Option<i64>,
    pub on_time: Option<bool>,
    /// A paid repair's cap as the customer last agreed it, in minor units.
    #[serde(default)]
    pub cost_cap: Option<i64>,
    /// The technician's last quote, in minor units.
    #[serde(default)]
    pub quote: Option<i64>,
    /// How many times the customer agreed to a new cap.
    #[serde(default)]
    pub caps_agreed: u32,
}

macro_rules! doc_mut {
    ($docs:expr, $collection:expr, $key:expr, $variant:ident) => {
        match $docs.get_mut($collection, $key) {
            Some(ReportDoc::$variant(row)) => Some(row),
            _ => None,
        }
    };
}

impl Projection for Reports {
    type Doc = ReportDoc;
    const NAME: &'static str = "reports";
    const VERSION: u32 = 9;

    fn reads(&self, event: &Envelope, keys: &mut Vec<DocKey>) {
        let id = event.aggregate_id.to_string();
        match &event.event {
            AnyEvent::Case(case_event) => {
                keys.push((CASE, id.clone()));
                keys.push((AGENT, event.actor().to_owned()));
                keys.push((WORK_LOG, work_log_key(event)));
                match case_event {
                    CaseEvent::ReshipOrderShipped(ReshipOrderShipped {
                        reship_order_id, ..
                    })
                    | CaseEvent::ReshipOrderSignedOff(ReshipOrderSignedOff {
                        reship_order_id,
                        ..
                    }) => {
                        keys.push((RESHIP, reship_order_id.to_string()));
                    }
                    CaseEvent::DepartmentResponded(DepartmentResponded { handoff_id, .. })
                    | CaseEvent::HandoffConfirmed(HandoffConfirmed { handoff_id, .. })
                    | CaseEvent::HandoffEscalated(HandoffEscalated { handoff_id, .. }) => {
                        keys.push((HANDOFF, handoff_key(event, *handoff_id)));
                    }
                    _ => {}
                }
            }
            AnyEvent::Reminder(_) => {
                keys.push((UNPAID, id));
                keys.push((AGENT, event.actor().to_owned()));
            }
            AnyEvent::Audit(audit) => {
                if let Some(customer) = audit_customer(audit) {
                    keys.push((AUDIT_CUSTOMER, format!("{id}|{customer}")));
                }
                keys.push((AUDIT, id));
            }
            AnyEvent::Repair(_) => keys.push((REPAIR, id)),
            AnyEvent::Grant(_) => {}
        }
    }

    fn apply(&self, event: &Envelope, docs: &mut Docs<ReportDoc>) -> Result<(), ProjectionError> {
        match &event.event {
            AnyEvent::Case(case_event) => apply_case(event, case_event, docs),
            AnyEvent::Reminder(reminder) => {
                apply_reminder(event, reminder, docs);
                Ok(())
            }
            AnyEvent::Audit(audit) => {
                apply_audit(event, audit, docs);
                Ok(())
            }
            AnyEvent::Repair(repair) => {
                apply_repair(event, repair, docs);
                Ok(())
            }
            AnyEvent::Grant(_) => Ok(()),
        }
    }

    fn sort_key(&self, doc: &ReportDoc) -> String {
        match doc {
            ReportDoc::Case(case) => sortable_time(case.registered_at),
            ReportDoc::WorkLog(row) => row.day.to_string(),
            ReportDoc::Reship(row) => row.day.to_string(),
            ReportDoc::Unpaid(row) => sortable_time(row.ordered_at),
            ReportDoc::Reminder(row) => row.day.to_string(),
            ReportDoc::Revisit(row) => row.day.to_string(),
            ReportDoc::Audit(row) => row.month.clone(),
            ReportDoc::AuditCustomer(row) => row.month.clone(),
            ReportDoc::Repair(row) => sortable_time(row.received_at),
            ReportDoc::Handoff(row) => sortable_time(row.handed_off_at),
            ReportDoc::Agent(_) => String::new(),
        }
    }
}

fn handoff_key(event: &Envelope, handoff_id: Uuid) -> String {
    format!("{}|{handoff_id}", event.aggregate_id)
}

/// What a handoff event changes on its row.
fn apply_handoff(event: &Envelope, case_event: &CaseEvent, docs: &mut Docs<ReportDoc>) {
    match case_event {
        CaseEvent::CaseHandedOff(e) => docs.put(
            HANDOFF,
            handoff_key(event, e.handoff_id),
            ReportDoc::Handoff(HandoffRow {
                case_id: event.aggregate_id,
                department: e.department,
                month: event.local_day(e.at).format("%Y-%m").to_string(),
                day: event.local_day(e.at),
                handed_off_at: e.at,
                due_at: e.due_at,
                confirmed_at: None,
                answered_at: None,
                on_time: None,
                escalated: false,
            }),
        ),
        CaseEvent::HandoffConfirmed(e) => {
            if let Some(row) = doc_mut!(docs, HANDOFF, &handoff_key(event, e.handoff_id), Handoff) {
                row.confirmed_at = Some(e.at);
            }
        }
        CaseEvent::HandoffEscalated(e) => {
            if let Some(row) = doc_mut!(docs, HANDOFF, &handoff_key(event, e.handoff_id), Handoff) {
                row.escalated = true;
            }
        }
        CaseEvent::DepartmentResponded(e) => {
            if let Some(row) = doc_mut!(docs, HANDOFF, &handoff_key(event, e.handoff_id), Handoff) {
                row.answered_at = Some(e.at);
                row.on_time = Some(e.on_time);
                // An answer is a confirmation too.
                row.confirmed_at.get_or_insert(e.at);
            }
        }
        _ => {}
    }
}

fn work_log_key(event: &Envelope) -> String {
    format!(
        "{}|{}",
        event.local_day(event.occurred_at),
        event.aggregate_id
    )
}

fn apply_case(
    event: &Envelope,
    case_event: &CaseEvent,
    docs: &mut Docs<ReportDoc>,
) -> Result<(), ProjectionError> {
    use aftersales_domain::DomainEvent as _;
    let key = event.aggregate_id.to_string();
    let day = event.local_day(event.occurred_at);
    if let CaseEvent::CaseRegistered(e) = case_event {
        docs.put(
            CASE,
            key.clone(),
            ReportDoc::Case(CaseFacts {
                case_id: event.aggregate_id,
                customer: e.customer.name.clone(),
                phone: e.customer.phone.clone(),
                buyer_id: e.customer.buyer_id.clone(),
                order_no: e.order.as_ref().map(|order| order.order_no.clone()),
                category: e.category,
                priority: e.priority,
                product: e.product.name.clone(),
                problem: e.problem.phenomenon.clone(),
                model: e.product.model.clone(),
                incident: None,
                batch: None,
                root_cause: None,
                registered_at: e.registered_at,
                registered_day: event.local_day(e.registered_at),
                assignee: None,
                status: "open".to_owned(),
                department: None,
                first_response_on_time: None,
                resolution_due: e.resolution_due,
                closed_at: None,
                resolution: None,
                resolved_on_time: None,
                customer_confirmed: None,
                breaches: Vec::new(),
                complaint: e.category == Category::ServiceComplaint,
                complaint_reason: None,
                solution: None,
                customer_feedback: None,
                reopened: 0,
                return_cause: None,
                returns: Vec::new(),
                parcels: Vec::new(),
                revisit_kinds: BTreeMap::new(),
            }),
        );
    }
    let Some(ReportDoc::Case(case)) = docs.get_mut(CASE, &key) else {
        return Err(ProjectionError::Inconsistent {
            position: event.position,
            reason: format!("{} before the case was registered", case_event.event_type()),
        });
    };
    let mut row: Option<(&'static str, String, ReportDoc)> = None;
    let mut revisit_agent = false;
    match case_event {
        CaseEvent::CaseAssigned(e) => case.assignee = Some(e.agent_id.clone()),
        CaseEvent::PriorityChanged(e) => {
            case.priority = e.priority;
            case.resolution_due = e.resolution_due;
        }
        CaseEvent::CategoryChanged(e) => {
            case.category = e.category;
            case.complaint |= e.category == Category::ServiceComplaint;
        }
        CaseEvent::ComplaintFlagged(e) => {
            case.complaint = true;
            case.complaint_reason = Some(e.reason.clone());
            case.resolution_due = e.resolution_due;
        }
        CaseEvent::DeadlineAgreed(e) => case.resolution_due = Some(e.resolution_due),
        CaseEvent::CaseLinkedToIncident(e) => {
            case.incident = Some(e.incident.clone());
            case.batch.clone_from(&e.batch);
        }
        CaseEvent::RootCauseRecorded(e) => case.root_cause = Some(e.cause.clone()),
        CaseEvent::FirstResponseRecorded(e) => case.first_response_on_time = Some(e.on_time),
        CaseEvent::SlaResumed(e) => case.resolution_due = e.resolution_due,
        CaseEvent::SlaBreached(e) => {
            if !case.breaches.contains(&e.clock) {
                case.breaches.push(e.clock);
            }
            if e.clock == SlaClock::FirstResponse {
                case.first_response_on_time.get_or_insert(false);
            }
        }
        CaseEvent::CaseMergedInto(_) => case.status = "merged".to_owned(),
        CaseEvent::CaseHandedOff(e) => case.department = Some(serde_plain(&e.department)),
        CaseEvent::ParcelProblemReported(e) => case.parcels.push(ParcelRow {
            day,
            tracking_no: e.tracking_no.clone(),
            carrier: e.carrier.clone(),
            class: e.class,
            photos: 0,
            chases: 0,
            loss_confirmed: false,
            reshipped: false,
            claimed: 0,
            settled: 0,
        }),
        CaseEvent::ParcelPhotosAdded(e) => {
            with_last(&mut case.parcels, |p| p.photos += count(e.photos.len()))
        }
        CaseEvent::ParcelChased(_) => with_last(&mut case.parcels, |p| p.chases += 1),
        CaseEvent::ParcelLossConfirmed(_) => {
            with_last(&mut case.parcels, |p| p.loss_confirmed = true)
        }
        CaseEvent::CourierClaimFiled(e) => {
            with_last(&mut case.parcels, |p| p.claimed += e.amount.minor)
        }
        CaseEvent::CourierClaimSettled(e) => {
            with_last(&mut case.parcels, |p| p.settled += e.amount.minor)
        }
        CaseEvent::ReturnRequested(e) => case.return_cause = Some(serde_plain(&e.cause)),
        CaseEvent::ExchangeRequested(e) => case.return_cause = Some(serde_plain(&e.cause)),
        // The return register (退件表) lists whatever came back, for a
        // return or an exchange alike.
        CaseEvent::ReturnParcelReceived(ReturnParcelReceived {
            tracking_no,
            quantity,
            lines,
            ..
        })
        | CaseEvent::ExchangeParcelReceived(ExchangeParcelReceived {
            tracking_no,
            quantity,
            lines,
            ..
        }) => {
            let cause = case.return_cause.clone();
            case.returns.push(ReturnRow {
                day,
                lines: lines_or(lines, &case.product, *quantity),
                tracking_no: tracking_no.clone(),
                cause,
                resellable: None,
                restocked: 0,
                received_by: event.actor().to_owned(),
            });
        }
        CaseEvent::ReturnInspected(e) => {
            with_last(&mut case.returns, |r| r.resellable = Some(e.resellable))
        }
        CaseEvent::ReturnRestocked(e) => {
            with_last(&mut case.returns, |r| r.restocked += e.quantity)
        }
        CaseEvent::ReshipOrderCreated(e) => {
            row = Some((
                RESHIP,
                e.reship_order_id.to_string(),
                ReportDoc::Reship(ReshipRow {
                    day,
                    case_id: event.aggregate_id,
                    buyer_id: case.buyer_id.clone(),
                    order_no: case.order_no.clone(),
                    filled_by: event.actor().to_owned(),
                    signed_off_by: None,
                    lines: lines_or(&e.lines, &e.stock_name, e.quantity),
                    reason: e.reason.clone(),
                    tracking_no: None,
                    carrier: None,
                }),
            ));
        }
        CaseEvent::ParcelReshipped(e) => {
            with_last(&mut case.parcels, |p| p.reshipped = true);
            row = Some((
                RESHIP,
                e.reship_id.to_string(),
                ReportDoc::Reship(ReshipRow {
                    day,
                    case_id: event.aggregate_id,
                    buyer_id: case.buyer_id.clone(),
                    order_no: case.order_no.clone(),
                    filled_by: event.actor().to_owned(),
                    signed_off_by: None,
                    lines: lines_or(&[], &e.items, 1),
                    reason: e.reason.clone(),
                    tracking_no: Some(e.tracking_no.clone()),
                    carrier: Some(e.carrier.clone()),
                }),
            ));
        }
        CaseEvent::RevisitScheduled(e) => {
            case.revisit_kinds
                .insert(e.revisit_id, serde_plain(&e.kind));
        }
        CaseEvent::RevisitRecorded(e) => {
            let (outcome, score, attitude, skill, comment) = match &e.outcome {
                RevisitOutcome::Scored {
                    score,
                    attitude,
                    skill,
                    comment,
                } => ("scored", Some(*score), *attitude, *skill, comment.clone()),
                RevisitOutcome::Refused => ("refused", None, None, None, None),
                RevisitOutcome::Unreachable => ("unreachable", None, None, None, None),
            };
            revisit_agent = true;
            row = Some((
                REVISIT,
                format!("{key}|{}", e.revisit_id),
                ReportDoc::Revisit(RevisitRow {
                    day,
                    case_id: event.aggregate_id,
                    agent: case
                        .assignee
                        .clone()
                        .unwrap_or_else(|| event.actor().to_owned()),
                    department: case
                        .department
                        .clone()
                        .unwrap_or_else(|| "customer_service".to_owned()),
                    kind: case
                        .revisit_kinds
                        .get(&e.revisit_id)
                        .cloned()
                        .unwrap_or_default(),
                    outcome: outcome.to_owned(),
                    score,
                    attitude,
                    skill,
                    comment,
                    complaint: e.complaint.clone(),
                }),
            ));
        }
        CaseEvent::CaseClosed(e) => {
            case.status = "closed".to_owned();
            case.closed_at = Some(e.at);
            case.resolution = Some(serde_plain(&e.resolution));
            case.solution = Some(e.solution.clone());
            case.resolved_on_time = e.on_time;
        }
        CaseEvent::CustomerFeedbackRecorded(e) => {
            case.customer_confirmed = Some(e.confirmed);
            case.customer_feedback = e.feedback.clone();
        }
        CaseEvent::CaseReopened(e) => {
            case.status = "open".to_owned();
            case.closed_at = None;
            case.resolution = None;
            case.resolved_on_time = None;
            case.customer_confirmed = None;
            case.resolution_due = e.resolution_due;
            case.reopened += 1;
        }
        _ => {}
    }
    let case = case.clone();
    apply_handoff(event, case_event, docs);
    match case_event {
        CaseEvent::ReshipOrderSignedOff(e) => {
            if let Some(reship) = doc_mut!(docs, RESHIP, &e.reship_order_id.to_string(), Reship) {
                reship.signed_off_by = Some(e.signed_off_by.clone());
            }
        }
        CaseEvent::ReshipOrderShipped(e) => {
            if let Some(reship) = doc_mut!(docs, RESHIP, &e.reship_order_id.to_string(), Reship) {
                reship.tracking_no = Some(e.tracking_no.clone());
                reship.carrier = Some(e.carrier.clone());
            }
        }
        _ => {}
    }
    if let Some((collection, key, doc)) = row {
        docs.put(collection, key, doc);
    }
    let actor = event.actor().to_owned();
    let agent = agent_facts(docs, &actor);
    agent.actions += 1;
    if let CaseEvent::CallLogged(_) = case_event {
        agent.calls += 1;
    }
    if revisit_agent {
        agent.revisits += 1;
    }
    // The work log: who handled the case that day, and where it stood.
    let log_key = work_log_key(event);
    let last_action = case_event.event_type().to_owned();
    match doc_mut!(docs, WORK_LOG, &log_key, WorkLog) {
        Some(log) => {
            log.handler = actor;
            log.status = case.status.clone();
            log.last_at = event.occurred_at;
            log.actions += 1;
            log.last_action = last_action;
        }
        None => docs.put(
            WORK_LOG,
            log_key,
            ReportDoc::WorkLog(WorkLogRow {
                day,
                case_id: case.case_id,
                customer: case.customer.clone(),
                phone: case.phone.clone(),
                category: case.category,
                handler: actor,
                status: case.status.clone(),
                first_at: event.occurred_at,
                last_at: event.occurred_at,
                actions: 1,
                last_action,
            }),
        ),
    }
    Ok(())
}

fn agent_facts<'d>(docs: &'d mut Docs<ReportDoc>, agent: &str) -> &'d mut AgentFacts {
    if !matches!(docs.get(AGENT, agent), Some(ReportDoc::Agent(_))) {
        docs.put(
            AGENT,
            agent.to_owned(),
            ReportDoc::Agent(AgentFacts {
                agent: agent.to_owned(),
                ..AgentFacts::default()
            }),
        );
    }
    match docs.get_mut(AGENT, agent) {
        Some(ReportDoc::Agent(facts)) => facts,
        _ => unreachable!("the agent document was just written"),
    }
}

/// A register's lines: those given, or one line of `product` when none
/// were.
fn lines_or(lines: &[GoodsLine], product: &str, quantity: u32) -> Vec<GoodsLine> {
    if lines.is_empty() {
        vec![GoodsLine {
            product: product.to_owned(),
            spec: None,
            quantity,
        }]
    } else {
        lines.to_vec()
    }
}

fn with_last<T>(rows: &mut [T], change: impl FnOnce(&mut T)) {
    if let Some(row) = rows.last_mut() {
        change(row);
    }
}

fn apply_reminder(event: &Envelope, reminder: &ReminderEvent, docs: &mut Docs<ReportDoc>) {
    let key = event.aggregate_id.to_string();
    match reminder {
        ReminderEvent::UnpaidOrderRegistered(e) => docs.put(
            UNPAID,
            key,
            ReportDoc::Unpaid(UnpaidRow {
                order_id: event.aggregate_id,
                order_no: e.order_no.clone(),
                buyer_id: e.buyer_id.clone(),
                ordered_at: e.ordered_at,
                ordered_day: event.local_day(e.ordered_at),
                amount: e.amount.minor,
                currency: e.amount.currency.as_str().to_owned(),
                paid_at: None,
                paid_amount: 0,
                closed: None,
            }),
        ),
        ReminderEvent::PaymentReminderRecorded(e) => {
            docs.put(
                REMINDER,
                format!("{key}|{:010}", event.revision),
                ReportDoc::Reminder(ReminderRow {
                    day: event.local_day(e.at),
                    order_id: event.aggregate_id,
                    handler: e.handler.clone(),
                    channel: serde_plain(&e.channel),
                    result: serde_plain(&e.result),
                }),
            );
            agent_facts(docs, event.actor()).reminders += 1;
        }
        ReminderEvent::UnpaidOrderPaid(e) => {
            if let Some(order) = doc_mut!(docs, UNPAID, &key, Unpaid) {
                order.paid_at = Some(e.paid_at);
                order.paid_amount += e.amount.minor;
            }
        }
        ReminderEvent::UnpaidOrderClosed(e) => {
            if let Some(order) = doc_mut!(docs, UNPAID, &key, Unpaid) {
                order.closed = Some(serde_plain(&e.reason));
            }
        }
    }
}

/// The sampled customer an audit event is about.
fn audit_customer(audit: &AuditEvent) -> Option<&str> {
    match audit {
        AuditEvent::AuditCallRecorded(e) => Some(&e.customer),
        AuditEvent::AuditCustomerScored(e) => Some(&e.customer),
        AuditEvent::AuditCustomerExcluded(e) => Some(&e.customer),
        AuditEvent::AuditSampleDrawn(_) | AuditEvent::AuditClosed(_) => None,
    }
}

fn apply_audit(event: &Envelope, audit: &AuditEvent, docs: &mut Docs<ReportDoc>) {
    let key = event.aggregate_id.to_string();
    apply_audit_customer(event, audit, docs);
    if let AuditEvent::AuditSampleDrawn(e) = audit {
        docs.put(
            AUDIT,
            key.clone(),
            ReportDoc::Audit(AuditRow {
                audit_id: event.aggregate_id,
                month: e.month.clone(),
                sampled: count(e.drawn.len()),
                calls: 0,
                scored: 0,
                refused: 0,
                excluded: 0,
                score_sum: 0,
                target_tenths: e.target(),
                closed: false,
            }),
        );
    }
    let Some(row) = doc_mut!(docs, AUDIT, &key, Audit) else {
        return;
    };
    match audit {
        AuditEvent::AuditCallRecorded(_) => row.calls += 1,
        AuditEvent::AuditCustomerScored(e) => {
            row.scored += 1;
            row.score_sum += u32::from(e.score);
            if e.refused {
                row.refused += 1;
            }
        }
        AuditEvent::AuditCustomerExcluded(_) => row.excluded += 1,
        AuditEvent::AuditClosed(_) => row.closed = true,
        AuditEvent::AuditSampleDrawn(_) => {}
    }
}

/// The sheet's row of each sampled customer.
fn apply_audit_customer(event: &Envelope, audit: &AuditEvent, docs: &mut Docs<ReportDoc>) {
    let audit_id = event.aggregate_id;
    if let AuditEvent::AuditSampleDrawn(e) = audit {
        for customer in &e.drawn {
            docs.put(
                AUDIT_CUSTOMER,
                format!("{audit_id}|{customer}"),
                ReportDoc::AuditCustomer(AuditCustomerRow {
                    audit_id,
                    month: e.month.clone(),
                    customer: customer.clone(),
                    calls: 0,
                    last_called_at: None,
                    last_slot: None,
                    outcome: "pending".to_owned(),
                    score: None,
                    reason: None,
                    caller: None,
                    agent: None,
                    complaint: None,
                    target_tenths: e.target(),
                }),
            );
        }
        return;
    }
    let Some(customer) = audit_customer(audit) else {
        return;
    };
    let key = format!("{audit_id}|{customer}");
    let Some(row) = doc_mut!(docs, AUDIT_CUSTOMER, &key, AuditCustomer) else {
        return;
    };
    match audit {
        AuditEvent::AuditCallRecorded(e) => {
            row.calls += 1;
            row.last_called_at = Some(e.called_at);
            row.last_slot = Some(e.slot.clone());
            row.caller = Some(e.caller.clone());
            if e.agent.is_some() {
                row.agent.clone_from(&e.agent);
            }
            if e.complaint.is_some() {
                row.complaint.clone_from(&e.complaint);
            }
        }
        AuditEvent::AuditCustomerScored(e) => {
            row.outcome = if e.refused { "refused" } else { "scored" }.to_owned();
            row.score = Some(e.score);
            row.reason.clone_from(&e.reason);
        }
        AuditEvent::AuditCustomerExcluded(_) => row.outcome = "excluded".to_owned(),
        AuditEvent::AuditSampleDrawn(_) | AuditEvent::AuditClosed(_) => {}
    }
}

fn apply_repair(event: &Envelope, repair: &RepairEvent, docs: &mut Docs<ReportDoc>) {
    let key = event.aggregate_id.to_string();
    if let RepairEvent::DeviceReceivedForRepair(e) = repair {
        docs.put(
            REPAIR,
            key.clone(),
            ReportDoc::Repair(RepairRow {
                repair_id: event.aggregate_id,
                tier: e.tier,
                received_at: e.at,
                received_day: event.local_day(e.at),
                due_at: e.due_at,
                free: None,
                tests: 0,
                tests_passed: 0,
                first_test_passed: None,
                returned_at: None,
                turnaround_days: None,
                on_time: None,
                cost_cap: None,
                quote: None,
                caps_agreed: 0,
            }),
        );
    }
    let Some(row) = doc_mut!(docs, REPAIR, &key, Repair) else {
        return;
    };
    match repair {
        RepairEvent::WarrantyDecided(e) => {
            row.free = Some(e.free);
            row.cost_cap = e.cost_cap.map(|cap| cap.minor);
        }
        RepairEvent::RepairQuoted(e) => row.quote = Some(e.cost.minor),
        RepairEvent::CostCapAgreed(e) => {
            row.cost_cap = Some(e.cost_cap.minor);
            row.caps_agreed += 1;
        }
        RepairEvent::RepairTested(e) => {
            row.tests += 1;
            row.tests_passed += u32::from(e.passed);
            row.first_test_passed.get_or_insert(e.passed);
        }
        RepairEvent::DeviceReturnedToCustomer(e) => {
            row.returned_at = Some(e.at);
            row.turnaround_days = Some(e.turnaround_days);
            row.on_time = Some(e.on_time);
        }
        _ => {}
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
