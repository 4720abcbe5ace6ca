//! The time-driven rules: what is due on a case at a given moment. The
//! scheduler issues these commands; deciding them again checks the rule, so
//! a command issued twice appends nothing the second time.

use chrono::{DateTime, Duration, Utc};

use super::commands::*;
use super::events::{ReturnToSenderReason, SlaClock};
use super::state::{Case, RefundStage, Status};
use crate::aggregate::{Scheduled, Timer};

impl Scheduled for Case {
    fn timers(&self) -> Vec<Timer<CaseCommand>> {
        let mut timers = Vec::new();
        if self.status == Status::Open && self.sla.paused_since.is_none() {
            let mut breach = |clock: SlaClock, deadline: Option<DateTime<Utc>>| {
                if let Some(deadline) = deadline.filter(|_| !self.sla.breached.contains(&clock)) {
                    timers.push(Timer {
                        at: just_after(deadline),
                        command: RecordSlaBreach { clock }.into(),
                    });
                }
            };
            if self.sla.first_response_at.is_none() {
                breach(SlaClock::FirstResponse, self.sla.first_response_due);
            }
            breach(SlaClock::Resolution, self.sla.resolution_due);
            if let (Some(at), Some(due)) = (self.sla.resolution_warn_at, self.sla.resolution_due) {
                if !self.sla.warned
                    && !self.sla.breached.contains(&SlaClock::Resolution)
                    && at < due
                {
                    timers.push(Timer {
                        at,
                        command: RecordSlaAtRisk {
                            clock: SlaClock::Resolution,
                        }
                        .into(),
                    });
                }
            }
        }
        if self.status == Status::Open {
            for (handoff_id, handoff) in &self.handoffs {
                if !handoff.answered && !handoff.escalated {
                    timers.push(Timer {
                        at: just_after(handoff.due_at),
                        command: EscalateHandoff {
                            handoff_id: *handoff_id,
                        }
                        .into(),
                    });
                }
            }
        }
        if matches!(self.status, Status::Open | Status::Closed) {
            for (refund_id, refund) in &self.refunds {
                if let Some(at) = refund
                    .deadline()
                    .filter(|_| refund.stage == RefundStage::Requested)
                {
                    timers.push(Timer {
                        at,
                        command: AutoAcceptRefund {
                            refund_id: *refund_id,
                        }
                        .into(),
                    });
                }
            }
        }
        if self.status == Status::Open {
            if let Some(at) = self.unreachable_return_due() {
                timers.push(Timer {
                    at,
                    command: ReturnParcelToSender {
                        reason: ReturnToSenderReason::CustomerUnreachable,
                    }
                    .into(),
                });
            }
        }
        timers
    }
}

/// A deadline is breached once it has passed, not at the moment itself.
fn just_after(deadline: DateTime<Utc>) -> DateTime<Utc> {
    deadline + Duration::nanoseconds(1)
}
