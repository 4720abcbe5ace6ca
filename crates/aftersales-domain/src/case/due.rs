//! The time-driven rules: what is due on a case at a given moment. The
//! scheduler issues these commands; deciding them again checks the rule, so
//! a command issued twice appends nothing the second time.

use chrono::{DateTime, Utc};

use super::commands::*;
use super::events::{ReturnToSenderReason, SlaClock};
use super::state::{Case, RefundStage, Status};
use crate::aggregate::Scheduled;
use crate::policy::{hours, Policy};

impl Scheduled for Case {
    fn due_commands(&self, now: DateTime<Utc>, policy: &Policy) -> Vec<CaseCommand> {
        let mut due = Vec::new();
        if self.status == Status::Open && self.sla.paused_since.is_none() {
            let overdue = |deadline: Option<DateTime<Utc>>| deadline.is_some_and(|d| now > d);
            if self.sla.first_response_at.is_none()
                && overdue(self.sla.first_response_due)
                && !self.sla.breached.contains(&SlaClock::FirstResponse)
            {
                due.push(
                    RecordSlaBreach {
                        clock: SlaClock::FirstResponse,
                    }
                    .into(),
                );
            }
            if overdue(self.sla.resolution_due)
                && !self.sla.breached.contains(&SlaClock::Resolution)
            {
                due.push(
                    RecordSlaBreach {
                        clock: SlaClock::Resolution,
                    }
                    .into(),
                );
            }
        }
        if matches!(self.status, Status::Open | Status::Closed) {
            for (refund_id, refund) in &self.refunds {
                if refund.stage == RefundStage::Requested
                    && refund.deadline().is_some_and(|d| now >= d)
                {
                    due.push(
                        AutoAcceptRefund {
                            refund_id: *refund_id,
                        }
                        .into(),
                    );
                }
            }
        }
        if self.status == Status::Open {
            let window = hours(policy.unreachable_return_hours);
            if self
                .unreachable_since()
                .is_some_and(|since| now >= since + window)
            {
                due.push(
                    ReturnParcelToSender {
                        reason: ReturnToSenderReason::CustomerUnreachable,
                    }
                    .into(),
                );
            }
        }
        due
    }

    fn may_fall_due(&self) -> bool {
        match self.status {
            Status::Open => true,
            Status::Closed => self.pending_refunds() > 0,
            Status::New | Status::Merged => false,
        }
    }
}
