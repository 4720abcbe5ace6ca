//! Registration, assignment and the SLA clocks (售后服务登记, 分派).

use chrono::{DateTime, Duration, Utc};

use super::{Decision, CLOCK_SKEW_MINUTES};
use crate::actor::Role;
use crate::aggregate::Context;
use crate::case::commands::*;
use crate::case::events::*;
use crate::case::state::*;
use crate::error::DomainError;
use crate::model::{require_short, require_text, Priority};
use crate::policy::hours;

impl Case {
    pub(super) fn register(&self, c: &RegisterCase, ctx: &Context<'_>) -> Decision {
        if self.status != Status::New {
            return Err(DomainError::CaseAlreadyRegistered);
        }
        c.customer.validate()?;
        c.product.validate()?;
        c.problem.validate()?;
        if let Some(order) = &c.order {
            order.validate()?;
            if order.paid_at > ctx.now + Duration::minutes(CLOCK_SKEW_MINUTES) {
                return Err(DomainError::invalid("order.paid_at", "lies in the future"));
            }
            if ctx
                .policy
                .refund_timers(order.platform.as_deref())
                .is_none()
            {
                return Err(DomainError::invalid(
                    "order.platform",
                    "is not a platform of the shop's policy",
                ));
            }
        }
        if let Some(contacted) = c.contacted_at {
            if contacted > ctx.now + Duration::minutes(CLOCK_SKEW_MINUTES) {
                return Err(DomainError::invalid("contacted_at", "lies in the future"));
            }
            let bound = ctx.now - hours(ctx.policy.contact_backdating_hours);
            if contacted < bound {
                return Err(DomainError::invalid(
                    "contacted_at",
                    format!(
                        "lies more than {} hours before the registration, as far back as the shop's policy allows",
                        ctx.policy.contact_backdating_hours
                    ),
                ));
            }
        }
        // The clocks start when the customer reached out, not when the
        // case was typed in.
        let contacted_at = c.contacted_at.filter(|at| *at < ctx.now);
        let start = contacted_at.unwrap_or(ctx.now);
        let targets = ctx.policy.sla(c.priority);
        let (first_response_due, resolution_due) = ctx.policy.deadlines(targets, start);
        Ok(vec![CaseRegistered {
            case_id: ctx.aggregate_id,
            customer: c.customer.clone(),
            order: c.order.clone(),
            product: c.product.clone(),
            problem: c.problem.clone(),
            channel: c.channel,
            category: c.category,
            priority: c.priority,
            registered_at: ctx.now,
            first_response_due,
            resolution_due,
            split_from: c.split_from,
            contacted_at,
            resolution_warn_at: ctx.policy.warn_at(targets, start, resolution_due),
        }
        .into()])
    }

    pub(super) fn resume(&self, ctx: &Context<'_>) -> Decision {
        let Some(paused_at) = self.sla.paused_since else {
            return Err(DomainError::SlaNotPaused);
        };
        let calendar = match self.priority {
            Some(priority) => ctx.policy.sla_calendar(priority),
            None => std::borrow::Cow::Borrowed(&ctx.policy.calendar),
        };
        // What was left of each clock when it stopped now runs from here.
        let shift = |due: Option<DateTime<Utc>>| {
            due.map(|due| {
                let left = calendar.business_time_between(paused_at, due);
                calendar.add_business_time(ctx.now, left).unwrap_or(due)
            })
        };
        let first_response_due = if self.sla.first_response_at.is_some() {
            self.sla.first_response_due
        } else {
            shift(self.sla.first_response_due)
        };
        Ok(vec![SlaResumed {
            at: ctx.now,
            first_response_due,
            resolution_due: shift(self.sla.resolution_due),
            resolution_warn_at: shift(self.sla.resolution_warn_at),
        }
        .into()])
    }

    /// The scheduler's breach: only once per clock, only when overdue and
    /// running. A late P1 is escalated to the department manager.
    pub(super) fn breach(&self, clock: SlaClock, ctx: &Context<'_>) -> Decision {
        if self.sla.breached.contains(&clock) {
            return Err(DomainError::AlreadyDone {
                what: "the breach was recorded",
            });
        }
        if self.sla.paused_since.is_some() {
            return Err(DomainError::SlaPaused);
        }
        let due = match clock {
            SlaClock::FirstResponse if self.sla.first_response_at.is_none() => {
                self.sla.first_response_due
            }
            SlaClock::FirstResponse => None,
            SlaClock::Resolution => self.sla.resolution_due,
        };
        let Some(due) = due.filter(|due| ctx.now > *due) else {
            return Err(DomainError::NotDueYet { due });
        };
        let mut events = vec![CaseEvent::from(SlaBreached {
            clock,
            due,
            at: ctx.now,
        })];
        if self.priority == Some(Priority::P1) && !self.sla.escalated {
            events.push(
                CaseEscalated {
                    to: "department_manager".to_owned(),
                    reason: format!(
                        "P1 {} deadline missed",
                        match clock {
                            SlaClock::FirstResponse => "first-response",
                            SlaClock::Resolution => "resolution",
                        }
                    ),
                    at: ctx.now,
                }
                .into(),
            );
        }
        Ok(events)
    }

    /// The scheduler's warning that the resolution deadline draws near:
    /// once per deadline, only while it runs and is not yet passed.
    pub(super) fn at_risk(&self, clock: SlaClock, ctx: &Context<'_>) -> Decision {
        if clock != SlaClock::Resolution {
            return Err(DomainError::invalid(
                "clock",
                "only the resolution deadline is warned of",
            ));
        }
        if self.sla.warned {
            return Err(DomainError::AlreadyDone {
                what: "the warning was given",
            });
        }
        if self.sla.paused_since.is_some() {
            return Err(DomainError::SlaPaused);
        }
        let (Some(warn_at), Some(due)) = (self.sla.resolution_warn_at, self.sla.resolution_due)
        else {
            return Err(DomainError::NotDueYet { due: None });
        };
        if ctx.now < warn_at || ctx.now > due {
            return Err(DomainError::NotDueYet { due: Some(warn_at) });
        }
        Ok(vec![SlaAtRisk {
            clock,
            due,
            at: ctx.now,
        }
        .into()])
    }

    pub(super) fn escalate_case(&self, c: &EscalateCase, ctx: &Context<'_>) -> Decision {
        require_text("reason", &c.reason)?;
        if self.sla.escalated {
            return Err(DomainError::AlreadyDone {
                what: "the case was escalated and awaits a supervisor",
            });
        }
        Ok(vec![CaseEscalated {
            to: "supervisor".to_owned(),
            reason: c.reason.clone(),
            at: ctx.now,
        }
        .into()])
    }

    /// A supervisor's answer to an escalation: a new resolution deadline,
    /// told to the customer.
    pub(super) fn agree_deadline(&self, c: &AgreeDeadline, ctx: &Context<'_>) -> Decision {
        require_text("reason", &c.reason)?;
        if !self.sla.escalated {
            return Err(DomainError::NotEscalated);
        }
        if c.resolution_due <= ctx.now {
            return Err(DomainError::invalid(
                "resolution_due",
                "must lie in the future",
            ));
        }
        if c.resolution_due > ctx.now + Duration::days(365) {
            return Err(DomainError::invalid(
                "resolution_due",
                "must lie within a year",
            ));
        }
        let targets = self
            .priority
            .map_or(ctx.policy.sla.p2, |p| ctx.policy.sla(p));
        let due = c.resolution_due;
        Ok(vec![
            DeadlineAgreed {
                previous_due: self.sla.resolution_due,
                resolution_due: due,
                resolution_warn_at: ctx.policy.warn_at(targets, ctx.now, Some(due)),
                reason: c.reason.clone(),
                agreed_by: ctx.actor.id.clone(),
                at: ctx.now,
            }
            .into(),
            CustomerInformed {
                channel: c.told_customer_via,
                summary: format!("the case will be resolved by {}", due.to_rfc3339()),
                at: ctx.now,
                about: InformedAbout::Progress,
                proof: Vec::new(),
            }
            .into(),
        ])
    }

    /// `FirstResponseRecorded` if this is the first time the customer hears back.
    pub(super) fn first_response(&self, at: DateTime<Utc>) -> Option<CaseEvent> {
        if self.sla.first_response_at.is_some() {
            return None;
        }
        let due = self.sla.first_response_due;
        Some(
            FirstResponseRecorded {
                at,
                due,
                on_time: due.is_none_or(|d| at <= d),
            }
            .into(),
        )
    }

    pub(super) fn assign_case(&self, c: &AssignCase, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_short("agent_id", &c.agent_id)?;
        if self.assignee.as_deref() == Some(c.agent_id.as_str()) {
            return Err(DomainError::AlreadyAssigned);
        }
        // Taking over a colleague's case brings the customer's
        // personal data with it: a supervisor decides that.
        if let Some(assignee) = &self.assignee {
            if ctx.actor.role == Role::Agent && c.agent_id == ctx.actor.id {
                return Err(DomainError::TakeoverNeedsSupervisor {
                    assignee: assignee.clone(),
                });
            }
        }
        Ok(vec![CaseAssigned {
            agent_id: c.agent_id.clone(),
            previous_agent_id: self.assignee.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn change_priority(&self, c: &ChangePriority, ctx: &Context<'_>) -> Decision {
        require_text("reason", &c.reason)?;
        let previous = self.priority.ok_or(DomainError::CaseNotRegistered)?;
        if previous == c.priority {
            return Err(DomainError::AlreadyDone {
                what: "the case has this priority",
            });
        }
        let targets = ctx.policy.sla(c.priority);
        let (first_response_due, resolution_due) = ctx.policy.deadlines(targets, ctx.now);
        Ok(vec![PriorityChanged {
            priority: c.priority,
            previous,
            reason: c.reason.clone(),
            // A first response already given is not owed again.
            first_response_due: if self.sla.first_response_at.is_some() {
                self.sla.first_response_due
            } else {
                first_response_due
            },
            resolution_due,
            at: ctx.now,
            resolution_warn_at: ctx.policy.warn_at(targets, ctx.now, resolution_due),
        }
        .into()])
    }

    pub(super) fn change_category(&self, c: &ChangeCategory, ctx: &Context<'_>) -> Decision {
        require_text("reason", &c.reason)?;
        let previous = self.category.ok_or(DomainError::CaseNotRegistered)?;
        if previous == c.category {
            return Err(DomainError::AlreadyDone {
                what: "the case has this category",
            });
        }
        Ok(vec![CategoryChanged {
            category: c.category,
            previous,
            reason: c.reason.clone(),
            at: ctx.now,
        }
        .into()])
    }

    pub(super) fn flag_complaint(&self, c: &FlagComplaint, ctx: &Context<'_>) -> Decision {
        require_text("reason", &c.reason)?;
        self.complaint_flagged(&c.reason, ctx)
            .map(|event| vec![event])
            .ok_or(DomainError::AlreadyDone {
                what: "the case was flagged a complaint",
            })
    }

    /// `ComplaintFlagged` with the complaint targets from now, where they
    /// come sooner than the case's own; `None` if it already is a complaint.
    pub(super) fn complaint_flagged(&self, reason: &str, ctx: &Context<'_>) -> Option<CaseEvent> {
        if self.complaint {
            return None;
        }
        let targets = ctx.policy.sla.complaint;
        let (first, resolution) = ctx.policy.deadlines(targets, ctx.now);
        let sooner =
            |own: Option<DateTime<Utc>>, complaint: Option<DateTime<Utc>>| match (own, complaint) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        let resolution_due = sooner(self.sla.resolution_due, resolution);
        // The case's own deadline, if sooner, keeps its own warning.
        let resolution_warn_at = if resolution_due == self.sla.resolution_due {
            self.sla.resolution_warn_at
        } else {
            ctx.policy.warn_at(targets, ctx.now, resolution_due)
        };
        Some(
            ComplaintFlagged {
                reason: reason.to_owned(),
                first_response_due: if self.sla.first_response_at.is_some() {
                    self.sla.first_response_due
                } else {
                    sooner(self.sla.first_response_due, first)
                },
                resolution_due,
                at: ctx.now,
                resolution_warn_at,
            }
            .into(),
        )
    }

    pub(super) fn pause_sla(&self, c: &PauseSla, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        if self.sla.paused_since.is_some() {
            return Err(DomainError::SlaAlreadyPaused);
        }
        Ok(vec![SlaPaused {
            reason: c.reason,
            at: now,
        }
        .into()])
    }

    pub(super) fn merge_case(&self, c: &MergeCase, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        if c.survivor == ctx.aggregate_id {
            return Err(DomainError::invalid(
                "survivor",
                "a case cannot be merged into itself",
            ));
        }
        Ok(vec![CaseMergedInto {
            survivor: c.survivor,
            at: now,
        }
        .into()])
    }

    pub(super) fn split_case(&self, c: &SplitCase, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_text("reason", &c.reason)?;
        if c.new_case_id == ctx.aggregate_id || self.split_into.contains(&c.new_case_id) {
            return Err(DomainError::invalid(
                "new_case_id",
                "names this case or one already split off",
            ));
        }
        Ok(vec![CaseSplit {
            new_case_id: c.new_case_id,
            reason: c.reason.clone(),
            at: now,
        }
        .into()])
    }
}
