//! The money ledger, double-entry: every money event of a case posts
//! entries that sum to zero, between accounts named after what the money is
//! (refunds payable, compensation expense, courier claims receivable, ...).
//! Balances per case, day, account and counterparty are sums of entries.

use std::collections::BTreeMap;

use aftersales_domain::case::CaseEvent;
use aftersales_domain::Money;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::docs::Docs;
use crate::envelope::{AnyEvent, Envelope};
use crate::error::ProjectionError;
use crate::projection::{DocKey, Projection};

const CONTEXT: &str = "case";
pub const TRANSACTION: &str = "tx";

/// The accounts, and what a balance on each means. Debits are positive.
pub const ACCOUNTS: &[(&str, &str)] = &[
    ("refund_expense", "refunds granted to customers"),
    ("refunds_payable", "refunds approved, not yet paid"),
    ("refunds_paid", "refunds paid out (credit)"),
    ("compensation_expense", "compensation granted"),
    ("compensation_payable", "compensation granted, not yet paid"),
    ("compensation_paid", "compensation paid out (credit)"),
    (
        "price_difference_refunds",
        "price-difference refunds (退差价) paid",
    ),
    (
        "price_difference_paid",
        "price-difference refunds paid out (credit)",
    ),
    ("postage_expense", "postage borne by the company"),
    (
        "postage_advanced_by_customers",
        "postage customers advanced, owed to them",
    ),
    ("postage_reimbursed", "advanced postage paid back (credit)"),
    (
        "courier_claims_receivable",
        "claims filed with couriers, not yet settled",
    ),
    (
        "courier_claim_income",
        "what couriers owe for damaged or lost goods (credit)",
    ),
    ("courier_claims_received", "claim settlements received"),
];

/// The ledger read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ledger;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "doc", rename_all = "snake_case")]
pub enum LedgerDoc {
    /// What later postings of a case need to know.
    Case(CaseContext),
    Transaction(Transaction),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseContext {
    pub customer: String,
    /// Requested refunds, posted when approved.
    pub refunds: BTreeMap<Uuid, Money>,
    /// Filed claims: the carrier and the amount claimed.
    pub claims: BTreeMap<Uuid, (String, Money)>,
}

/// One balanced posting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub position: u64,
    pub event_id: Uuid,
    pub case_id: Uuid,
    pub at: DateTime<Utc>,
    pub day: NaiveDate,
    pub event_type: String,
    pub currency: String,
    /// `courier:<carrier>` or `customer:<buyer id or phone>`.
    pub counterparty: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub account: String,
    /// Minor units; debit positive, credit negative.
    pub amount: i64,
}

impl Transaction {
    pub fn is_balanced(&self) -> bool {
        self.entries
            .iter()
            .map(|entry| i128::from(entry.amount))
            .sum::<i128>()
            == 0
    }
}

impl Projection for Ledger {
    type Doc = LedgerDoc;
    const NAME: &'static str = "ledger";
    const VERSION: u32 = 1;

    fn reads(&self, event: &Envelope, keys: &mut Vec<DocKey>) {
        if let AnyEvent::Case(_) = event.event {
            keys.push((CONTEXT, event.aggregate_id.to_string()));
        }
    }

    fn apply(&self, event: &Envelope, docs: &mut Docs<LedgerDoc>) -> Result<(), ProjectionError> {
        let AnyEvent::Case(case_event) = &event.event else {
            return Ok(());
        };
        let key = event.aggregate_id.to_string();
        if let CaseEvent::CaseRegistered(registered) = case_event {
            let customer = registered
                .customer
                .buyer_id
                .clone()
                .unwrap_or_else(|| registered.customer.phone.clone());
            docs.put(
                CONTEXT,
                key.clone(),
                LedgerDoc::Case(CaseContext {
                    customer,
                    ..CaseContext::default()
                }),
            );
            return Ok(());
        }
        let Some(LedgerDoc::Case(context)) = docs.get_mut(CONTEXT, &key) else {
            return Err(ProjectionError::Inconsistent {
                position: event.position,
                reason: "a case event before the case was registered".to_owned(),
            });
        };
        let customer = format!("customer:{}", context.customer);
        let (counterparty, amount, postings): (String, Money, &[(&str, i64)]) = match case_event {
            CaseEvent::RefundRequested(e) => {
                context.refunds.insert(e.refund_id, e.amount);
                return Ok(());
            }
            CaseEvent::RefundApproved(e) => match context.refunds.get(&e.refund_id) {
                Some(amount) => (
                    customer,
                    *amount,
                    &[("refund_expense", 1), ("refunds_payable", -1)],
                ),
                None => return Ok(()),
            },
            CaseEvent::RefundAutoAccepted(e) => match context.refunds.get(&e.refund_id) {
                Some(amount) => (
                    customer,
                    *amount,
                    &[("refund_expense", 1), ("refunds_payable", -1)],
                ),
                None => return Ok(()),
            },
            CaseEvent::RefundPaid(e) => (
                customer,
                e.amount,
                &[("refunds_payable", 1), ("refunds_paid", -1)],
            ),
            CaseEvent::CompensationGranted(e) => (
                customer,
                e.amount,
                &[("compensation_expense", 1), ("compensation_payable", -1)],
            ),
            CaseEvent::CompensationPaid(e) => (
                customer,
                e.amount,
                &[("compensation_payable", 1), ("compensation_paid", -1)],
            ),
            CaseEvent::PriceDifferenceRefundPaid(e) => (
                customer,
                e.amount,
                &[
                    ("price_difference_refunds", 1),
                    ("price_difference_paid", -1),
                ],
            ),
            CaseEvent::PostageAdvancedByCustomer(e) => (
                customer,
                e.amount,
                &[
                    ("postage_expense", 1),
                    ("postage_advanced_by_customers", -1),
                ],
            ),
            CaseEvent::PostageReimbursed(e) => (
                customer,
                e.amount,
                &[
                    ("postage_advanced_by_customers", 1),
                    ("postage_reimbursed", -1),
                ],
            ),
            CaseEvent::CourierClaimFiled(e) => {
                context
                    .claims
                    .insert(e.claim_id, (e.carrier.clone(), e.amount));
                (
                    format!("courier:{}", e.carrier),
                    e.amount,
                    &[
                        ("courier_claims_receivable", 1),
                        ("courier_claim_income", -1),
                    ],
                )
            }
            CaseEvent::CourierClaimSettled(e) => {
                let Some((carrier, filed)) = context.claims.get(&e.claim_id).cloned() else {
                    return Ok(());
                };
                // What the courier did not pay is income that will not come.
                let shortfall = filed.minor - e.amount.minor;
                let entries = vec![
                    Entry {
                        account: "courier_claims_received".to_owned(),
                        amount: e.amount.minor,
                    },
                    Entry {
                        account: "courier_claim_income".to_owned(),
                        amount: shortfall,
                    },
                    Entry {
                        account: "courier_claims_receivable".to_owned(),
                        amount: -filed.minor,
                    },
                ];
                post(docs, event, format!("courier:{carrier}"), e.amount, entries);
                return Ok(());
            }
            _ => return Ok(()),
        };
        let entries = postings
            .iter()
            .map(|(account, sign)| Entry {
                account: (*account).to_owned(),
                amount: sign * amount.minor,
            })
            .collect();
        post(docs, event, counterparty, amount, entries);
        Ok(())
    }

    fn sort_key(&self, doc: &LedgerDoc) -> String {
        match doc {
            LedgerDoc::Transaction(tx) => tx.day.to_string(),
            LedgerDoc::Case(_) => String::new(),
        }
    }
}

fn post(
    docs: &mut Docs<LedgerDoc>,
    event: &Envelope,
    counterparty: String,
    amount: Money,
    entries: Vec<Entry>,
) {
    let at = event.occurred_at;
    let transaction = Transaction {
        position: event.position,
        event_id: event.event_id,
        case_id: event.aggregate_id,
        at,
        day: event.local_day(at),
        event_type: match &event.event {
            AnyEvent::Case(e) => aftersales_domain::DomainEvent::event_type(e).to_owned(),
            _ => String::new(),
        },
        currency: amount.currency.as_str().to_owned(),
        counterparty,
        entries: entries
            .into_iter()
            .filter(|entry| entry.amount != 0)
            .collect(),
    };
    docs.put(
        TRANSACTION,
        format!("{:020}", event.position),
        LedgerDoc::Transaction(transaction),
    );
}

fn table() -> String {
    crate::runner::table_name(Ledger::NAME, crate::runner::Target::Live)
}

/// Every posting, in log order.
pub async fn transactions(db: &crate::ReadDb) -> Result<Vec<Transaction>, ProjectionError> {
    let mut transactions = Vec::new();
    for row in db.all(&table(), TRANSACTION).await? {
        match serde_json::from_str(&row.doc) {
            Ok(LedgerDoc::Transaction(tx)) => transactions.push(tx),
            Ok(_) => {}
            Err(e) => {
                return Err(ProjectionError::CorruptRow(format!(
                    "ledger {}: {e}",
                    row.key
                )))
            }
        }
    }
    Ok(transactions)
}

/// What balances are grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BalanceBy {
    #[default]
    Account,
    Case,
    Day,
    Counterparty,
}

/// Balances (debit positive) per group and account, in minor units.
pub fn balances(transactions: &[Transaction], by: BalanceBy) -> crate::Table {
    let mut sums: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for tx in transactions {
        let group = match by {
            BalanceBy::Account => String::new(),
            BalanceBy::Case => tx.case_id.to_string(),
            BalanceBy::Day => tx.day.to_string(),
            BalanceBy::Counterparty => tx.counterparty.clone(),
        };
        for entry in &tx.entries {
            *sums
                .entry((group.clone(), entry.account.clone(), tx.currency.clone()))
                .or_default() += entry.amount;
        }
    }
    let column = match by {
        BalanceBy::Account => "all",
        BalanceBy::Case => "case",
        BalanceBy::Day => "day",
        BalanceBy::Counterparty => "counterparty",
    };
    let mut table = crate::Table::new(
        &[column, "account", "currency", "balance_minor"],
        sums.into_iter().filter(|(_, balance)| *balance != 0).map(
            |((group, account, currency), balance)| {
                vec![
                    group.into(),
                    account.into(),
                    currency.into(),
                    balance.into(),
                ]
            },
        ),
    );
    table.name = "balances".to_owned();
    table.title = format!("Ledger balances by {column}");
    table
}

/// The outcome of `ledger check`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LedgerCheck {
    pub transactions: usize,
    /// Transactions whose entries do not sum to zero.
    pub unbalanced: Vec<u64>,
    /// Cases where the ledger and the case view disagree.
    pub disagreements: Vec<String>,
}

impl LedgerCheck {
    pub fn is_ok(&self) -> bool {
        self.unbalanced.is_empty() && self.disagreements.is_empty()
    }
}

/// Proves every transaction balances and that each case's postings agree
/// with the money totals of its case view.
pub async fn check(db: &crate::ReadDb) -> Result<LedgerCheck, ProjectionError> {
    let transactions = transactions(db).await?;
    let mut check = LedgerCheck {
        transactions: transactions.len(),
        unbalanced: transactions
            .iter()
            .filter(|tx| !tx.is_balanced())
            .map(|tx| tx.position)
            .collect(),
        disagreements: Vec::new(),
    };
    // Per case: how much each account moved by debits and by credits.
    let mut moved: BTreeMap<(Uuid, &str), (i64, i64)> = BTreeMap::new();
    for tx in &transactions {
        for entry in &tx.entries {
            let sums = moved
                .entry((tx.case_id, entry.account.as_str()))
                .or_default();
            if entry.amount > 0 {
                sums.0 += entry.amount;
            } else {
                sums.1 -= entry.amount;
            }
        }
    }
    let debits = |case: Uuid, account: &str| moved.get(&(case, account)).map_or(0, |m| m.0);
    let credits = |case: Uuid, account: &str| moved.get(&(case, account)).map_or(0, |m| m.1);
    let views_table =
        crate::runner::table_name(crate::CaseViews::NAME, crate::runner::Target::Live);
    for row in db.all(&views_table, crate::case_views::CASE).await? {
        let view: crate::CaseView = serde_json::from_str(&row.doc)
            .map_err(|e| ProjectionError::CorruptRow(format!("case {}: {e}", row.key)))?;
        let id = view.case_id;
        let m = &view.money;
        for (what, ledger, viewed) in [
            (
                "refunds approved",
                debits(id, "refund_expense"),
                m.refunds_approved,
            ),
            ("refunds paid", credits(id, "refunds_paid"), m.refunds_paid),
            (
                "compensation granted",
                debits(id, "compensation_expense"),
                m.compensation_granted,
            ),
            (
                "compensation paid",
                credits(id, "compensation_paid"),
                m.compensation_paid,
            ),
            (
                "price-difference refunds paid",
                credits(id, "price_difference_paid"),
                m.price_difference_paid,
            ),
            (
                "postage advanced",
                credits(id, "postage_advanced_by_customers"),
                m.postage_advanced,
            ),
            (
                "postage reimbursed",
                credits(id, "postage_reimbursed"),
                m.postage_reimbursed,
            ),
            (
                "claims filed",
                debits(id, "courier_claims_receivable"),
                m.claims_filed,
            ),
            (
                "claims settled",
                debits(id, "courier_claims_received"),
                m.claims_settled,
            ),
        ] {
            if ledger != viewed {
                check.disagreements.push(format!(
                    "case {id}: {what}: ledger {ledger}, case view {viewed}"
                ));
            }
        }
    }
    Ok(check)
}
