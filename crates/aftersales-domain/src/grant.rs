//! Personal-data access grants (客户信息借阅申请表): reading a customer's
//! personal data beyond one's own cases is requested, approved by a
//! supervisor other than the requester, and expires. Stream `grant-<id>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context, Scheduled, Timer};
use crate::error::DomainError;
use crate::model::{require_short, require_text};
use crate::policy::hours;

crate::domain_commands! {
    pub enum GrantCommand {
        RequestAccess => [Agent, Supervisor, Warehouse, Finance, Technician, Auditor, Integration],
        ApproveAccess => [Supervisor],
        RejectAccess => [Supervisor],
        RevokeAccess => [Supervisor, Admin],
        ExpireAccess => [System],
    }
}

crate::domain_events! {
    pub enum GrantEvent {
        AccessRequested = "AccessRequested",
        AccessGranted = "AccessGranted",
        AccessRejected = "AccessRejected",
        AccessRevoked = "AccessRevoked",
        AccessExpired = "AccessExpired",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestAccess {
    /// Whose data: a customer key such as a phone number or buyer id.
    pub customer: String,
    /// Why (借阅原因).
    pub purpose: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveAccess {
    /// 1 to 720 hours.
    pub valid_for_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectAccess {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeAccess {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpireAccess {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccessRequested {
    pub customer: String,
    pub purpose: String,
    pub requested_by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccessGranted {
    pub approved_by: String,
    pub expires_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccessRejected {
    pub rejected_by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccessRevoked {
    pub revoked_by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccessExpired {
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrantStage {
    #[default]
    New,
    Pending,
    Active,
    Ended,
}

#[derive(Debug, Clone, Default)]
pub struct AccessGrant {
    pub stage: GrantStage,
    pub customer: String,
    pub requested_by: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl AccessGrant {
    /// Whether the grant lets its requester read the customer's data at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.stage == GrantStage::Active && self.expires_at.is_some_and(|e| now < e)
    }
}

impl Scheduled for AccessGrant {
    fn timers(&self) -> Vec<Timer<GrantCommand>> {
        match self.expires_at {
            Some(at) if self.stage == GrantStage::Active => vec![Timer {
                at,
                command: ExpireAccess {}.into(),
            }],
            _ => Vec::new(),
        }
    }
}

impl Aggregate for AccessGrant {
    const CATEGORY: &'static str = "grant";
    type Command = GrantCommand;
    type Event = GrantEvent;

    fn decide(
        &self,
        command: &GrantCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<GrantEvent>, DomainError> {
        let now = ctx.now;
        match command {
            GrantCommand::RequestAccess(c) => {
                if self.stage != GrantStage::New {
                    return Err(DomainError::AlreadyDone {
                        what: "access was requested",
                    });
                }
                require_short("customer", &c.customer)?;
                require_text("purpose", &c.purpose)?;
                Ok(vec![AccessRequested {
                    customer: c.customer.clone(),
                    purpose: c.purpose.clone(),
                    requested_by: ctx.actor.id.clone(),
                    at: now,
                }
                .into()])
            }
            GrantCommand::ApproveAccess(c) => {
                if self.stage != GrantStage::Pending {
                    return Err(DomainError::GrantNotPending);
                }
                if self.requested_by == ctx.actor.id {
                    return Err(DomainError::ApproverIsRequester);
                }
                if !(1..=720).contains(&c.valid_for_hours) {
                    return Err(DomainError::invalid("valid_for_hours", "is 1 to 720"));
                }
                Ok(vec![AccessGranted {
                    approved_by: ctx.actor.id.clone(),
                    expires_at: now + hours(c.valid_for_hours),
                    at: now,
                }
                .into()])
            }
            GrantCommand::RejectAccess(c) => {
                if self.stage != GrantStage::Pending {
                    return Err(DomainError::GrantNotPending);
                }
                require_text("reason", &c.reason)?;
                Ok(vec![AccessRejected {
                    rejected_by: ctx.actor.id.clone(),
                    reason: c.reason.clone(),
                    at: now,
                }
                .into()])
            }
            GrantCommand::RevokeAccess(c) => {
                if self.stage != GrantStage::Active {
                    return Err(DomainError::GrantNotActive);
                }
                require_text("reason", &c.reason)?;
                Ok(vec![AccessRevoked {
                    revoked_by: ctx.actor.id.clone(),
                    reason: c.reason.clone(),
                    at: now,
                }
                .into()])
            }
            GrantCommand::ExpireAccess(_) => {
                if self.stage != GrantStage::Active {
                    return Err(DomainError::GrantNotActive);
                }
                if self.expires_at.is_none_or(|e| now < e) {
                    return Err(DomainError::NotDueYet {
                        due: self.expires_at,
                    });
                }
                Ok(vec![AccessExpired { at: now }.into()])
            }
        }
    }

    fn evolve(&mut self, event: &GrantEvent) {
        match event {
            GrantEvent::AccessRequested(e) => {
                self.stage = GrantStage::Pending;
                self.customer = e.customer.clone();
                self.requested_by = e.requested_by.clone();
            }
            GrantEvent::AccessGranted(e) => {
                self.stage = GrantStage::Active;
                self.expires_at = Some(e.expires_at);
            }
            GrantEvent::AccessRejected(_)
            | GrantEvent::AccessRevoked(_)
            | GrantEvent::AccessExpired(_) => {
                self.stage = GrantStage::Ended;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Scheduled;
    use crate::testing::{apply, t, when};
    use crate::Role;

    #[test]
    fn a_grant_is_approved_by_another_supervisor_and_expires() {
        let mut history = Vec::new();
        let now = t("2026-03-02T02:00:00Z");
        apply::<AccessGrant>(
            &mut history,
            RequestAccess {
                customer: "13800138000".into(),
                purpose: "核对退款账户".into(),
            },
            ("sup-1", Role::Supervisor),
            now,
        );
        let approve = ApproveAccess {
            valid_for_hours: 24,
        };
        assert_eq!(
            when::<AccessGrant>(&history, approve.clone(), ("sup-1", Role::Supervisor), now),
            Err(DomainError::ApproverIsRequester)
        );
        assert!(matches!(
            when::<AccessGrant>(&history, approve.clone(), ("agent-1", Role::Agent), now),
            Err(DomainError::RoleNotAllowed { .. })
        ));
        apply::<AccessGrant>(&mut history, approve, ("sup-2", Role::Supervisor), now);
        let grant = AccessGrant::replay(&history);
        assert!(grant.is_active(now));
        assert!(!grant.is_active(t("2026-03-03T02:00:00Z")));
        let system = ("scheduler", Role::System);
        assert!(matches!(
            when::<AccessGrant>(&history, ExpireAccess {}, system, now),
            Err(DomainError::NotDueYet { .. })
        ));
        assert_eq!(grant.due_commands(t("2026-03-03T02:00:00Z")).len(), 1);
        apply::<AccessGrant>(
            &mut history,
            ExpireAccess {},
            system,
            t("2026-03-03T02:00:00Z"),
        );
        assert_eq!(
            when::<AccessGrant>(&history, ExpireAccess {}, system, t("2026-03-04T02:00:00Z")),
            Err(DomainError::GrantNotActive)
        );
    }
}
