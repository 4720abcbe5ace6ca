//! Calls and contact attempts (客户呼入/呼出电话记录表).

use chrono::Duration;

use super::{Decision, CLOCK_SKEW_MINUTES};
use crate::aggregate::Context;
use crate::case::commands::*;
use crate::case::events::*;
use crate::case::state::*;
use crate::error::DomainError;
use crate::model::{check_optional, require_short, require_text};

impl Case {
    pub(super) fn log_call(&self, c: &LogCall, ctx: &Context<'_>) -> Decision {
        require_short("number", &c.number)?;
        require_text("content", &c.content)?;
        check_optional("party_name", &c.party_name)?;
        check_optional("product", &c.product)?;
        check_optional("fault", &c.fault)?;
        if let crate::model::FollowUpStatus::Other(text) = &c.follow_up {
            require_text("follow_up", text)?;
        }
        if !c.with_customer && c.party_name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(DomainError::invalid(
                "party_name",
                "name the person when the call was not with the customer",
            ));
        }
        if c.called_at > ctx.now + Duration::minutes(CLOCK_SKEW_MINUTES) {
            return Err(DomainError::invalid("called_at", "lies in the future"));
        }
        let mut events = vec![CaseEvent::from(CallLogged {
            call_id: c.call_id,
            direction: c.direction,
            with_customer: c.with_customer,
            party_name: c.party_name.clone(),
            number: c.number.clone(),
            called_at: c.called_at,
            content: c.content.clone(),
            product: c.product.clone(),
            fault: c.fault.clone(),
            warranty: c.warranty,
            outcome: c.outcome,
            follow_up: c.follow_up.clone(),
        })];
        let registered = self.registered_at.unwrap_or(c.called_at);
        if c.with_customer && c.outcome.reached_customer() && c.called_at >= registered {
            events.extend(self.first_response(c.called_at));
        }
        Ok(events)
    }

    pub(super) fn record_contact_attempt(
        &self,
        c: &RecordContactAttempt,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        let mut events = vec![CaseEvent::from(CustomerContactAttempted {
            channel: c.channel,
            reached: c.reached,
            at: now,
        })];
        if c.reached {
            events.extend(self.first_response(now));
        }
        Ok(events)
    }
}
