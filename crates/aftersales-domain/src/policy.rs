//! The numbers the SOPs set, as configuration with the SOPs' defaults.
//! Platforms differ between shops and change their timers over time.

use std::borrow::Cow;

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::calendar::BusinessCalendar;
use crate::model::Priority;

/// SLA targets of one priority, in hours of its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlaTargets {
    pub first_response_hours: u32,
    /// `None`: no resolution target (P3 asks for a reply only).
    pub resolution_hours: Option<u32>,
    /// The hours run round the clock rather than while the service is open
    /// (P1: 问题24小时内解决, with a line answered 全天候24小时).
    #[serde(default)]
    pub round_the_clock: bool,
}

/// Every rule's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Policy {
    pub calendar: BusinessCalendar,
    pub p1: SlaTargets,
    pub p2: SlaTargets,
    pub p3: SlaTargets,
    /// In "buyer paid", a refund may be requested this long after payment.
    pub refund_request_delay_hours: u32,
    /// In "buyer paid", an unanswered refund is accepted after this long.
    pub auto_accept_buyer_paid_hours: u32,
    /// In "seller shipped", an unanswered refund is accepted after this long.
    pub auto_accept_seller_shipped_hours: u32,
    /// The platform closes an unpaid order after this long.
    pub unpaid_auto_close_hours: u32,
    /// A customer-caused difficult parcel goes back to the sender when the
    /// customer cannot be reached for this long.
    pub unreachable_return_hours: u32,
    /// A revisit score at or below this opens a follow-up.
    pub low_revisit_score: u8,
    /// The smallest monthly sampling audit.
    pub audit_min_sample: usize,
    /// The satisfaction target of the audit, in tenths (40 = 4.0).
    pub audit_target_tenths: u32,
    /// Repair turnaround targets by tier, in days.
    pub repair_turnaround_days: [u32; 3],
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            calendar: BusinessCalendar::default(),
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
            refund_request_delay_hours: 24,
            auto_accept_buyer_paid_hours: 48,
            auto_accept_seller_shipped_hours: 7 * 24,
            unpaid_auto_close_hours: 72,
            unreachable_return_hours: 96,
            low_revisit_score: 3,
            audit_min_sample: 50,
            audit_target_tenths: 40,
            repair_turnaround_days: [4, 8, 16],
        }
    }
}

impl Policy {
    pub fn sla(&self, priority: Priority) -> SlaTargets {
        match priority {
            Priority::P1 => self.p1,
            Priority::P2 => self.p2,
            Priority::P3 => self.p3,
        }
    }

    /// The calendar a priority's SLA clocks run on.
    pub fn sla_calendar(&self, priority: Priority) -> Cow<'_, BusinessCalendar> {
        if self.sla(priority).round_the_clock {
            Cow::Owned(BusinessCalendar::always_open())
        } else {
            Cow::Borrowed(&self.calendar)
        }
    }
}

pub fn hours(n: u32) -> Duration {
    Duration::hours(i64::from(n))
}
