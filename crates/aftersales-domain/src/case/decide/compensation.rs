//! Compensation, price-difference refunds (补偿 / 退差价) and the approvals
//! a supervisor gives.

use uuid::Uuid;

use super::Decision;
use crate::aggregate::Context;
use crate::case::commands::*;
use crate::case::events::*;
use crate::case::state::*;
use crate::error::DomainError;
use crate::model::{check_optional, require_short, require_text, Category};

impl Case {
    pub(super) fn check_new_approval(&self, id: Uuid) -> Result<(), DomainError> {
        if self.approvals.contains_key(&id) {
            return Err(DomainError::AlreadyDone {
                what: "an approval with this id was requested",
            });
        }
        Ok(())
    }

    /// The approver holds the supervisor role (checked by the command's
    /// roles) and is never the requester.
    pub(super) fn pending_approval(
        &self,
        id: Uuid,
        ctx: &Context<'_>,
    ) -> Result<&Approval, DomainError> {
        let approval = self
            .approvals
            .get(&id)
            .ok_or(DomainError::Unknown { what: "approval" })?;
        if approval.stage != ApprovalStage::Pending {
            return Err(DomainError::ApprovalNotPending);
        }
        if approval.requested_by == ctx.actor.id {
            return Err(DomainError::ApproverIsRequester);
        }
        Ok(approval)
    }

    pub(super) fn offer_compensation(&self, c: &OfferCompensation, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        c.amount.check_positive("amount")?;
        require_text("issue", &c.issue)?;
        if self.compensations.contains_key(&c.compensation_id) {
            return Err(DomainError::AlreadyDone {
                what: "this compensation was offered",
            });
        }
        let limit = ctx.policy.approvals.compensation_limit.for_order(
            self.order.as_ref().and_then(|o| o.postage),
            c.amount.currency,
        );
        let within_limit =
            limit.is_some_and(|l| l.currency == c.amount.currency && c.amount.minor <= l.minor);
        if within_limit {
            return Ok(vec![CompensationGranted {
                compensation_id: c.compensation_id,
                amount: c.amount,
                issue: c.issue.clone(),
                approval_id: None,
                at: now,
            }
            .into()]);
        }
        self.check_new_approval(c.approval_id)?;
        Ok(vec![
            CompensationProposed {
                compensation_id: c.compensation_id,
                amount: c.amount,
                issue: c.issue.clone(),
                approval_id: c.approval_id,
                at: now,
            }
            .into(),
            ApprovalRequested {
                approval_id: c.approval_id,
                subject: ApprovalSubject::Compensation {
                    compensation_id: c.compensation_id,
                    amount: c.amount,
                },
                requested_by: ctx.actor.id.clone(),
                at: now,
            }
            .into(),
        ])
    }

    pub(super) fn pay_compensation(&self, c: &PayCompensation, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        let compensation =
            self.compensations
                .get(&c.compensation_id)
                .ok_or(DomainError::Unknown {
                    what: "compensation",
                })?;
        if compensation.stage != GrantStage::Granted {
            return Err(DomainError::NotGranted {
                what: "compensation",
            });
        }
        require_short("reference", &c.reference)?;
        Ok(vec![CompensationPaid {
            compensation_id: c.compensation_id,
            amount: compensation.amount,
            channel: c.channel,
            reference: c.reference.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn request_price_difference_refund(
        &self,
        c: &RequestPriceDifferenceRefund,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        c.amount.check_positive("amount")?;
        require_text("reason", &c.reason)?;
        if self.price_refunds.contains_key(&c.price_refund_id) {
            return Err(DomainError::AlreadyDone {
                what: "this price-difference refund was requested",
            });
        }
        self.check_refundable(c.amount)?;
        if c.amount.minor <= ctx.policy.approvals.price_difference_limit_fen {
            return Ok(vec![PriceDifferenceRefundRequested {
                price_refund_id: c.price_refund_id,
                amount: c.amount,
                reason: c.reason.clone(),
                approval_id: None,
                at: now,
            }
            .into()]);
        }
        self.check_new_approval(c.approval_id)?;
        Ok(vec![
            PriceDifferenceRefundRequested {
                price_refund_id: c.price_refund_id,
                amount: c.amount,
                reason: c.reason.clone(),
                approval_id: Some(c.approval_id),
                at: now,
            }
            .into(),
            ApprovalRequested {
                approval_id: c.approval_id,
                subject: ApprovalSubject::PriceDifferenceRefund {
                    price_refund_id: c.price_refund_id,
                    amount: c.amount,
                },
                requested_by: ctx.actor.id.clone(),
                at: now,
            }
            .into(),
        ])
    }

    pub(super) fn pay_price_difference_refund(
        &self,
        c: &PayPriceDifferenceRefund,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        let payout = self
            .price_refunds
            .get(&c.price_refund_id)
            .ok_or(DomainError::Unknown {
                what: "price-difference refund",
            })?;
        if payout.stage != GrantStage::Granted {
            return Err(DomainError::NotGranted {
                what: "price-difference refund",
            });
        }
        require_short("reference", &c.reference)?;
        Ok(vec![PriceDifferenceRefundPaid {
            price_refund_id: c.price_refund_id,
            amount: payout.amount,
            channel: c.channel,
            reference: c.reference.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn request_approval(&self, c: &RequestApproval, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        match &c.subject {
            ApprovalSubject::UnverifiedShortShipmentReship { description }
            | ApprovalSubject::Exception { description } => {
                require_text("subject.description", description)?
            }
            _ => {
                return Err(DomainError::invalid(
                    "subject",
                    "compensations and price-difference refunds ask for approval themselves",
                ))
            }
        }
        if c.subject_is_short_shipment() && self.category != Some(Category::WarehouseError) {
            return Err(DomainError::invalid(
                "subject",
                "a short-shipment reship belongs to a warehouse-error case",
            ));
        }
        self.check_new_approval(c.approval_id)?;
        Ok(vec![ApprovalRequested {
            approval_id: c.approval_id,
            subject: c.subject.clone(),
            requested_by: ctx.actor.id.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn approve_request(&self, c: &ApproveRequest, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        let approval = self.pending_approval(c.approval_id, ctx)?;
        check_optional("note", &c.note)?;
        let mut events = vec![CaseEvent::from(ApprovalGranted {
            approval_id: c.approval_id,
            approved_by: ctx.actor.id.clone(),
            note: c.note.clone(),
            at: now,
        })];
        if let ApprovalSubject::Compensation {
            compensation_id,
            amount,
        } = &approval.subject
        {
            let issue = self
                .compensations
                .get(compensation_id)
                .map(|c| c.why.clone())
                .unwrap_or_default();
            events.push(
                CompensationGranted {
                    compensation_id: *compensation_id,
                    amount: *amount,
                    issue,
                    approval_id: Some(c.approval_id),
                    at: now,
                }
                .into(),
            );
        }
        Ok(events)
    }

    pub(super) fn reject_request(&self, c: &RejectRequest, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        self.pending_approval(c.approval_id, ctx)?;
        require_text("reason", &c.reason)?;
        Ok(vec![ApprovalRejected {
            approval_id: c.approval_id,
            rejected_by: ctx.actor.id.clone(),
            reason: c.reason.clone(),
            at: now,
        }
        .into()])
    }
}

impl RequestApproval {
    pub(super) fn subject_is_short_shipment(&self) -> bool {
        matches!(
            self.subject,
            ApprovalSubject::UnverifiedShortShipmentReship { .. }
        )
    }
}
