//! Following a case through: handoffs to departments (对接), telling the
//! customer, progress notes, revisits (回访), closing and reopening.

use chrono::Duration;
use uuid::Uuid;

use super::Decision;
use crate::actor::Role;
use crate::aggregate::Context;
use crate::case::commands::*;
use crate::case::events::*;
use crate::case::state::*;
use crate::error::DomainError;
use crate::model::{
    check_list, check_optional, require_short, require_text, Department, Resolution, RevisitOutcome,
};

/// Most references of proof a telling of the customer carries.
const MAX_PROOF: usize = 20;
use crate::policy::hours;

impl Case {
    pub(super) fn record_revisit(&self, c: &RecordRevisit, ctx: &Context<'_>) -> Decision {
        let revisit = self
            .revisits
            .get(&c.revisit_id)
            .ok_or(DomainError::Unknown { what: "revisit" })?;
        if revisit.recorded {
            return Err(DomainError::AlreadyDone {
                what: "the revisit was recorded",
            });
        }
        check_optional("complaint", &c.complaint)?;
        let low_score = match &c.outcome {
            RevisitOutcome::Scored {
                score,
                attitude,
                skill,
                comment,
            } => {
                let ratings = [Some(*score), *attitude, *skill];
                if let Some(out) = ratings.into_iter().flatten().find(|s| !(1..=5).contains(s)) {
                    return Err(DomainError::ScoreOutOfRange { score: out });
                }
                check_optional("outcome.comment", comment)?;
                // A low mark on either part is as much a reason to follow up
                // as a low overall score.
                let lowest = ratings.into_iter().flatten().min().unwrap_or(*score);
                (lowest <= ctx.policy.low_revisit_score)
                    .then(|| format!("satisfaction score {lowest}"))
            }
            RevisitOutcome::Refused | RevisitOutcome::Unreachable => None,
        };
        let complaint = c
            .complaint
            .as_ref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| format!("complaint: {t}"));
        let mut events = vec![CaseEvent::from(RevisitRecorded {
            revisit_id: c.revisit_id,
            outcome: c.outcome.clone(),
            complaint: c.complaint.clone(),
            at: ctx.now,
        })];
        // A complaint made on a revisit call makes the case a complaint.
        if let Some(text) = &complaint {
            events.extend(self.complaint_flagged(text, ctx));
        }
        if let Some(reason) = complaint.or(low_score) {
            events.push(self.follow_up_opened(Some(c.revisit_id), reason, ctx));
        }
        Ok(events)
    }

    /// A follow-up of this case, owned by its assignee (else by whoever
    /// opened it), due within the policy's hours. Its id follows from the
    /// case's history, so that a retried command names the same follow-up.
    fn follow_up_opened(
        &self,
        revisit_id: Option<Uuid>,
        reason: String,
        ctx: &Context<'_>,
    ) -> CaseEvent {
        let seed = format!("follow-up-{}", self.follow_ups_opened);
        let follow_up_id = Uuid::new_v5(&self.id.unwrap_or_default(), seed.as_bytes());
        let owner = self.assignee.clone().or_else(|| {
            matches!(ctx.actor.role, Role::Agent | Role::Supervisor).then(|| ctx.actor.id.clone())
        });
        let within = hours(ctx.policy.follow_up_hours);
        FollowUpOpened {
            follow_up_id: Some(follow_up_id),
            revisit_id,
            reason,
            owner,
            due_at: Some(
                ctx.policy
                    .calendar
                    .add_business_time(ctx.now, within)
                    .unwrap_or(ctx.now + within),
            ),
            at: ctx.now,
        }
        .into()
    }

    pub(super) fn close_follow_up(&self, c: &CloseFollowUp, ctx: &Context<'_>) -> Decision {
        require_text("outcome", &c.outcome)?;
        let follow_up = self
            .follow_ups
            .get(&c.follow_up_id)
            .ok_or(DomainError::Unknown { what: "follow-up" })?;
        if follow_up.closed {
            return Err(DomainError::AlreadyDone {
                what: "the follow-up was closed",
            });
        }
        Ok(vec![FollowUpClosed {
            follow_up_id: c.follow_up_id,
            outcome: c.outcome.clone(),
            on_time: follow_up.due_at.is_none_or(|due| ctx.now <= due),
            at: ctx.now,
        }
        .into()])
    }

    pub(super) fn hand_off_case(&self, c: &HandOffCase, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_text("question", &c.question)?;
        let within = match c.respond_within_hours {
            Some(hours) => hours,
            None => ctx
                .policy
                .handoff_response_hours
                .get(&c.department)
                .copied()
                .ok_or(DomainError::invalid(
                    "respond_within_hours",
                    "the shop's policy sets no deadline for this department: name one",
                ))?,
        };
        if !(1..=720).contains(&within) {
            return Err(DomainError::invalid(
                "respond_within_hours",
                "must be 1 to 720",
            ));
        }
        if self.handoffs.contains_key(&c.handoff_id) {
            return Err(DomainError::AlreadyDone {
                what: "this handoff was made",
            });
        }
        let due_at = ctx
            .policy
            .calendar
            .add_business_time(now, hours(within))
            .unwrap_or(now + hours(within));
        let mut events = vec![CaseEvent::from(CaseHandedOff {
            handoff_id: c.handoff_id,
            department: c.department,
            question: c.question.clone(),
            due_at,
            at: now,
        })];
        if let Some(channel) = c.told_customer_via {
            events.push(
                CustomerInformed {
                    channel,
                    summary: format!(
                        "the case went to the {} department, which answers by {due_at}",
                        department_name(c.department)
                    ),
                    at: now,
                    about: InformedAbout::Progress,
                    proof: Vec::new(),
                }
                .into(),
            );
        }
        Ok(events)
    }

    fn open_handoff(&self, id: Uuid) -> Result<&Handoff, DomainError> {
        let handoff = self
            .handoffs
            .get(&id)
            .ok_or(DomainError::Unknown { what: "handoff" })?;
        if handoff.answered {
            return Err(DomainError::AlreadyDone {
                what: "the department answered",
            });
        }
        Ok(handoff)
    }

    pub(super) fn confirm_handoff(&self, c: &ConfirmHandoff, ctx: &Context<'_>) -> Decision {
        if self.open_handoff(c.handoff_id)?.confirmed {
            return Err(DomainError::AlreadyDone {
                what: "the department confirmed the handoff",
            });
        }
        Ok(vec![HandoffConfirmed {
            handoff_id: c.handoff_id,
            confirmed_by: ctx.actor.id.clone(),
            at: ctx.now,
        }
        .into()])
    }

    pub(super) fn escalate_handoff(&self, c: &EscalateHandoff, ctx: &Context<'_>) -> Decision {
        let handoff = self.open_handoff(c.handoff_id)?;
        if handoff.escalated {
            return Err(DomainError::AlreadyDone {
                what: "the handoff was escalated",
            });
        }
        if ctx.now <= handoff.due_at {
            return Err(DomainError::NotDueYet {
                due: Some(handoff.due_at),
            });
        }
        Ok(vec![HandoffEscalated {
            handoff_id: c.handoff_id,
            department: handoff.department,
            to: format!("{} head", department_name(handoff.department)),
            due_at: handoff.due_at,
            at: ctx.now,
        }
        .into()])
    }

    pub(super) fn record_department_response(
        &self,
        c: &RecordDepartmentResponse,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        require_text("response", &c.response)?;
        let handoff = self
            .handoffs
            .get(&c.handoff_id)
            .ok_or(DomainError::Unknown { what: "handoff" })?;
        if handoff.answered {
            return Err(DomainError::AlreadyDone {
                what: "the department answered",
            });
        }
        Ok(vec![DepartmentResponded {
            handoff_id: c.handoff_id,
            response: c.response.clone(),
            on_time: now <= handoff.due_at,
            at: now,
        }
        .into()])
    }

    pub(super) fn inform_customer(&self, c: &InformCustomer, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_text("summary", &c.summary)?;
        check_list("proof", &c.proof, MAX_PROOF)?;
        let mut events = vec![CaseEvent::from(CustomerInformed {
            channel: c.channel,
            summary: c.summary.clone(),
            at: now,
            about: c.about,
            proof: c.proof.clone(),
        })];
        events.extend(self.first_response(now));
        Ok(events)
    }

    pub(super) fn add_case_note(&self, c: &AddCaseNote, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_text("note", &c.note)?;
        Ok(vec![CaseNoteAdded {
            note: c.note.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn link_incident(&self, c: &LinkIncident, ctx: &Context<'_>) -> Decision {
        require_short("incident", &c.incident)?;
        if let Some(batch) = &c.batch {
            require_short("batch", batch)?;
        }
        if let Some(incident) = &self.incident {
            return Err(DomainError::invalid(
                "incident",
                format!("the case is one of the incident {incident:?} already"),
            ));
        }
        Ok(vec![CaseLinkedToIncident {
            incident: c.incident.trim().to_owned(),
            batch: c.batch.as_ref().map(|b| b.trim().to_owned()),
            at: ctx.now,
        }
        .into()])
    }

    pub(super) fn record_root_cause(&self, c: &RecordRootCause, ctx: &Context<'_>) -> Decision {
        require_text("cause", &c.cause)?;
        Ok(vec![RootCauseRecorded {
            cause: c.cause.clone(),
            at: ctx.now,
        }
        .into()])
    }

    pub(super) fn schedule_revisit(&self, c: &ScheduleRevisit, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        if self.revisits.contains_key(&c.revisit_id) {
            return Err(DomainError::AlreadyDone {
                what: "this revisit was scheduled",
            });
        }
        if c.due_at < now - Duration::days(1) {
            return Err(DomainError::invalid("due_at", "lies in the past"));
        }
        Ok(vec![RevisitScheduled {
            revisit_id: c.revisit_id,
            kind: c.kind,
            due_at: c.due_at,
            at: now,
        }
        .into()])
    }

    pub(super) fn close_case(&self, c: &CloseCase, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_text("solution", &c.solution)?;
        if self.pending_approvals() > 0 {
            return Err(DomainError::OpenItems {
                what: "approvals are pending",
            });
        }
        if self.pending_refunds() > 0 {
            return Err(DomainError::OpenItems {
                what: "refunds await an answer",
            });
        }
        if self.handoffs.values().any(|h| !h.answered) {
            return Err(DomainError::OpenItems {
                what: "handoffs await the department's answer",
            });
        }
        // 结果告知: a case resolved or declined is closed once the customer
        // knows; one abandoned or a duplicate has no one to tell.
        let tells = matches!(c.resolution, Resolution::Resolved | Resolution::Declined);
        if tells && !self.result_told {
            return Err(DomainError::ResultNotTold);
        }
        let due = self.sla.resolution_due;
        Ok(vec![CaseClosed {
            solution: c.solution.clone(),
            resolution: c.resolution,
            resolver: ctx.actor.id.clone(),
            resolution_due: due,
            on_time: due.map(|d| now <= d),
            at: now,
        }
        .into()])
    }

    pub(super) fn record_customer_feedback(
        &self,
        c: &RecordCustomerFeedback,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        if self.status != Status::Closed {
            return Err(DomainError::CaseNotClosed);
        }
        check_optional("feedback", &c.feedback)?;
        let mut events = vec![CaseEvent::from(CustomerFeedbackRecorded {
            confirmed: c.confirmed,
            feedback: c.feedback.clone(),
            at: now,
        })];
        if c.confirmed {
            return Ok(events);
        }
        let reason = format!(
            "the customer is not satisfied with the result{}",
            c.feedback
                .as_deref()
                .map(|f| format!(": {f}"))
                .unwrap_or_default()
        );
        match c.then {
            None => {
                return Err(DomainError::invalid(
                    "then",
                    "a customer who is not satisfied reopens the case (reopen) or opens a follow-up (follow_up)",
                ))
            }
            Some(Unsatisfied::Reopen) => events.push(self.reopened(reason, ctx)),
            Some(Unsatisfied::FollowUp) => events.push(self.follow_up_opened(None, reason, ctx)),
        }
        Ok(events)
    }

    /// The case reopens with a new resolution deadline on its priority's
    /// clock.
    fn reopened(&self, reason: String, ctx: &Context<'_>) -> CaseEvent {
        let targets = self.priority.map(|p| ctx.policy.sla(p));
        let resolution_due = targets.and_then(|targets| {
            let h = targets.resolution_hours?;
            ctx.policy
                .calendar_for(targets)
                .add_business_time(ctx.now, hours(h))
        });
        CaseReopened {
            reason,
            resolution_due,
            at: ctx.now,
            resolution_warn_at: targets
                .and_then(|targets| ctx.policy.warn_at(targets, ctx.now, resolution_due)),
        }
        .into()
    }

    pub(super) fn reopen_case(&self, c: &ReopenCase, ctx: &Context<'_>) -> Decision {
        if self.status != Status::Closed {
            return Err(DomainError::CaseNotClosed);
        }
        require_text("reason", &c.reason)?;
        Ok(vec![self.reopened(c.reason.clone(), ctx)])
    }
}

/// A department as people name it.
fn department_name(department: Department) -> &'static str {
    match department {
        Department::Warehouse => "warehouse",
        Department::Courier => "courier",
        Department::Finance => "finance",
        Department::Supervisor => "supervisor",
        Department::Technical => "technical",
        Department::StoreManager => "store manager",
    }
}
