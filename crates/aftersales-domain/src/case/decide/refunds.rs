//! Refunds (退款 SOP) and the platform's timers on them.

use uuid::Uuid;

use super::Decision;
use crate::aggregate::Context;
use crate::case::commands::*;
use crate::case::events::*;
use crate::case::state::*;
use crate::error::DomainError;
use crate::model::{
    check_list, require_short, require_text, PlatformState, RefundKind, MAX_LIST_ITEMS,
};
use crate::money::Money;
use crate::policy::hours;

impl Case {
    pub(super) fn refund(&self, id: Uuid) -> Result<&Refund, DomainError> {
        self.refunds
            .get(&id)
            .ok_or(DomainError::Unknown { what: "refund" })
    }

    pub(super) fn check_refundable(&self, amount: Money) -> Result<Money, DomainError> {
        let refundable = self.refundable().ok_or(DomainError::NoOrder)?;
        if amount.currency != refundable.currency {
            return Err(DomainError::CurrencyMismatch {
                expected: refundable.currency.as_str().to_owned(),
                actual: amount.currency.as_str().to_owned(),
            });
        }
        if amount.minor > refundable.minor {
            return Err(DomainError::RefundExceedsPaid {
                requested: amount.minor,
                refundable: refundable.minor,
            });
        }
        Ok(refundable)
    }

    pub(super) fn request_refund(&self, c: &RequestRefund, ctx: &Context<'_>) -> Decision {
        c.amount.check_positive("amount")?;
        require_text("reason", &c.reason)?;
        if self.refunds.contains_key(&c.refund_id) {
            return Err(DomainError::AlreadyDone {
                what: "this refund was requested",
            });
        }
        let order = self.order.as_ref().ok_or(DomainError::NoOrder)?;
        let refundable = self.check_refundable(c.amount)?;
        if c.kind == RefundKind::NotReceived && c.amount.minor != refundable.minor {
            return Err(DomainError::NotReceivedRefundIsWholeOrder {
                order_remaining: refundable.minor,
            });
        }
        if c.kind == RefundKind::DirectTransfer {
            if order.platform_state != PlatformState::TradeSucceeded {
                return Err(DomainError::DirectTransferNeedsTradeSucceeded);
            }
            match &c.payee_account {
                Some(account) => require_short("payee_account", account)?,
                None => {
                    return Err(DomainError::invalid(
                        "payee_account",
                        "a direct transfer needs the buyer's account",
                    ))
                }
            }
        }
        let timers = ctx
            .policy
            .refund_timers(order.platform.as_deref())
            .ok_or(DomainError::UnknownPlatform)?;
        let auto_accept_at = match order.platform_state {
            PlatformState::BuyerPaid => {
                let allowed_from = order.paid_at + hours(timers.request_delay_hours);
                if ctx.now < allowed_from {
                    return Err(DomainError::RefundTooEarly { allowed_from });
                }
                Some(ctx.now + hours(timers.auto_accept_buyer_paid_hours))
            }
            PlatformState::SellerShipped => {
                Some(ctx.now + hours(timers.auto_accept_seller_shipped_hours))
            }
            PlatformState::TradeSucceeded => None,
        };
        Ok(vec![RefundRequested {
            refund_id: c.refund_id,
            kind: c.kind,
            amount: c.amount,
            reason: c.reason.clone(),
            payee_account: c.payee_account.clone(),
            auto_accept_at,
            at: ctx.now,
        }
        .into()])
    }

    pub(super) fn record_platform_refund_deadline(
        &self,
        c: &RecordPlatformRefundDeadline,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        let refund = self.refund(c.refund_id)?;
        if refund.stage != RefundStage::Requested {
            return Err(DomainError::RefundNotPending);
        }
        // A deadline already passed would have the scheduler accept
        // the refund at once, on nobody's decision.
        if c.deadline <= now {
            return Err(DomainError::invalid(
                "deadline",
                "a platform deadline still ahead; this one has passed",
            ));
        }
        Ok(vec![PlatformRefundDeadlineRecorded {
            refund_id: c.refund_id,
            deadline: c.deadline,
            at: now,
        }
        .into()])
    }

    pub(super) fn approve_refund(&self, c: &ApproveRefund, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        if self.refund(c.refund_id)?.stage != RefundStage::Requested {
            return Err(DomainError::RefundNotPending);
        }
        Ok(vec![RefundApproved {
            refund_id: c.refund_id,
            at: now,
        }
        .into()])
    }

    pub(super) fn auto_accept_refund(&self, c: &AutoAcceptRefund, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        let refund = self.refund(c.refund_id)?;
        if refund.stage != RefundStage::Requested {
            return Err(DomainError::RefundNotPending);
        }
        match refund.deadline() {
            Some(deadline) if now >= deadline => Ok(vec![RefundAutoAccepted {
                refund_id: c.refund_id,
                deadline,
                at: now,
            }
            .into()]),
            deadline => Err(DomainError::NotDueYet { due: deadline }),
        }
    }

    pub(super) fn reject_refund(&self, c: &RejectRefund, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        if self.refund(c.refund_id)?.stage != RefundStage::Requested {
            return Err(DomainError::RefundNotPending);
        }
        if c.reason.trim().is_empty() || c.evidence.is_empty() {
            return Err(DomainError::RejectionNeedsReasonAndEvidence);
        }
        require_text("reason", &c.reason)?;
        check_list("evidence", &c.evidence, MAX_LIST_ITEMS)?;
        Ok(vec![RefundRejected {
            refund_id: c.refund_id,
            reason: c.reason.clone(),
            evidence: c.evidence.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn execute_refund(&self, c: &ExecuteRefund, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        let refund = self.refund(c.refund_id)?;
        if !matches!(
            refund.stage,
            RefundStage::Approved | RefundStage::AutoAccepted
        ) {
            return Err(DomainError::RefundNotApproved);
        }
        require_short("reference", &c.reference)?;
        Ok(vec![RefundPaid {
            refund_id: c.refund_id,
            amount: refund.amount,
            channel: c.channel,
            reference: c.reference.clone(),
            at: now,
        }
        .into()])
    }
}
