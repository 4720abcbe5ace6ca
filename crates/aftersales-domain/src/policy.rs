//! The shop's policy: every number the SOPs set and the business calendar,
//! as the shop configures them. The log records each policy put in force
//! (`PolicyChanged` on the policy stream); a decision is taken under the
//! policy in force and records what it derived from it (deadlines, targets),
//! so that a rebuild or a past report shows what was decided then.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calendar::{check_windows, BusinessCalendar, Window};
use crate::model::{Department, Priority};
use crate::money::Money;

/// A policy a shop could not have meant, with the key at fault, e.g.
/// `sla.p1.first_response_hours`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy.{key}: {reason}")]
pub struct PolicyError {
    pub key: String,
    pub reason: String,
}

impl PolicyError {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// SLA targets of one priority, in hours of its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    pub first_response_hours: u32,
    /// `None`: no resolution target (P3 asks for a reply only).
    #[serde(default)]
    pub resolution_hours: Option<u32>,
    /// The hours run round the clock rather than while the service is open
    /// (P1: 问题24小时内解决, with a line answered 全天候24小时).
    #[serde(default)]
    pub round_the_clock: bool,
}

/// The SLA targets of each priority, and of a complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    pub p1: SlaTargets,
    pub p2: SlaTargets,
    pub p3: SlaTargets,
    /// From the moment a case is flagged a complaint (000: 2小时响应、24小时内处理).
    pub complaint: SlaTargets,
    /// A case's owner and supervisor are warned once this share (percent)
    /// of the time to its resolution deadline has passed, so that a case
    /// running late is escalated before it is late (需提前升级).
    #[serde(default = "default_warn_at_percent")]
    pub warn_at_percent: u8,
}

fn default_warn_at_percent() -> u8 {
    75
}

/// A platform's refund timers (淘宝, 京东, 拼多多 … each has its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundTimers {
    /// In "buyer paid", a refund may be requested this long after payment.
    pub request_delay_hours: u32,
    /// In "buyer paid", an unanswered refund is accepted after this long.
    pub auto_accept_buyer_paid_hours: u32,
    /// In "seller shipped", an unanswered refund is accepted after this long.
    pub auto_accept_seller_shipped_hours: u32,
}

/// What an agent may grant without a supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    /// A compensation up to this is granted at once; above it, or when the
    /// limit is the postage and the order has none, a supervisor approves.
    pub compensation_limit: CompensationLimit,
    /// A price-difference refund (退差价) up to this many fen is granted at
    /// once; 0: every one waits for a supervisor.
    pub price_difference_limit_fen: i64,
}

/// The compensation limit: the order's postage (the SOP's rule), or a
/// fixed amount in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum CompensationLimit {
    /// `"postage"`.
    OrderPostage(Postage),
    /// An amount in fen (分).
    Fen(i64),
}

/// The word `postage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Postage {
    Postage,
}

impl CompensationLimit {
    /// The most an agent grants alone on an order that has `postage`.
    pub fn for_order(self, postage: Option<Money>, currency: crate::Currency) -> Option<Money> {
        match self {
            Self::OrderPostage(_) => postage,
            Self::Fen(minor) => Some(Money { minor, currency }),
        }
    }
}

/// The monthly sampling audit of revisits (回访抽查).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditPolicy {
    /// The smallest sample.
    pub min_sample: usize,
    /// The satisfaction target, in tenths of a point (40 = 4.0).
    pub target_tenths: u32,
    /// When calls may be made on a working day.
    pub working_day_windows: Vec<Window>,
    /// When calls may be made on a day of rest (a weekend that is not a
    /// make-up working day, or a holiday).
    pub rest_day_windows: Vec<Window>,
}

/// Every rule's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub calendar: BusinessCalendar,
    pub sla: SlaPolicy,
    pub approvals: Approvals,
    /// Refund timers by platform, keyed by the name orders give
    /// (`order.platform`).
    pub platforms: BTreeMap<String, RefundTimers>,
    /// The platform of an order that names none.
    pub default_platform: String,
    /// The platform closes an unpaid order after this long.
    pub unpaid_auto_close_hours: u32,
    /// A customer-caused difficult parcel goes back to the sender when the
    /// customer cannot be reached for this long.
    pub unreachable_return_hours: u32,
    /// A revisit score at or below this opens a follow-up.
    pub low_revisit_score: u8,
    /// Service hours each department has to answer a handoff (对接) when
    /// the agent names no other deadline.
    pub handoff_response_hours: BTreeMap<Department, u32>,
    /// How long before its registration a case may say the customer
    /// reached out (a weekend's messages registered on Monday).
    pub contact_backdating_hours: u32,
    pub audit: AuditPolicy,
    /// Repair turnaround targets by tier (1, 2, 3), in days.
    pub repair_turnaround_days: [u32; 3],
    /// Service hours the owner of a follow-up (a low revisit score, a
    /// complaint, an unhappy customer) has to close it.
    #[serde(default = "default_follow_up_hours")]
    pub follow_up_hours: u32,
    /// Days after a repaired device goes back within which its customer is
    /// revisited (维修后3天内回访).
    #[serde(default = "default_repair_revisit_days")]
    pub repair_revisit_days: u32,
    /// A reship order ships only once the department head signed it off
    /// (重发单: 部门主管签字).
    #[serde(default)]
    pub reship_sign_off_required: bool,
}

fn default_repair_revisit_days() -> u32 {
    3
}

fn default_follow_up_hours() -> u32 {
    24
}

impl Default for Policy {
    /// The SOPs' numbers: what `config/aftersales.toml` holds, and what the
    /// tests decide under.
    fn default() -> Self {
        let windows = |list: &[&str]| list.iter().filter_map(|w| w.parse().ok()).collect();
        Self {
            calendar: BusinessCalendar::default(),
            sla: SlaPolicy {
                p1: SlaTargets {
                    first_response_hours: 2,
                    resolution_hours: Some(24),
                    round_the_clock: true,
                },
                p2: SlaTargets {
                    first_response_hours: 4,
                    resolution_hours: Some(48),
                    round_the_clock: false,
                },
                p3: SlaTargets {
                    first_response_hours: 24,
                    resolution_hours: None,
                    round_the_clock: false,
                },
                complaint: SlaTargets {
                    first_response_hours: 2,
                    resolution_hours: Some(24),
                    round_the_clock: true,
                },
                warn_at_percent: default_warn_at_percent(),
            },
            approvals: Approvals {
                compensation_limit: CompensationLimit::OrderPostage(Postage::Postage),
                price_difference_limit_fen: 0,
            },
            platforms: BTreeMap::from([(
                "taobao".to_owned(),
                RefundTimers {
                    request_delay_hours: 24,
                    auto_accept_buyer_paid_hours: 48,
                    auto_accept_seller_shipped_hours: 7 * 24,
                },
            )]),
            default_platform: "taobao".to_owned(),
            unpaid_auto_close_hours: 72,
            unreachable_return_hours: 96,
            low_revisit_score: 3,
            contact_backdating_hours: 72,
            handoff_response_hours: BTreeMap::from([
                (Department::Warehouse, 24),
                (Department::Courier, 24),
                (Department::Finance, 24),
                (Department::Supervisor, 4),
                (Department::Technical, 24),
                (Department::StoreManager, 8),
            ]),
            audit: AuditPolicy {
                min_sample: 50,
                target_tenths: 40,
                working_day_windows: windows(&["09:00-12:00", "13:00-20:00"]),
                rest_day_windows: windows(&["10:00-12:00", "13:00-20:00"]),
            },
            repair_turnaround_days: [4, 8, 16],
            follow_up_hours: default_follow_up_hours(),
            repair_revisit_days: default_repair_revisit_days(),
            reship_sign_off_required: false,
        }
    }
}

impl Policy {
    pub fn sla(&self, priority: Priority) -> SlaTargets {
        match priority {
            Priority::P1 => self.sla.p1,
            Priority::P2 => self.sla.p2,
            Priority::P3 => self.sla.p3,
        }
    }

    /// The calendar a priority's SLA clocks run on.
    pub fn sla_calendar(&self, priority: Priority) -> Cow<'_, BusinessCalendar> {
        self.calendar_for(self.sla(priority))
    }

    /// The calendar SLA targets count on: the service's, or round the clock.
    pub fn calendar_for(&self, targets: SlaTargets) -> Cow<'_, BusinessCalendar> {
        if targets.round_the_clock {
            Cow::Owned(BusinessCalendar::always_open())
        } else {
            Cow::Borrowed(&self.calendar)
        }
    }

    /// The first-response and resolution deadlines of `targets` counted from `from`.
    pub fn deadlines(
        &self,
        targets: SlaTargets,
        from: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let calendar = self.calendar_for(targets);
        (
            calendar.add_business_time(from, hours(targets.first_response_hours)),
            targets
                .resolution_hours
                .and_then(|h| calendar.add_business_time(from, hours(h))),
        )
    }

    /// When to warn of `due`, a deadline counted from `from` on `targets`'
    /// clock: once `sla.warn_at_percent` of the time to it has passed.
    pub fn warn_at(
        &self,
        targets: SlaTargets,
        from: DateTime<Utc>,
        due: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let due = due?;
        let calendar = self.calendar_for(targets);
        let span = calendar.business_time_between(from, due);
        let share = span * i32::from(self.sla.warn_at_percent) / 100;
        calendar
            .add_business_time(from, share)
            .filter(|at| *at < due)
    }

    /// The refund timers of an order's platform; `None` names a platform
    /// the policy does not know.
    pub fn refund_timers(&self, platform: Option<&str>) -> Option<&RefundTimers> {
        self.platforms
            .get(platform.unwrap_or(&self.default_platform))
    }

    /// The digest that names this policy in the log: SHA-256 of its JSON.
    pub fn digest(&self) -> String {
        // Field order is the struct's and maps are ordered: the same policy
        // always encodes to the same bytes.
        let json = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Refuses a policy a shop could not have meant, naming the key.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.calendar.validate()?;
        for (name, targets) in [
            ("p1", self.sla.p1),
            ("p2", self.sla.p2),
            ("p3", self.sla.p3),
            ("complaint", self.sla.complaint),
        ] {
            let key = |field: &str| format!("sla.{name}.{field}");
            if !(1..=MAX_HOURS).contains(&targets.first_response_hours) {
                return Err(PolicyError::new(key("first_response_hours"), HOURS_RANGE));
            }
            if let Some(hours) = targets.resolution_hours {
                if hours < targets.first_response_hours || hours > MAX_HOURS {
                    return Err(PolicyError::new(
                        key("resolution_hours"),
                        "must be at least the first-response target and at most 8760",
                    ));
                }
            }
        }
        if let CompensationLimit::Fen(fen) = self.approvals.compensation_limit {
            if fen < 0 {
                return Err(PolicyError::new(
                    "approvals.compensation_limit",
                    "is \"postage\" or an amount of fen, zero or more",
                ));
            }
        }
        if self.approvals.price_difference_limit_fen < 0 {
            return Err(PolicyError::new(
                "approvals.price_difference_limit_fen",
                "must be zero or more",
            ));
        }
        if !self.platforms.contains_key(&self.default_platform) {
            return Err(PolicyError::new(
                "default_platform",
                format!("{:?} is not one of [platforms]", self.default_platform),
            ));
        }
        for (name, timers) in &self.platforms {
            let valid_name = !name.is_empty()
                && name.len() <= 40
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid_name {
                return Err(PolicyError::new(
                    format!("platforms.{name}"),
                    "a platform's name is lower-case letters, digits and _",
                ));
            }
            for (field, hours) in [
                ("request_delay_hours", timers.request_delay_hours),
                (
                    "auto_accept_buyer_paid_hours",
                    timers.auto_accept_buyer_paid_hours,
                ),
                (
                    "auto_accept_seller_shipped_hours",
                    timers.auto_accept_seller_shipped_hours,
                ),
            ] {
                if hours > MAX_HOURS {
                    return Err(PolicyError::new(
                        format!("platforms.{name}.{field}"),
                        HOURS_RANGE,
                    ));
                }
            }
        }
        for (key, hours) in [
            ("unpaid_auto_close_hours", self.unpaid_auto_close_hours),
            ("unreachable_return_hours", self.unreachable_return_hours),
            ("contact_backdating_hours", self.contact_backdating_hours),
            ("follow_up_hours", self.follow_up_hours),
        ] {
            if !(1..=MAX_HOURS).contains(&hours) {
                return Err(PolicyError::new(key, HOURS_RANGE));
            }
        }
        for (department, hours) in &self.handoff_response_hours {
            if !(1..=720).contains(hours) {
                let name = serde_json::to_value(department)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                return Err(PolicyError::new(
                    format!("handoff_response_hours.{name}"),
                    "must be 1 to 720 service hours",
                ));
            }
        }
        if !(1..=99).contains(&self.sla.warn_at_percent) {
            return Err(PolicyError::new(
                "sla.warn_at_percent",
                "is a share of the time to a deadline, 1 to 99 percent",
            ));
        }
        if !(1..=4).contains(&self.low_revisit_score) {
            return Err(PolicyError::new(
                "low_revisit_score",
                "is a score of 1 to 4 on the 1-5 scale",
            ));
        }
        if !(1..=10_000).contains(&self.audit.min_sample) {
            return Err(PolicyError::new("audit.min_sample", "must be 1 to 10000"));
        }
        if !(10..=50).contains(&self.audit.target_tenths) {
            return Err(PolicyError::new(
                "audit.target_tenths",
                "is a score of 1.0 to 5.0 in tenths (10 to 50)",
            ));
        }
        for (key, windows) in [
            ("audit.working_day_windows", &self.audit.working_day_windows),
            ("audit.rest_day_windows", &self.audit.rest_day_windows),
        ] {
            check_windows(key, windows)?;
        }
        if !(1..=30).contains(&self.repair_revisit_days) {
            return Err(PolicyError::new(
                "repair_revisit_days",
                "must be 1 to 30 days",
            ));
        }
        let [a, b, c] = self.repair_turnaround_days;
        if a == 0 || a > b || b > c || c > 365 {
            return Err(PolicyError::new(
                "repair_turnaround_days",
                "three tiers of 1 to 365 days, each at least the one before",
            ));
        }
        Ok(())
    }
}

/// A year: no SOP timer runs longer.
const MAX_HOURS: u32 = 8_760;
const HOURS_RANGE: &str = "must be 1 to 8760 hours";

pub fn hours(n: u32) -> Duration {
    Duration::hours(i64::from(n))
}

/// The policy a decision is taken under, with the digest its events name.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyInForce {
    pub policy: Policy,
    pub digest: String,
    /// When it was put in force; `None` for a policy not (yet) in the log.
    pub since: Option<DateTime<Utc>>,
}

impl PolicyInForce {
    /// A policy not read from the log: the tests', or one about to be applied.
    pub fn new(policy: Policy) -> Self {
        let digest = policy.digest();
        Self {
            policy,
            digest,
            since: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sop_defaults_are_valid() {
        Policy::default().validate().unwrap();
    }

    #[test]
    fn the_digest_changes_with_any_number() {
        let mut policy = Policy::default();
        let before = policy.digest();
        assert_eq!(before, Policy::default().digest());
        assert_eq!(before.len(), 64);
        policy.sla.p1.first_response_hours = 1;
        assert_ne!(policy.digest(), before);
    }

    #[test]
    fn each_bad_number_names_its_key() {
        type Spoil = Box<dyn Fn(&mut Policy)>;
        let cases: Vec<(&str, Spoil)> = vec![
            (
                "sla.p2.first_response_hours",
                Box::new(|p| p.sla.p2.first_response_hours = 0),
            ),
            (
                "sla.p1.resolution_hours",
                Box::new(|p| p.sla.p1.resolution_hours = Some(1)),
            ),
            (
                "default_platform",
                Box::new(|p| p.default_platform = "jd".into()),
            ),
            ("low_revisit_score", Box::new(|p| p.low_revisit_score = 5)),
            (
                "audit.target_tenths",
                Box::new(|p| p.audit.target_tenths = 51),
            ),
            (
                "repair_turnaround_days",
                Box::new(|p| p.repair_turnaround_days = [8, 4, 16]),
            ),
            (
                "approvals.compensation_limit",
                Box::new(|p| p.approvals.compensation_limit = CompensationLimit::Fen(-1)),
            ),
        ];
        for (key, spoil) in cases {
            let mut policy = Policy::default();
            spoil(&mut policy);
            assert_eq!(policy.validate().unwrap_err().key, key);
        }
    }
}
