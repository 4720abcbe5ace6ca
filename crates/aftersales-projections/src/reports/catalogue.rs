//! The reports the team reads, built from the report facts when asked.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aftersales_domain::audit::hundredths_half_up;
use aftersales_domain::case::SlaClock;
use aftersales_domain::model::{Category, GoodsLine, Priority};
use chrono::{Datelike, NaiveDate};
use serde_json::{json, Value};

use super::{
    AgentFacts, AuditCustomerRow, AuditRow, CaseFacts, HandoffRow, ReminderRow, RepairRow,
    ReportDoc, ReshipRow, RevisitRow, UnpaidRow, WorkLogRow, AGENT, AUDIT, AUDIT_CUSTOMER, CASE,
    HANDOFF, REMINDER, REPAIR, RESHIP, REVISIT, UNPAID, WORK_LOG,
};
use crate::case_views::serde_plain;
use crate::db::ReadDb;
use crate::error::ProjectionError;
use crate::runner::{table_name, Target};
use crate::table::Table;

/// Every report: its name on the command line and its title.
pub const REPORTS: &[(&str, &str)] = &[
    ("work-log", "Daily work log (工作日志)"),
    (
        "returns",
        "Return register (退件表) with running total per product and specification",
    ),
    (
        "reships",
        "Reship register (重发单) with running total per product and specification",
    ),
    (
        "factory-returns",
        "Quality faults to return to the factory, by month, product and specification (出厂问题产品汇总返厂)",
    ),
    ("parcels", "Damaged and lost parcel register"),
    ("reminders", "Payment-reminder detail (催款明细)"),
    (
        "reminder-summary",
        "Payment reminders per day and handler (催款汇总)",
    ),
    (
        "satisfaction",
        "Monthly satisfaction by department and agent (回访满意度)",
    ),
    (
        "revisits-weekly",
        "Weekly revisit report by agent (回访周报, every Monday)",
    ),
    (
        "sampling-audit",
        "Monthly revisit sampling audit (回访抽查)",
    ),
    (
        "sampling-audit-sheet",
        "Sampling audit, customer by customer (服务抽查明细表)",
    ),
    (
        "sampling-audit-agents",
        "Sampling audit scores by agent (抽查得分, 作为奖惩依据)",
    ),
    (
        "complaints",
        "Monthly complaint resolution: problem, solution, customer reaction (客户投诉问题解决情况表)",
    ),
    (
        "churn",
        "Monthly customer churn: regular customers who stopped coming, with their revisits' reasons (客户流失率)",
    ),
    (
        "incidents",
        "Batch failures: cases by product, batch and root cause (批量故障)",
    ),
    ("sla", "SLA compliance by priority"),
    ("repairs", "Repair turnaround and quality by tier (返修)"),
    (
        "handoffs",
        "Department handoffs by month: response times and escalations (对接)",
    ),
    ("workload", "Agent workload"),
];

/// The business days a report covers, in the shop's time zone, both ends
/// included; open at either end when not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    pub from: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

impl Period {
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|from| from <= day) && self.until.is_none_or(|until| day <= until)
    }

    /// Whether a month (`YYYY-MM`) has a day in the period.
    fn overlaps_month(&self, month: &str) -> bool {
        let Ok(first) = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d") else {
            return true;
        };
        let last = first
            .checked_add_months(chrono::Months::new(1))
            .and_then(|next| next.pred_opt())
            .unwrap_or(first);
        self.from.is_none_or(|from| from <= last) && self.until.is_none_or(|until| first <= until)
    }
}

/// Builds a report from the report facts in `db`, over the rows of
/// `period`: each row by the day it happened (a case by the day it was
/// registered; a monthly audit by its month). The workload report's
/// per-person counters are totals since the log began.
pub async fn build(db: &ReadDb, name: &str, period: Period) -> Result<Table, ProjectionError> {
    let title = REPORTS
        .iter()
        .find(|(report, _)| *report == name)
        .map(|(_, title)| *title)
        .ok_or_else(|| ProjectionError::UnknownReport(name.to_owned()))?;
    let facts = Facts { db, period };
    let mut table = match name {
        "work-log" => work_log(facts.load(WORK_LOG, as_work_log).await?),
        "returns" => returns(facts.all(CASE, as_case).await?, period),
        "reships" => reships(facts.load(RESHIP, as_reship).await?),
        "factory-returns" => factory_returns(facts.all(CASE, as_case).await?, period),
        "parcels" => parcels(facts.all(CASE, as_case).await?, period),
        "reminders" => reminders(
            facts.load(REMINDER, as_reminder).await?,
            facts.all(UNPAID, as_unpaid).await?,
        ),
        "reminder-summary" => reminder_summary(
            facts.load(REMINDER, as_reminder).await?,
            facts.all(UNPAID, as_unpaid).await?,
        ),
        "satisfaction" => satisfaction(facts.load(REVISIT, as_revisit).await?, By::Month),
        "revisits-weekly" => satisfaction(facts.load(REVISIT, as_revisit).await?, By::Week),
        "sampling-audit" => sampling_audit(facts.load(AUDIT, as_audit).await?),
        "sampling-audit-sheet" => {
            sampling_audit_sheet(facts.load(AUDIT_CUSTOMER, as_audit_customer).await?)
        }
        "sampling-audit-agents" => {
            sampling_audit_agents(facts.load(AUDIT_CUSTOMER, as_audit_customer).await?)
        }
        "complaints" => complaints(
            facts.load(CASE, as_case).await?,
            facts.load(AUDIT_CUSTOMER, as_audit_customer).await?,
        ),
        "churn" => churn(
            facts.all(CASE, as_case).await?,
            facts.all(REVISIT, as_revisit).await?,
            period,
        ),
        "incidents" => incidents(facts.load(CASE, as_case).await?),
        "sla" => sla(facts.load(CASE, as_case).await?),
        "repairs" => repairs(facts.load(REPAIR, as_repair).await?),
        "handoffs" => handoffs(facts.load(HANDOFF, as_handoff).await?),
        _ => workload(
            facts.load(CASE, as_case).await?,
            facts.all(AGENT, as_agent).await?,
        ),
    };
    table.name = name.to_owned();
    table.title = title.to_owned();
    Ok(table)
}

/// A fact that happened on a day (or in a month) a period may hold.
trait Dated {
    fn in_period(&self, period: &Period) -> bool;
}

macro_rules! dated_by_day {
    ($($row:ty => $day:ident),* $(,)?) => {
        $(impl Dated for $row {
            fn in_period(&self, period: &Period) -> bool {
                period.contains(self.$day)
            }
        })*
    };
}
dated_by_day!(
    WorkLogRow => day,
    CaseFacts => registered_day,
    ReshipRow => day,
    ReminderRow => day,
    RevisitRow => day,
    RepairRow => received_day,
    HandoffRow => day,
);

impl Dated for AuditRow {
    fn in_period(&self, period: &Period) -> bool {
        period.overlaps_month(&self.month)
    }
}

impl Dated for AuditCustomerRow {
    fn in_period(&self, period: &Period) -> bool {
        period.overlaps_month(&self.month)
    }
}

struct Facts<'a> {
    db: &'a ReadDb,
    period: Period,
}

impl Facts<'_> {
    /// The facts of a collection that fall in the period.
    async fn load<T: Dated>(
        &self,
        collection: &str,
        pick: fn(ReportDoc) -> Option<T>,
    ) -> Result<Vec<T>, ProjectionError> {
        let mut facts = self.all(collection, pick).await?;
        facts.retain(|fact| fact.in_period(&self.period));
        Ok(facts)
    }

    /// Every fact of a collection, whenever it happened.
    async fn all<T>(
        &self,
        collection: &str,
        pick: fn(ReportDoc) -> Option<T>,
    ) -> Result<Vec<T>, ProjectionError> {
        let table = table_name(
            <super::Reports as crate::projection::Projection>::NAME,
            Target::Live,
        );
        let rows = self.db.all(&table, collection).await?;
        let mut facts = Vec::with_capacity(rows.len());
        for row in rows {
            let doc: ReportDoc = serde_json::from_str(&row.doc).map_err(|e| {
                ProjectionError::CorruptRow(format!("{table}/{collection}/{}: {e}", row.key))
            })?;
            facts.extend(pick(doc));
        }
        Ok(facts)
    }
}

macro_rules! picker {
    ($name:ident, $variant:ident, $row:ty) => {
        fn $name(doc: ReportDoc) -> Option<$row> {
            match doc {
                ReportDoc::$variant(row) => Some(row),
                _ => None,
            }
        }
    };
}
picker!(as_case, Case, CaseFacts);
picker!(as_agent, Agent, AgentFacts);
picker!(as_work_log, WorkLog, WorkLogRow);
picker!(as_reship, Reship, ReshipRow);
picker!(as_unpaid, Unpaid, UnpaidRow);
picker!(as_reminder, Reminder, ReminderRow);
picker!(as_revisit, Revisit, RevisitRow);
picker!(as_audit, Audit, AuditRow);
picker!(as_audit_customer, AuditCustomer, AuditCustomerRow);
picker!(as_repair, Repair, RepairRow);
picker!(as_handoff, Handoff, HandoffRow);

/// A share as a percentage with one decimal, or null when nothing was counted.
fn percent(part: u64, whole: u64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!(((part as f64) * 1000.0 / (whole as f64)).round() / 10.0)
    }
}

/// An average with two decimals, or null.
fn average(sum: u64, count: u64) -> Value {
    if count == 0 {
        Value::Null
    } else {
        // Rounded half up to the hundredth, as the audit records it.
        json!(hundredths_half_up(sum, count) as f64 / 100.0)
    }
}

/// A case as the reports name it: whole, since case ids begin with the time
/// they were made, and any shorter prefix is shared by every case
/// registered in the same minute.
fn case_ref(id: &uuid::Uuid) -> String {
    id.to_string()
}

fn work_log(mut rows: Vec<WorkLogRow>) -> Table {
    rows.sort_by(|a, b| (a.day, &a.handler, a.first_at).cmp(&(b.day, &b.handler, b.first_at)));
    Table::new(
        &[
            "day",
            "case",
            "customer",
            "phone",
            "category",
            "handler",
            "status",
            "first_at",
            "last_at",
            "actions",
            "last_action",
        ],
        rows.into_iter().map(|r| {
            vec![
                json!(r.day),
                json!(case_ref(&r.case_id)),
                json!(r.customer),
                json!(r.phone),
                json!(r.category.as_str()),
                json!(r.handler),
                json!(r.status),
                json!(r.first_at),
                json!(r.last_at),
                json!(r.actions),
                json!(r.last_action),
            ]
        }),
    )
}

/// The running total of each product and specification down a register.
#[derive(Default)]
struct RunningTotals<'r>(HashMap<(&'r str, Option<&'r str>), u64>);

impl<'r> RunningTotals<'r> {
    fn add(&mut self, line: &'r GoodsLine) -> u64 {
        let total = self
            .0
            .entry((line.product.as_str(), line.spec.as_deref()))
            .or_default();
        *total += u64::from(line.quantity);
        *total
    }
}

/// 退件表: a line per product and specification of each parcel that came
/// back; the parcel's inspection and restocking repeat on each of its lines.
fn returns(cases: Vec<CaseFacts>, period: Period) -> Table {
    let mut rows: Vec<_> = cases
        .iter()
        .flat_map(|case| case.returns.iter().map(move |r| (case, r)))
        .filter(|(_, r)| period.contains(r.day))
        .flat_map(|(case, r)| r.lines.iter().map(move |line| (case, r, line)))
        .collect();
    rows.sort_by(|a, b| {
        (a.1.day, &a.2.product, &a.2.spec, a.0.case_id).cmp(&(
            b.1.day,
            &b.2.product,
            &b.2.spec,
            b.0.case_id,
        ))
    });
    let mut running = RunningTotals::default();
    Table::new(
        &[
            "day",
            "case",
            "buyer_id",
            "order_no",
            "product",
            "spec",
            "quantity",
            "running_total",
            "tracking_no",
            "cause",
            "resellable",
            "restocked",
            "received_by",
        ],
        rows.into_iter().map(|(case, r, line)| {
            vec![
                json!(r.day),
                json!(case_ref(&case.case_id)),
                json!(case.buyer_id),
                json!(case.order_no),
                json!(line.product),
                json!(line.spec),
                json!(line.quantity),
                json!(running.add(line)),
                json!(r.tracking_no),
                json!(r.cause),
                json!(r.resellable),
                json!(r.restocked),
                json!(r.received_by),
            ]
        }),
    )
}

/// 重发单: a line per product and specification of each reship order.
fn reships(mut orders: Vec<ReshipRow>) -> Table {
    orders.sort_by_key(|r| (r.day, r.case_id));
    let mut running = RunningTotals::default();
    Table::new(
        &[
            "day",
            "case",
            "buyer_id",
            "order_no",
            "filled_by",
            "signed_off_by",
            "product",
            "spec",
            "quantity",
            "running_total",
            "reason",
            "carrier",
            "tracking_no",
        ],
        orders
            .iter()
            .flat_map(|r| r.lines.iter().map(move |line| (r, line)))
            .map(|(r, line)| {
                vec![
                    json!(r.day),
                    json!(case_ref(&r.case_id)),
                    json!(r.buyer_id),
                    json!(r.order_no),
                    json!(r.filled_by),
                    json!(r.signed_off_by),
                    json!(line.product),
                    json!(line.spec),
                    json!(line.quantity),
                    json!(running.add(line)),
                    json!(r.reason),
                    json!(r.carrier),
                    json!(r.tracking_no),
                ]
            }),
    )
}

/// 出厂问题产品汇总返厂: what came back for a quality fault, totalled by the
/// month it arrived, product and specification: a month's batch for the
/// factory.
fn factory_returns(cases: Vec<CaseFacts>, period: Period) -> Table {
    #[derive(Default)]
    struct Batch<'c> {
        quantity: u64,
        parcels: BTreeSet<&'c str>,
        cases: BTreeSet<uuid::Uuid>,
    }
    let mut batches: BTreeMap<(String, &str, Option<&str>), Batch> = BTreeMap::new();
    for case in &cases {
        for parcel in &case.returns {
            if parcel.cause.as_deref() != Some("quality") || !period.contains(parcel.day) {
                continue;
            }
            for line in &parcel.lines {
                let month = parcel.day.format("%Y-%m").to_string();
                let batch = batches
                    .entry((month, line.product.as_str(), line.spec.as_deref()))
                    .or_default();
                batch.quantity += u64::from(line.quantity);
                batch.parcels.insert(parcel.tracking_no.as_str());
                batch.cases.insert(case.case_id);
            }
        }
    }
    Table::new(
        &[
            "month",
            "product",
            "spec",
            "quantity",
            "parcels",
            "cases",
            "tracking_nos",
        ],
        batches.into_iter().map(|((month, product, spec), batch)| {
            vec![
                json!(month),
                json!(product),
                json!(spec),
                json!(batch.quantity),
                json!(batch.parcels.len()),
                json!(batch.cases.len()),
                json!(batch.parcels.into_iter().collect::<Vec<_>>().join(" ")),
            ]
        }),
    )
}

fn parcels(cases: Vec<CaseFacts>, period: Period) -> Table {
    let mut rows: Vec<_> = cases
        .iter()
        .flat_map(|case| {
            case.parcels
                .iter()
                .filter(|p| p.class.is_courier_liable() || p.loss_confirmed)
                .filter(|p| period.contains(p.day))
                .map(move |p| (case.case_id, p))
        })
        .collect();
    rows.sort_by_key(|(case_id, p)| (p.day, *case_id));
    Table::new(
        &[
            "day",
            "case",
            "carrier",
            "tracking_no",
            "class",
            "photos",
            "chases",
            "loss_confirmed",
            "reshipped",
            "claimed_minor",
            "settled_minor",
        ],
        rows.into_iter().map(|(case_id, p)| {
            vec![
                json!(p.day),
                json!(case_ref(&case_id)),
                json!(p.carrier),
                json!(p.tracking_no),
                json!(serde_plain(&p.class)),
                json!(p.photos),
                json!(p.chases),
                json!(p.loss_confirmed),
                json!(p.reshipped),
                json!(p.claimed),
                json!(p.settled),
            ]
        }),
    )
}

fn reminders(mut rows: Vec<ReminderRow>, orders: Vec<UnpaidRow>) -> Table {
    let orders: HashMap<_, _> = orders.into_iter().map(|o| (o.order_id, o)).collect();
    // The unpaid amount is summed over all of the buyer's unpaid orders.
    let mut unpaid_by_buyer: HashMap<&str, i64> = HashMap::new();
    for order in orders
        .values()
        .filter(|o| o.paid_at.is_none() && o.closed.is_none())
    {
        *unpaid_by_buyer.entry(order.buyer_id.as_str()).or_default() += order.amount;
    }
    rows.sort_by(|a, b| (a.day, &a.handler, a.order_id).cmp(&(b.day, &b.handler, b.order_id)));
    Table::new(
        &[
            "reminder_day",
            "order_no",
            "order_day",
            "buyer_id",
            "unpaid_total_minor",
            "handler",
            "channel",
            "result",
            "paid",
            "paid_at",
            "paid_total_minor",
        ],
        rows.iter().filter_map(|r| {
            let order = orders.get(&r.order_id)?;
            Some(vec![
                json!(r.day),
                json!(order.order_no),
                json!(order.ordered_day),
                json!(order.buyer_id),
                json!(unpaid_by_buyer
                    .get(order.buyer_id.as_str())
                    .copied()
                    .unwrap_or(0)),
                json!(r.handler),
                json!(r.channel),
                json!(r.result),
                json!(order.paid_at.is_some()),
                json!(order.paid_at),
                json!(order.paid_amount),
            ])
        }),
    )
}

fn reminder_summary(rows: Vec<ReminderRow>, orders: Vec<UnpaidRow>) -> Table {
    let orders: HashMap<_, _> = orders.into_iter().map(|o| (o.order_id, o)).collect();
    // Per day and handler, each order counts once however often it was called.
    let mut groups: BTreeMap<(chrono::NaiveDate, String), BTreeSet<uuid::Uuid>> = BTreeMap::new();
    for r in &rows {
        groups
            .entry((r.day, r.handler.clone()))
            .or_default()
            .insert(r.order_id);
    }
    Table::new(
        &[
            "day",
            "handler",
            "customers_reminded",
            "customers_paid",
            "unpaid_total_minor",
            "recovered_minor",
            "success_rate_pct",
        ],
        groups.into_iter().map(|((day, handler), order_ids)| {
            let orders: Vec<&UnpaidRow> =
                order_ids.iter().filter_map(|id| orders.get(id)).collect();
            let buyers: BTreeSet<&str> = orders.iter().map(|o| o.buyer_id.as_str()).collect();
            let paid_buyers: BTreeSet<&str> = orders
                .iter()
                .filter(|o| o.paid_at.is_some())
                .map(|o| o.buyer_id.as_str())
                .collect();
            let unpaid: i64 = orders.iter().map(|o| o.amount).sum();
            let recovered: i64 = orders.iter().map(|o| o.paid_amount).sum();
            vec![
                json!(day),
                json!(handler),
                json!(buyers.len()),
                json!(paid_buyers.len()),
                json!(unpaid),
                json!(recovered),
                percent(recovered.unsigned_abs(), unpaid.unsigned_abs()),
            ]
        }),
    )
}

/// The span the revisit reports group by.
#[derive(Debug, Clone, Copy)]
enum By {
    Month,
    /// A week from Monday, named by its Monday (the report is due then).
    Week,
}

fn satisfaction(rows: Vec<RevisitRow>, by: By) -> Table {
    #[derive(Default)]
    struct Group {
        revisits: u64,
        scored: u64,
        sum: u64,
        /// Ratings of the service attitude (服务态度) and of the technical
        /// skill (技术): (count, sum) each.
        attitude: (u64, u64),
        skill: (u64, u64),
        low: u64,
        refused: u64,
        unreachable: u64,
        reasons: Vec<String>,
    }
    let mut groups: BTreeMap<(String, String, String), Group> = BTreeMap::new();
    for r in rows {
        let span = match by {
            By::Month => r.day.format("%Y-%m").to_string(),
            By::Week => r.day.week(chrono::Weekday::Mon).first_day().to_string(),
        };
        let group = groups
            .entry((span, r.department.clone(), r.agent.clone()))
            .or_default();
        group.revisits += 1;
        match (r.outcome.as_str(), r.score) {
            ("scored", Some(score)) => {
                group.scored += 1;
                group.sum += u64::from(score);
                for (rating, total) in [
                    (r.attitude, &mut group.attitude),
                    (r.skill, &mut group.skill),
                ] {
                    if let Some(rating) = rating {
                        total.0 += 1;
                        total.1 += u64::from(rating);
                    }
                }
                if score < 4 {
                    group.low += 1;
                    if let Some(reason) = r.comment.clone().or(r.complaint.clone()) {
                        group.reasons.push(reason);
                    }
                }
            }
            ("refused", _) => group.refused += 1,
            _ => group.unreachable += 1,
        }
    }
    Table::new(
        &[
            match by {
                By::Month => "month",
                By::Week => "week",
            },
            "department",
            "agent",
            "revisits",
            "scored",
            "average",
            "average_attitude",
            "average_skill",
            "low_scores",
            "refused",
            "unreachable",
            "low_score_reasons",
        ],
        groups.into_iter().map(|((span, department, agent), g)| {
            vec![
                json!(span),
                json!(department),
                json!(agent),
                json!(g.revisits),
                json!(g.scored),
                average(g.sum, g.scored),
                average(g.attitude.1, g.attitude.0),
                average(g.skill.1, g.skill.0),
                json!(g.low),
                json!(g.refused),
                json!(g.unreachable),
                json!(g.reasons.join("; ")),
            ]
        }),
    )
}

fn sampling_audit(mut rows: Vec<AuditRow>) -> Table {
    rows.sort_by(|a, b| a.month.cmp(&b.month));
    Table::new(
        &[
            "month",
            "sampled",
            "calls",
            "scored",
            "refused_scored_3",
            "excluded",
            "average",
            "target",
            "target_met",
            "closed",
        ],
        rows.into_iter().map(|r| {
            let avg = average(u64::from(r.score_sum), u64::from(r.scored));
            let target = f64::from(r.target_tenths) / 10.0;
            let met = avg.as_f64().map(|a| a >= target);
            vec![
                json!(r.month),
                json!(r.sampled),
                json!(r.calls),
                json!(r.scored),
                json!(r.refused),
                json!(r.excluded),
                avg,
                json!(target),
                json!(met),
                json!(r.closed),
            ]
        }),
    )
}

/// 客户投诉问题解决情况表, filed on the 3rd for the month before: each
/// complaint with the problem, the solution and how the customer took it.
/// Months as numbers that count on across years.
fn month_number(day: NaiveDate) -> i32 {
    day.year() * 12 + day.month0() as i32
}

fn month_name(number: i32) -> String {
    format!(
        "{:04}-{:02}",
        number.div_euclid(12),
        number.rem_euclid(12) + 1
    )
}

/// How many months before a month a customer must have come back in, and
/// in how many of them, to count as a regular customer.
const REGULAR_WINDOW: i32 = 3;
const REGULAR_MONTHS: usize = 2;

const CHURN_COLUMNS: &[&str] = &[
    "month",
    "regular_customers",
    "lost",
    "churn_rate_pct",
    "reasons",
];

/// 客户流失率: for each month, the regular customers (cases in at least two
/// of the three months before, known by their phone number) and those of
/// them with no case that month: lost, with the last thing their revisits
/// recorded (a complaint, else a comment).
fn churn(cases: Vec<CaseFacts>, revisits: Vec<RevisitRow>, period: Period) -> Table {
    let mut months_of: HashMap<String, BTreeSet<i32>> = HashMap::new();
    let mut customer_of: HashMap<uuid::Uuid, String> = HashMap::new();
    for case in &cases {
        let customer = crate::resources::phone_key(&case.phone);
        months_of
            .entry(customer.clone())
            .or_default()
            .insert(month_number(case.registered_day));
        customer_of.insert(case.case_id, customer);
    }
    let mut last_said: HashMap<&str, (NaiveDate, &str)> = HashMap::new();
    for revisit in &revisits {
        let Some(customer) = customer_of.get(&revisit.case_id) else {
            continue;
        };
        let Some(said) = revisit.complaint.as_deref().or(revisit.comment.as_deref()) else {
            continue;
        };
        let last = last_said.entry(customer).or_insert((revisit.day, said));
        if revisit.day >= last.0 {
            *last = (revisit.day, said);
        }
    }
    let all_months: BTreeSet<i32> = months_of.values().flatten().copied().collect();
    let (Some(&first), Some(&last)) = (all_months.first(), all_months.last()) else {
        return Table::new(CHURN_COLUMNS, Vec::new());
    };
    let rows = (first + 1..=last + 1)
        .filter(|month| period.overlaps_month(&month_name(*month)))
        .map(|month| {
            let mut regular = 0u64;
            let mut reasons = Vec::new();
            let mut lost = 0u64;
            for (customer, months) in &months_of {
                let before = months.range(month - REGULAR_WINDOW..month).count();
                if before < REGULAR_MONTHS {
                    continue;
                }
                regular += 1;
                if !months.contains(&month) {
                    lost += 1;
                    if let Some((_, said)) = last_said.get(customer.as_str()) {
                        reasons.push(*said);
                    }
                }
            }
            reasons.sort_unstable();
            vec![
                json!(month_name(month)),
                json!(regular),
                json!(lost),
                percent(lost, regular),
                json!(reasons.join("；")),
            ]
        })
        .collect::<Vec<_>>();
    Table::new(CHURN_COLUMNS, rows)
}

fn complaints(cases: Vec<CaseFacts>, audit_calls: Vec<AuditCustomerRow>) -> Table {
    let mut rows: Vec<&CaseFacts> = cases.iter().filter(|c| c.complaint).collect();
    rows.sort_by_key(|c| c.registered_at);
    let mut raised: Vec<&AuditCustomerRow> = audit_calls
        .iter()
        .filter(|r| r.complaint.is_some())
        .collect();
    raised.sort_by_key(|r| r.last_called_at);
    let cases = rows.into_iter().map(|c| {
        vec![
            json!(c.registered_day.format("%Y-%m").to_string()),
            json!("case"),
            json!(case_ref(&c.case_id)),
            json!(c.registered_at),
            json!(c.category.as_str()),
            json!(c.customer),
            json!(c.complaint_reason.as_deref().unwrap_or(&c.problem)),
            json!(c.assignee),
            json!(c.status),
            json!(c.solution),
            json!(c.resolution),
            json!(c.closed_at),
            json!(c.resolved_on_time),
            json!(c.customer_confirmed),
            json!(c.customer_feedback),
            json!(c.reopened),
        ]
    });
    // Complaints a sampling-audit call could not settle, until a case
    // takes them up.
    let calls = raised.into_iter().map(|r| {
        vec![
            json!(r.month),
            json!("sampling_audit"),
            Value::Null,
            json!(r.last_called_at),
            Value::Null,
            json!(r.customer),
            json!(r.complaint),
            json!(r.agent),
            json!("raised"),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            json!(0),
        ]
    });
    Table::new(
        &[
            "month",
            "source",
            "case",
            "at",
            "category",
            "customer",
            "problem",
            "assignee",
            "status",
            "solution",
            "resolution",
            "closed_at",
            "on_time",
            "customer_confirmed",
            "customer_feedback",
            "reopened",
        ],
        cases.chain(calls),
    )
}

fn sla(cases: Vec<CaseFacts>) -> Table {
    #[derive(Default)]
    struct Group {
        cases: u64,
        responded: u64,
        responded_on_time: u64,
        closed: u64,
        closed_on_time: u64,
        first_response_breaches: u64,
        resolution_breaches: u64,
    }
    let mut groups: BTreeMap<Priority, Group> = BTreeMap::new();
    for case in cases.iter().filter(|c| c.status != "merged") {
        let g = groups.entry(case.priority).or_default();
        g.cases += 1;
        if let Some(on_time) = case.first_response_on_time {
            g.responded += 1;
            g.responded_on_time += u64::from(on_time);
        }
        if let Some(on_time) = case.resolved_on_time {
            g.closed += 1;
            g.closed_on_time += u64::from(on_time);
        }
        g.first_response_breaches += u64::from(case.breaches.contains(&SlaClock::FirstResponse));
        g.resolution_breaches += u64::from(case.breaches.contains(&SlaClock::Resolution));
    }
    Table::new(
        &[
            "priority",
            "cases",
            "first_response_measured",
            "first_response_on_time_pct",
            "resolution_measured",
            "resolution_on_time_pct",
            "first_response_breaches",
            "resolution_breaches",
        ],
        groups.into_iter().map(|(priority, g)| {
            vec![
                json!(priority),
                json!(g.cases),
                json!(g.responded),
                percent(g.responded_on_time, g.responded),
                json!(g.closed),
                percent(g.closed_on_time, g.closed),
                json!(g.first_response_breaches),
                json!(g.resolution_breaches),
            ]
        }),
    )
}

fn repairs(rows: Vec<RepairRow>) -> Table {
    #[derive(Default)]
    struct Group {
        received: u64,
        returned: u64,
        on_time: u64,
        days: i64,
        tested: u64,
        first_pass: u64,
        free: u64,
        quoted: u64,
        quotes: i64,
        caps: i64,
        caps_raised: u64,
    }
    // A tier's target in days is the one its repairs were received under:
    // a tier whose target the policy changed shows one line per target.
    let mut groups: BTreeMap<(u8, i64), Group> = BTreeMap::new();
    for r in rows {
        let target = (r.due_at - r.received_at).num_days();
        let g = groups.entry((r.tier, target)).or_default();
        g.received += 1;
        g.free += u64::from(r.free == Some(true));
        // Quote against cap, over the paid repairs that have a quote.
        if let (Some(quote), Some(cap)) = (r.quote, r.cost_cap) {
            g.quoted += 1;
            g.quotes += quote;
            g.caps += cap;
        }
        g.caps_raised += u64::from(r.caps_agreed);
        if let Some(passed) = r.first_test_passed {
            g.tested += 1;
            g.first_pass += u64::from(passed);
        }
        if let (Some(on_time), Some(days)) = (r.on_time, r.turnaround_days) {
            g.returned += 1;
            g.on_time += u64::from(on_time);
            g.days += days;
        }
    }
    Table::new(
        &[
            "tier",
            "tier_days",
            "received",
            "free",
            "returned",
            "avg_turnaround_days",
            "on_time_pct",
            "tested",
            "quality_pass_pct",
            "quoted",
            "quotes_minor",
            "caps_minor",
            "caps_raised",
        ],
        groups.into_iter().map(|((tier, days), g)| {
            vec![
                json!(tier),
                json!(days),
                json!(g.received),
                json!(g.free),
                json!(g.returned),
                average(g.days.unsigned_abs(), g.returned),
                percent(g.on_time, g.returned),
                json!(g.tested),
                percent(g.first_pass, g.tested),
                json!(g.quoted),
                json!(g.quotes),
                json!(g.caps),
                json!(g.caps_raised),
            ]
        }),
    )
}

fn handoffs(rows: Vec<HandoffRow>) -> Table {
    #[derive(Default)]
    struct Group {
        handed_off: u64,
        confirmed: u64,
        answered: u64,
        on_time: u64,
        response_minutes: i64,
        escalated: u64,
        open: u64,
    }
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for r in rows {
        let g = groups
            .entry((r.month.clone(), serde_plain(&r.department)))
            .or_default();
        g.handed_off += 1;
        g.confirmed += u64::from(r.confirmed_at.is_some());
        g.escalated += u64::from(r.escalated);
        match r.answered_at {
            Some(answered) => {
                g.answered += 1;
                g.on_time += u64::from(r.on_time == Some(true));
                g.response_minutes += (answered - r.handed_off_at).num_minutes();
            }
            None => g.open += 1,
        }
    }
    Table::new(
        &[
            "month",
            "department",
            "handed_off",
            "confirmed",
            "answered",
            "on_time_pct",
            "avg_response_hours",
            "escalated",
            "open",
        ],
        groups.into_iter().map(|((month, department), g)| {
            vec![
                json!(month),
                json!(department),
                json!(g.handed_off),
                json!(g.confirmed),
                json!(g.answered),
                percent(g.on_time, g.answered),
                average(g.response_minutes.unsigned_abs(), g.answered * 60),
                json!(g.escalated),
                json!(g.open),
            ]
        }),
    )
}

fn workload(cases: Vec<CaseFacts>, agents: Vec<AgentFacts>) -> Table {
    #[derive(Default)]
    struct Load {
        open: u64,
        closed: u64,
        p1_open: u64,
        complaints: u64,
        facts: AgentFacts,
    }
    let mut loads: BTreeMap<String, Load> = BTreeMap::new();
    for case in &cases {
        let Some(agent) = &case.assignee else {
            continue;
        };
        let load = loads.entry(agent.clone()).or_default();
        match case.status.as_str() {
            "open" => {
                load.open += 1;
                load.p1_open += u64::from(case.priority == Priority::P1);
            }
            "closed" => load.closed += 1,
            _ => {}
        }
        load.complaints += u64::from(case.complaint || case.category == Category::ServiceComplaint);
    }
    for facts in agents {
        let agent = facts.agent.clone();
        loads.entry(agent).or_default().facts = facts;
    }
    Table::new(
        &[
            "agent",
            "open_cases",
            "open_p1",
            "closed_cases",
            "complaints",
            "calls",
            "reminders",
            "revisits",
            "actions",
        ],
        loads.into_iter().map(|(agent, l)| {
            vec![
                json!(agent),
                json!(l.open),
                json!(l.p1_open),
                json!(l.closed),
                json!(l.complaints),
                json!(l.facts.calls),
                json!(l.facts.reminders),
                json!(l.facts.revisits),
                json!(l.facts.actions),
            ]
        }),
    )
}

/// 服务抽查明细表: every sampled customer, called or not yet.
fn sampling_audit_sheet(mut rows: Vec<AuditCustomerRow>) -> Table {
    rows.sort_by(|a, b| {
        (&a.month, a.last_called_at, &a.customer).cmp(&(&b.month, b.last_called_at, &b.customer))
    });
    Table::new(
        &[
            "month",
            "customer",
            "agent",
            "calls",
            "last_called_at",
            "slot",
            "outcome",
            "score",
            "reason",
            "complaint",
            "caller",
        ],
        rows.into_iter().map(|r| {
            vec![
                json!(r.month),
                json!(r.customer),
                json!(r.agent),
                json!(r.calls),
                json!(r.last_called_at),
                json!(r.last_slot),
                json!(r.outcome),
                json!(r.score),
                json!(r.reason),
                json!(r.complaint),
                json!(r.caller),
            ]
        }),
    )
}

/// Each agent's audited customers and their average, against the month's
/// target: the audit's scores count for rewards and penalties.
fn sampling_audit_agents(rows: Vec<AuditCustomerRow>) -> Table {
    #[derive(Default)]
    struct Group {
        scored: u64,
        sum: u64,
        low: u64,
        complaints: u64,
        target_tenths: u32,
    }
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for r in &rows {
        let agent = r.agent.clone().unwrap_or_default();
        let group = groups.entry((r.month.clone(), agent)).or_default();
        group.target_tenths = r.target_tenths;
        group.complaints += u64::from(r.complaint.is_some());
        if let Some(score) = r.score {
            group.scored += 1;
            group.sum += u64::from(score);
            group.low += u64::from(score < 4);
        }
    }
    Table::new(
        &[
            "month",
            "agent",
            "scored",
            "average",
            "low_scores",
            "complaints",
            "target",
            "target_met",
        ],
        groups.into_iter().map(|((month, agent), g)| {
            let avg = average(g.sum, g.scored);
            let target = f64::from(g.target_tenths) / 10.0;
            let met = avg.as_f64().map(|a| a >= target);
            vec![
                json!(month),
                json!(agent),
                json!(g.scored),
                avg,
                json!(g.low),
                json!(g.complaints),
                json!(target),
                json!(met),
            ]
        }),
    )
}

/// 批量故障: the cases of each product, batch and incident, with the root
/// causes found, so that a failing batch shows as one line.
fn incidents(cases: Vec<CaseFacts>) -> Table {
    #[derive(Default)]
    struct Group {
        cases: u64,
        open: u64,
        first: Option<chrono::DateTime<chrono::Utc>>,
        last: Option<chrono::DateTime<chrono::Utc>>,
        causes: BTreeSet<String>,
    }
    let mut groups: BTreeMap<(String, String, String, String), Group> = BTreeMap::new();
    for case in cases
        .iter()
        .filter(|c| c.incident.is_some() || c.root_cause.is_some())
    {
        let key = (
            case.product.clone(),
            case.model.clone().unwrap_or_default(),
            case.batch.clone().unwrap_or_default(),
            case.incident.clone().unwrap_or_default(),
        );
        let group = groups.entry(key).or_default();
        group.cases += 1;
        group.open += u64::from(case.status == "open");
        let at = case.registered_at;
        group.first = Some(group.first.map_or(at, |first| first.min(at)));
        group.last = Some(group.last.map_or(at, |last| last.max(at)));
        group.causes.extend(case.root_cause.clone());
    }
    Table::new(
        &[
            "product",
            "model",
            "batch",
            "incident",
            "cases",
            "open",
            "first_registered_at",
            "last_registered_at",
            "root_causes",
        ],
        groups
            .into_iter()
            .map(|((product, model, batch, incident), g)| {
                vec![
                    json!(product),
                    json!(model),
                    json!(batch),
                    json!(incident),
                    json!(g.cases),
                    json!(g.open),
                    json!(g.first),
                    json!(g.last),
                    json!(g.causes.into_iter().collect::<Vec<_>>().join("; ")),
                ]
            }),
    )
}
