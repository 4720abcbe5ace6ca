//! Payment reminders (催款 SOP): an unpaid order of the previous day,
//! reminded until paid or closed. Stream `unpaid-<id>`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context, Scheduled, Timer};
use crate::error::DomainError;
use crate::model::{check_optional, require_short, require_text};
use crate::money::Money;
use crate::policy::hours;

crate::domain_commands! {
    pub enum ReminderCommand {
        RegisterUnpaidOrder => [Agent, Supervisor, Integration],
        RecordReminder => [Agent, Supervisor],
        RecordPayment => [Agent, Supervisor, Finance, Integration],
        CloseUnpaidOrder => [Agent, Supervisor, System],
    }
}

crate::domain_events! {
    pub enum ReminderEvent {
        UnpaidOrderRegistered = "UnpaidOrderRegistered",
        PaymentReminderRecorded = "PaymentReminderRecorded",
        UnpaidOrderPaid = "UnpaidOrderPaid",
        UnpaidOrderClosed = "UnpaidOrderClosed",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterUnpaidOrder {
    pub order_no: String,
    pub buyer_id: String,
    pub ordered_at: DateTime<Utc>,
    pub amount: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReminderChannel {
    Phone,
    Im,
    Sms,
}

/// What a reminder contact came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReminderResult {
    Paid,
    /// Will pay: follow up.
    WillPay,
    /// Not needed: the order is closed by hand, reason "other".
    NotNeeded,
    /// Try another time slot; IM or SMS when the phone fails.
    Unreachable,
    /// Hung up annoyed: do not call again.
    Annoyed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordReminder {
    pub channel: ReminderChannel,
    pub result: ReminderResult,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPayment {
    pub paid_at: DateTime<Utc>,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CloseReason {
    /// The platform closes an unpaid order after 3 days.
    PlatformTimeout,
    Manual {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseUnpaidOrder {
    pub reason: CloseReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnpaidOrderRegistered {
    pub order_no: String,
    pub buyer_id: String,
    pub ordered_at: DateTime<Utc>,
    pub amount: Money,
    pub auto_close_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentReminderRecorded {
    pub handler: String,
    pub channel: ReminderChannel,
    pub result: ReminderResult,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnpaidOrderPaid {
    pub paid_at: DateTime<Utc>,
    pub amount: Money,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnpaidOrderClosed {
    pub reason: CloseReason,
    pub at: DateTime<Utc>,
}

/// An unpaid order under payment reminder.
#[derive(Debug, Clone, Default)]
pub struct UnpaidOrder {
    pub registered: bool,
    pub amount: Option<Money>,
    pub auto_close_at: Option<DateTime<Utc>>,
    pub settled: bool,
    pub do_not_call: bool,
}

impl Scheduled for UnpaidOrder {
    /// The platform's auto-close.
    fn timers(&self) -> Vec<Timer<ReminderCommand>> {
        match self.auto_close_at {
            Some(at) if self.registered && !self.settled => vec![Timer {
                at,
                command: CloseUnpaidOrder {
                    reason: CloseReason::PlatformTimeout,
                }
                .into(),
            }],
            _ => Vec::new(),
        }
    }
}

impl UnpaidOrder {
    fn open(&self) -> Result<(), DomainError> {
        if !self.registered {
            return Err(DomainError::OrderNotRegistered);
        }
        if self.settled {
            return Err(DomainError::OrderSettled);
        }
        Ok(())
    }
}

impl Aggregate for UnpaidOrder {
    const CATEGORY: &'static str = "unpaid";
    type Command = ReminderCommand;
    type Event = ReminderEvent;

    fn decide(
        &self,
        command: &ReminderCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<ReminderEvent>, DomainError> {
        let now = ctx.now;
        match command {
            ReminderCommand::RegisterUnpaidOrder(c) => {
                if self.registered {
                    return Err(DomainError::OrderAlreadyRegistered);
                }
                require_short("order_no", &c.order_no)?;
                require_short("buyer_id", &c.buyer_id)?;
                c.amount.check_positive("amount")?;
                if c.ordered_at > now + Duration::minutes(5) {
                    return Err(DomainError::invalid("ordered_at", "lies in the future"));
                }
                Ok(vec![UnpaidOrderRegistered {
                    order_no: c.order_no.clone(),
                    buyer_id: c.buyer_id.clone(),
                    ordered_at: c.ordered_at,
                    amount: c.amount,
                    auto_close_at: c.ordered_at + hours(ctx.policy.unpaid_auto_close_hours),
                }
                .into()])
            }
            ReminderCommand::RecordReminder(c) => {
                self.open()?;
                check_optional("note", &c.note)?;
                if self.do_not_call && c.channel == ReminderChannel::Phone {
                    return Err(DomainError::DoNotCall);
                }
                Ok(vec![PaymentReminderRecorded {
                    handler: ctx.actor.id.clone(),
                    channel: c.channel,
                    result: c.result,
                    note: c.note.clone(),
                    at: now,
                }
                .into()])
            }
            ReminderCommand::RecordPayment(c) => {
                self.open()?;
                c.amount.check_positive("amount")?;
                if let Some(amount) = self.amount {
                    if amount.currency != c.amount.currency {
                        return Err(DomainError::CurrencyMismatch {
                            expected: amount.currency.as_str().to_owned(),
                            actual: c.amount.currency.as_str().to_owned(),
                        });
                    }
                }
                Ok(vec![UnpaidOrderPaid {
                    paid_at: c.paid_at,
                    amount: c.amount,
                    at: now,
                }
                .into()])
            }
            ReminderCommand::CloseUnpaidOrder(c) => {
                self.open()?;
                match &c.reason {
                    CloseReason::PlatformTimeout => {
                        let due = self.auto_close_at;
                        if due.is_none_or(|due| now < due) {
                            return Err(DomainError::NotDueYet { due });
                        }
                    }
                    CloseReason::Manual { reason } => require_text("reason", reason)?,
                }
                Ok(vec![UnpaidOrderClosed {
                    reason: c.reason.clone(),
                    at: now,
                }
                .into()])
            }
        }
    }

    fn evolve(&mut self, event: &ReminderEvent) {
        match event {
            ReminderEvent::UnpaidOrderRegistered(e) => {
                self.registered = true;
                self.amount = Some(e.amount);
                self.auto_close_at = Some(e.auto_close_at);
            }
            ReminderEvent::PaymentReminderRecorded(e) => {
                if e.result == ReminderResult::Annoyed {
                    self.do_not_call = true;
                }
            }
            ReminderEvent::UnpaidOrderPaid(_) | ReminderEvent::UnpaidOrderClosed(_) => {
                self.settled = true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{apply, t, when};
    use crate::Role;

    const AGENT: (&str, Role) = ("agent-3", Role::Agent);
    const SYSTEM: (&str, Role) = ("scheduler", Role::System);

    fn registered() -> Vec<ReminderEvent> {
        let mut history = Vec::new();
        apply::<UnpaidOrder>(
            &mut history,
            RegisterUnpaidOrder {
                order_no: "TB1001".into(),
                buyer_id: "tb_zhao".into(),
                ordered_at: t("2026-03-01T12:00:00Z"),
                amount: Money::cny(8_800),
            },
            AGENT,
            t("2026-03-02T02:00:00Z"),
        );
        history
    }

    #[test]
    fn an_annoyed_buyer_is_not_called_again_but_may_get_a_message() {
        let mut history = registered();
        let annoyed = RecordReminder {
            channel: ReminderChannel::Phone,
            result: ReminderResult::Annoyed,
            note: None,
        };
        apply::<UnpaidOrder>(
            &mut history,
            annoyed.clone(),
            AGENT,
            t("2026-03-02T03:00:00Z"),
        );
        assert_eq!(
            when::<UnpaidOrder>(&history, annoyed, AGENT, t("2026-03-02T05:00:00Z")),
            Err(DomainError::DoNotCall)
        );
        let sms = RecordReminder {
            channel: ReminderChannel::Sms,
            result: ReminderResult::WillPay,
            note: None,
        };
        assert!(when::<UnpaidOrder>(&history, sms, AGENT, t("2026-03-02T05:00:00Z")).is_ok());
    }

    #[test]
    fn the_platform_closes_an_unpaid_order_after_three_days() {
        let history = registered();
        let close = CloseUnpaidOrder {
            reason: CloseReason::PlatformTimeout,
        };
        assert!(matches!(
            when::<UnpaidOrder>(&history, close.clone(), SYSTEM, t("2026-03-04T11:00:00Z")),
            Err(DomainError::NotDueYet { .. })
        ));
        let state = UnpaidOrder::replay(&history);
        assert_eq!(state.due_commands(t("2026-03-04T12:00:00Z")).len(), 1);
        assert!(when::<UnpaidOrder>(&history, close, SYSTEM, t("2026-03-04T12:00:00Z")).is_ok());
    }

    #[test]
    fn a_paid_order_takes_no_more_reminders() {
        let mut history = registered();
        apply::<UnpaidOrder>(
            &mut history,
            RecordPayment {
                paid_at: t("2026-03-02T04:00:00Z"),
                amount: Money::cny(8_800),
            },
            AGENT,
            t("2026-03-02T04:00:00Z"),
        );
        let reminder = RecordReminder {
            channel: ReminderChannel::Im,
            result: ReminderResult::WillPay,
            note: None,
        };
        assert_eq!(
            when::<UnpaidOrder>(&history, reminder, AGENT, t("2026-03-02T05:00:00Z")),
            Err(DomainError::OrderSettled)
        );
        assert!(UnpaidOrder::replay(&history)
            .due_commands(t("2026-03-09T00:00:00Z"))
            .is_empty());
    }

    #[test]
    fn a_manual_close_needs_a_reason() {
        let history = registered();
        let close = |reason: &str| CloseUnpaidOrder {
            reason: CloseReason::Manual {
                reason: reason.into(),
            },
        };
        assert!(matches!(
            when::<UnpaidOrder>(&history, close(" "), AGENT, t("2026-03-02T05:00:00Z")),
            Err(DomainError::Invalid { .. })
        ));
        assert!(when::<UnpaidOrder>(
            &history,
            close("其他：客户已重新下单"),
            AGENT,
            t("2026-03-02T05:00:00Z")
        )
        .is_ok());
    }
}
