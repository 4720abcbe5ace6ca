//! The resources beside cases, as a client reads them back after acting on
//! them: unpaid orders under payment reminder (催款), repair orders (返修),
//! monthly sampling audits (回访抽查) and access grants (客户信息借阅), each
//! now, searchable and paged; and each customer (客户信息卡), known by their
//! phone number, with the cases registered for them.

use aftersales_domain::audit::{AuditCallOutcome, AuditEvent};
use aftersales_domain::case::CaseEvent;
use aftersales_domain::grant::GrantEvent;
use aftersales_domain::reminder::{CloseReason, ReminderChannel, ReminderEvent, ReminderResult};
use aftersales_domain::repair::RepairEvent;
use aftersales_domain::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::case_views::sortable_time;
use crate::docs::Docs;
use crate::envelope::{AnyEvent, Envelope};
use crate::error::ProjectionError;
use crate::projection::{DocKey, Projection};

/// The resource views read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceViews;

/// A kind of resource, as its collection in the read model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    UnpaidOrder,
    Repair,
    SamplingAudit,
    AccessGrant,
    Customer,
}

impl Kind {
    pub fn collection(self) -> &'static str {
        match self {
            Self::UnpaidOrder => "unpaid_order",
            Self::Repair => "repair",
            Self::SamplingAudit => "sampling_audit",
            Self::AccessGrant => "access_grant",
            Self::Customer => "customer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "resource", rename_all = "snake_case")]
pub enum ResourceView {
    UnpaidOrder(UnpaidOrderView),
    Repair(RepairView),
    SamplingAudit(SamplingAuditView),
    AccessGrant(AccessGrantView),
    Customer(CustomerView),
}

impl ResourceView {
    pub fn kind(&self) -> Kind {
        match self {
            Self::UnpaidOrder(_) => Kind::UnpaidOrder,
            Self::Repair(_) => Kind::Repair,
            Self::SamplingAudit(_) => Kind::SamplingAudit,
            Self::AccessGrant(_) => Kind::AccessGrant,
            Self::Customer(_) => Kind::Customer,
        }
    }

    fn common_mut(&mut self) -> &mut Common {
        match self {
            Self::UnpaidOrder(view) => &mut view.common,
            Self::Repair(view) => &mut view.common,
            Self::SamplingAudit(view) => &mut view.common,
            Self::AccessGrant(view) => &mut view.common,
            Self::Customer(view) => &mut view.common,
        }
    }

    pub fn common(&self) -> &Common {
        match self {
            Self::UnpaidOrder(view) => &view.common,
            Self::Repair(view) => &view.common,
            Self::SamplingAudit(view) => &view.common,
            Self::AccessGrant(view) => &view.common,
            Self::Customer(view) => &view.common,
        }
    }
}

/// Where an unpaid order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnpaidStatus {
    Open,
    Paid,
    Closed,
}

/// Where a repair order stands: the last step it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepairStatus {
    Received,
    Checked,
    Decided,
    Quoted,
    AtVendor,
    BackFromVendor,
    Tested,
    Returned,
}

/// Where an access grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Requested,
    Granted,
    Rejected,
    Revoked,
    Expired,
}

/// A status as its search term: its name in the API.
pub fn status_term(status: impl Serialize) -> String {
    crate::case_views::serde_plain(&status)
}

/// What every resource view says of its stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Common {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// The stream revision of the last event: the resource's ETag.
    pub revision: u64,
    pub updated_at: DateTime<Utc>,
    /// The log position of the last event.
    pub position: u64,
}

/// 催款: an order not paid, and the reminders it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnpaidOrderView {
    #[serde(flatten)]
    pub common: Common,
    pub order_no: String,
    pub buyer_id: String,
    pub ordered_at: DateTime<Utc>,
    pub amount: Money,
    /// When the platform closes it unpaid.
    pub auto_close_at: DateTime<Utc>,
    pub status: UnpaidStatus,
    pub reminders: u32,
    pub last_reminder: Option<ReminderView>,
    pub paid_at: Option<DateTime<Utc>>,
    pub paid: Option<Money>,
    pub closed: Option<CloseReason>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReminderView {
    pub handler: String,
    pub channel: ReminderChannel,
    pub result: ReminderResult,
    pub at: DateTime<Utc>,
}

/// 返修: a device in the repair workshop, from intake to its return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RepairView {
    #[serde(flatten)]
    pub common: Common,
    pub case_id: Option<Uuid>,
    pub serial_outside: String,
    pub serial_inside: Option<String>,
    pub serial_matches: Option<bool>,
    /// Turnaround tier 1, 2 or 3.
    pub tier: u8,
    pub due_at: DateTime<Utc>,
    pub accessories: Vec<String>,
    pub status: RepairStatus,
    /// Whether the repair is free (in warranty, a product fault).
    pub free: Option<bool>,
    pub cost_cap: Option<Money>,
    pub quote: Option<Money>,
    pub vendor: Option<String>,
    pub tests: u32,
    pub last_test_passed: Option<bool>,
    pub returned_at: Option<DateTime<Utc>>,
    pub tracking_no: Option<String>,
    pub turnaround_days: Option<i64>,
    pub on_time: Option<bool>,
    pub revisit_due: Option<DateTime<Utc>>,
}

/// Where a month's sampling audit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    Open,
    Closed,
}

/// 回访抽查: a month's sample of customers called back, and their scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SamplingAuditView {
    #[serde(flatten)]
    pub common: Common,
    /// `YYYY-MM`.
    pub month: String,
    pub status: AuditStatus,
    /// The month's satisfaction target in tenths (45: 4.5).
    pub target_tenths: Option<u32>,
    /// The customers drawn, in the order drawn.
    pub customers: Vec<AuditCustomerView>,
    /// The month's satisfaction in hundredths, once closed.
    pub satisfaction_hundredths: Option<u32>,
    pub target_met: Option<bool>,
}

/// 服务抽查明细: one customer of the sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditCustomerView {
    /// A phone number or buyer id (personal data).
    pub customer: String,
    pub calls: u32,
    pub last_called_at: Option<DateTime<Utc>>,
    pub score: Option<u8>,
    pub refused: bool,
    pub excluded: bool,
    /// The agent whose service was rated.
    pub agent: Option<String>,
    pub complaint: Option<String>,
}

/// 客户信息卡: a customer, known by their phone number, and the cases
/// registered for them. Its id is their first case's, so that it says
/// nothing of the number; its revision counts the cases after the first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerView {
    #[serde(flatten)]
    pub common: Common,
    /// The name the last case gave.
    pub name: String,
    pub phone: String,
    /// The platform buyer ids the cases gave (旺旺ID), the first
    /// [`CARD_CASES`] of them.
    pub buyer_ids: Vec<String>,
    /// Their first [`CARD_CASES`] cases, oldest first.
    pub cases: Vec<Uuid>,
    /// How many cases were registered for them.
    pub case_count: u64,
}

/// Most cases a customer's card names. A card is rewritten with every case
/// registered for the customer: one that listed them all grew without
/// bound, and a number shared by many buyers (a company's front desk, or
/// a client registering case after case for one number) made every
/// registration rewrite megabytes. The case list pages through the rest.
pub const CARD_CASES: usize = 200;

/// A phone number as it identifies a customer: its digits, without China's
/// country code, so that `+86 138-0013-8000` and `13800138000` are one.
pub fn phone_key(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("86") {
        Some(national) if national.len() == 11 => national.to_owned(),
        _ => digits,
    }
}

/// 客户信息借阅: someone's request to see a customer's personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccessGrantView {
    #[serde(flatten)]
    pub common: Common,
    /// Whose data: a phone number or buyer id (personal data).
    pub customer: String,
    pub purpose: String,
    pub requested_by: String,
    pub status: GrantStatus,
    /// Who approved, rejected or revoked it.
    pub decided_by: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

impl Projection for ResourceViews {
    type Doc = ResourceView;
    const NAME: &'static str = "resource_views";
    const VERSION: u32 = 4;

    fn reads(&self, event: &Envelope, keys: &mut Vec<DocKey>) {
        if let AnyEvent::Case(CaseEvent::CaseRegistered(e)) = &event.event {
            keys.push((Kind::Customer.collection(), phone_key(&e.customer.phone)));
        }
        if let Some(kind) = kind_of(&event.event) {
            keys.push((kind.collection(), event.aggregate_id.to_string()));
        }
    }

    fn apply(
        &self,
        event: &Envelope,
        docs: &mut Docs<ResourceView>,
    ) -> Result<(), ProjectionError> {
        if let AnyEvent::Case(CaseEvent::CaseRegistered(e)) = &event.event {
            add_case(event, &e.customer, docs);
        }
        let Some(kind) = kind_of(&event.event) else {
            return Ok(());
        };
        let key = event.aggregate_id.to_string();
        let common = Common {
            id: event.aggregate_id,
            created_at: event.recorded_at,
            created_by: event.actor().to_owned(),
            revision: event.revision,
            updated_at: event.recorded_at,
            position: event.position,
        };
        if let Some(view) = created(&event.event, common) {
            docs.put(kind.collection(), key.clone(), view);
        }
        let view =
            docs.get_mut(kind.collection(), &key)
                .ok_or_else(|| ProjectionError::Inconsistent {
                    position: event.position,
                    reason: format!(
                        "{} before its resource was created",
                        event.event.event_type()
                    ),
                })?;
        evolve(view, &event.event);
        let common = view.common_mut();
        common.revision = event.revision;
        common.updated_at = event.recorded_at;
        common.position = event.position;
        Ok(())
    }

    fn sort_key(&self, view: &ResourceView) -> String {
        sortable_time(view.common().created_at)
    }

    fn tags(&self, view: &ResourceView, tags: &mut Vec<(&'static str, String)>) {
        match view {
            ResourceView::UnpaidOrder(order) => {
                tags.push(("status", status_term(order.status)));
                tags.push(("buyer_id", order.buyer_id.clone()));
                tags.push(("order_no", order.order_no.clone()));
            }
            ResourceView::Repair(repair) => {
                tags.push(("status", status_term(repair.status)));
                tags.push(("serial", repair.serial_outside.clone()));
                if let Some(case) = repair.case_id {
                    tags.push(("case_id", case.to_string()));
                }
            }
            ResourceView::SamplingAudit(audit) => {
                tags.push(("status", status_term(audit.status)));
                tags.push(("month", audit.month.clone()));
            }
            ResourceView::AccessGrant(grant) => {
                tags.push(("status", status_term(grant.status)));
                tags.push(("requested_by", grant.requested_by.clone()));
            }
            ResourceView::Customer(customer) => {
                tags.push(("id", customer.common.id.to_string()));
                tags.push(("phone", customer.phone.clone()));
                for buyer_id in &customer.buyer_ids {
                    tags.push(("buyer_id", buyer_id.clone()));
                }
            }
        }
    }
}

fn kind_of(event: &AnyEvent) -> Option<Kind> {
    match event {
        AnyEvent::Reminder(_) => Some(Kind::UnpaidOrder),
        AnyEvent::Repair(_) => Some(Kind::Repair),
        AnyEvent::Audit(_) => Some(Kind::SamplingAudit),
        AnyEvent::Grant(_) => Some(Kind::AccessGrant),
        AnyEvent::Case(_) => None,
    }
}

/// A case registered for a customer: on their card, which the first one
/// starts.
fn add_case(
    event: &Envelope,
    customer: &aftersales_domain::model::Customer,
    docs: &mut Docs<ResourceView>,
) {
    let key = phone_key(&customer.phone);
    let collection = Kind::Customer.collection();
    if !matches!(docs.get(collection, &key), Some(ResourceView::Customer(_))) {
        let first = CustomerView {
            common: Common {
                id: event.aggregate_id,
                created_at: event.recorded_at,
                created_by: event.actor().to_owned(),
                revision: 0,
                updated_at: event.recorded_at,
                position: event.position,
            },
            name: customer.name.clone(),
            phone: key.clone(),
            buyer_ids: Vec::new(),
            cases: Vec::new(),
            case_count: 0,
        };
        docs.put(collection, key.clone(), ResourceView::Customer(first));
    }
    let Some(ResourceView::Customer(card)) = docs.get_mut(collection, &key) else {
        return;
    };
    if card.case_count > 0 {
        card.common.revision += 1;
    }
    card.case_count += 1;
    if card.cases.len() < CARD_CASES {
        card.cases.push(event.aggregate_id);
    }
    card.name.clone_from(&customer.name);
    if let Some(buyer_id) = &customer.buyer_id {
        if card.buyer_ids.len() < CARD_CASES && !card.buyer_ids.contains(buyer_id) {
            card.buyer_ids.push(buyer_id.clone());
        }
    }
    card.common.updated_at = event.recorded_at;
    card.common.position = event.position;
}

/// The view a stream's first event starts.
fn created(event: &AnyEvent, common: Common) -> Option<ResourceView> {
    Some(match event {
        AnyEvent::Reminder(ReminderEvent::UnpaidOrderRegistered(e)) => {
            ResourceView::UnpaidOrder(UnpaidOrderView {
                common,
                order_no: e.order_no.clone(),
                buyer_id: e.buyer_id.clone(),
                ordered_at: e.ordered_at,
                amount: e.amount,
                auto_close_at: e.auto_close_at,
                status: UnpaidStatus::Open,
                reminders: 0,
                last_reminder: None,
                paid_at: None,
                paid: None,
                closed: None,
            })
        }
        AnyEvent::Repair(RepairEvent::DeviceReceivedForRepair(e)) => {
            ResourceView::Repair(RepairView {
                common,
                case_id: e.case_id,
                serial_outside: e.serial_outside.clone(),
                serial_inside: None,
                serial_matches: None,
                tier: e.tier,
                due_at: e.due_at,
                accessories: e.accessories.clone(),
                status: RepairStatus::Received,
                free: None,
                cost_cap: None,
                quote: None,
                vendor: None,
                tests: 0,
                last_test_passed: None,
                returned_at: None,
                tracking_no: None,
                turnaround_days: None,
                on_time: None,
                revisit_due: None,
            })
        }
        AnyEvent::Audit(AuditEvent::AuditSampleDrawn(e)) => {
            ResourceView::SamplingAudit(SamplingAuditView {
                common,
                month: e.month.clone(),
                status: AuditStatus::Open,
                target_tenths: e.target_tenths,
                customers: e
                    .drawn
                    .iter()
                    .map(|customer| AuditCustomerView {
                        customer: customer.clone(),
                        calls: 0,
                        last_called_at: None,
                        score: None,
                        refused: false,
                        excluded: false,
                        agent: None,
                        complaint: None,
                    })
                    .collect(),
                satisfaction_hundredths: None,
                target_met: None,
            })
        }
        AnyEvent::Grant(GrantEvent::AccessRequested(e)) => {
            ResourceView::AccessGrant(AccessGrantView {
                common,
                customer: e.customer.clone(),
                purpose: e.purpose.clone(),
                requested_by: e.requested_by.clone(),
                status: GrantStatus::Requested,
                decided_by: None,
                expires_at: None,
                reason: None,
            })
        }
        _ => return None,
    })
}

fn evolve(view: &mut ResourceView, event: &AnyEvent) {
    match (view, event) {
        (ResourceView::UnpaidOrder(order), AnyEvent::Reminder(event)) => match event {
            ReminderEvent::UnpaidOrderRegistered(_) => {}
            ReminderEvent::PaymentReminderRecorded(e) => {
                order.reminders += 1;
                order.last_reminder = Some(ReminderView {
                    handler: e.handler.clone(),
                    channel: e.channel,
                    result: e.result,
                    at: e.at,
                });
            }
            ReminderEvent::UnpaidOrderPaid(e) => {
                order.status = UnpaidStatus::Paid;
                order.paid_at = Some(e.paid_at);
                order.paid = Some(e.amount);
            }
            ReminderEvent::UnpaidOrderClosed(e) => {
                order.status = UnpaidStatus::Closed;
                order.closed = Some(e.reason.clone());
            }
        },
        (ResourceView::Repair(repair), AnyEvent::Repair(event)) => {
            let status = match event {
                RepairEvent::DeviceReceivedForRepair(_) => RepairStatus::Received,
                RepairEvent::IntakeChecked(e) => {
                    repair.serial_inside = Some(e.serial_inside.clone());
                    repair.serial_matches = Some(e.serial_matches);
                    RepairStatus::Checked
                }
                RepairEvent::WarrantyDecided(e) => {
                    repair.free = Some(e.free);
                    repair.cost_cap = e.cost_cap;
                    RepairStatus::Decided
                }
                RepairEvent::RepairQuoted(e) => {
                    repair.quote = Some(e.cost);
                    repair.cost_cap = Some(e.cost_cap);
                    RepairStatus::Quoted
                }
                RepairEvent::CostCapAgreed(e) => {
                    repair.cost_cap = Some(e.cost_cap);
                    return;
                }
                RepairEvent::DataLossDisclaimerAcknowledged(_)
                | RepairEvent::RevisitArranged(_) => return,
                RepairEvent::DeviceSentToVendor(e) => {
                    repair.vendor = Some(e.vendor.clone());
                    RepairStatus::AtVendor
                }
                RepairEvent::DeviceReturnedFromVendor(_) => RepairStatus::BackFromVendor,
                RepairEvent::RepairTested(e) => {
                    repair.tests += 1;
                    repair.last_test_passed = Some(e.passed);
                    RepairStatus::Tested
                }
                RepairEvent::DeviceReturnedToCustomer(e) => {
                    repair.returned_at = Some(e.at);
                    repair.tracking_no = Some(e.tracking_no.clone());
                    repair.turnaround_days = Some(e.turnaround_days);
                    repair.on_time = Some(e.on_time);
                    repair.revisit_due = e.revisit_due;
                    RepairStatus::Returned
                }
            };
            repair.status = status;
        }
        (ResourceView::SamplingAudit(audit), AnyEvent::Audit(event)) => match event {
            AuditEvent::AuditSampleDrawn(_) => {}
            AuditEvent::AuditCallRecorded(e) => {
                if let Some(c) = sampled(audit, &e.customer) {
                    c.calls += 1;
                    c.last_called_at = Some(e.called_at);
                    if let AuditCallOutcome::Answered { .. } | AuditCallOutcome::Refused = e.outcome
                    {
                        c.agent.clone_from(&e.agent);
                    }
                    if e.complaint.is_some() {
                        c.complaint.clone_from(&e.complaint);
                    }
                }
            }
            AuditEvent::AuditCustomerScored(e) => {
                if let Some(c) = sampled(audit, &e.customer) {
                    c.score = Some(e.score);
                    c.refused = e.refused;
                }
            }
            AuditEvent::AuditCustomerExcluded(e) => {
                if let Some(c) = sampled(audit, &e.customer) {
                    c.excluded = true;
                }
            }
            AuditEvent::AuditClosed(e) => {
                audit.status = AuditStatus::Closed;
                audit.satisfaction_hundredths = e.satisfaction_hundredths;
                audit.target_met = Some(e.target_met);
            }
        },
        (ResourceView::AccessGrant(grant), AnyEvent::Grant(event)) => match event {
            GrantEvent::AccessRequested(_) => {}
            GrantEvent::AccessGranted(e) => {
                grant.status = GrantStatus::Granted;
                grant.decided_by = Some(e.approved_by.clone());
                grant.expires_at = Some(e.expires_at);
            }
            GrantEvent::AccessRejected(e) => {
                grant.status = GrantStatus::Rejected;
                grant.decided_by = Some(e.rejected_by.clone());
                grant.reason = Some(e.reason.clone());
            }
            GrantEvent::AccessRevoked(e) => {
                grant.status = GrantStatus::Revoked;
                grant.decided_by = Some(e.revoked_by.clone());
                grant.reason = Some(e.reason.clone());
            }
            GrantEvent::AccessExpired(_) => grant.status = GrantStatus::Expired,
        },
        _ => {}
    }
}

/// The customer of a sample, by their phone number or buyer id.
fn sampled<'a>(
    audit: &'a mut SamplingAuditView,
    customer: &str,
) -> Option<&'a mut AuditCustomerView> {
    audit.customers.iter_mut().find(|c| c.customer == customer)
}

/// A page of one kind of resource in the order they were created, after
/// `cursor`, matching every `(field, value)` of `tags`.
pub async fn list(
    db: &crate::ReadDb,
    kind: Kind,
    tags: Vec<(&'static str, String)>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<ResourceView>, Option<String>), ProjectionError> {
    let query = crate::ListQuery {
        collection: kind.collection(),
        tags,
        limit,
        ..crate::ListQuery::default()
    };
    let (rows, next) = db.page(&table(), query, cursor).await?;
    let views = rows
        .into_iter()
        .map(|row| {
            serde_json::from_str(&row.doc).map_err(|e| {
                ProjectionError::CorruptRow(format!("{} {}: {e}", kind.collection(), row.key))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((views, next))
}

/// One resource now, if it exists and is of `kind`.
pub async fn get(
    db: &crate::ReadDb,
    kind: Kind,
    id: Uuid,
) -> Result<Option<ResourceView>, ProjectionError> {
    let rows = db
        .load(&table(), kind.collection(), &[id.to_string()])
        .await?;
    rows.into_iter()
        .next()
        .map(|(_, doc)| {
            serde_json::from_str(&doc).map_err(|e| {
                ProjectionError::CorruptRow(format!("{} {id}: {e}", kind.collection()))
            })
        })
        .transpose()
}

fn table() -> String {
    crate::runner::table_name(ResourceViews::NAME, crate::runner::Target::Live)
}

#[cfg(test)]
mod tests {
    use super::phone_key;

    #[test]
    fn one_number_written_several_ways_is_one_customer() {
        for written in [
            "13800138000",
            "+86 138-0013-8000",
            "86 13800138000",
            "(138) 0013 8000",
        ] {
            assert_eq!(phone_key(written), "13800138000", "{written}");
        }
        assert_eq!(phone_key("0571-88886666"), "057188886666");
    }
}
