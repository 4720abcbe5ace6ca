//! Returns (退货 SOP), exchanges (换货 SOP), the postage the buyer advanced and
//! reship orders for what the warehouse left out.

use uuid::Uuid;

use super::Decision;
use crate::aggregate::Context;
use crate::case::commands::*;
use crate::case::events::*;
use crate::case::state::*;
use crate::error::DomainError;
use crate::model::{
    check_goods, check_list, check_optional, require_short, require_text, ReturnCause,
    MAX_LIST_ITEMS,
};

impl Case {
    pub(super) fn return_at(&self, stage: ReturnStage) -> Result<&Return, DomainError> {
        let ret = self.ret.as_ref().ok_or(DomainError::NoReturnOrExchange)?;
        if ret.stage != stage {
            return Err(DomainError::ReturnStage {
                expected: stage_name(stage),
                actual: stage_name(ret.stage),
            });
        }
        Ok(ret)
    }

    pub(super) fn request_return(&self, c: &RequestReturn, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_text("sub_reason", &c.sub_reason)?;
        if self.ret.is_some() {
            return Err(DomainError::AlreadyDone {
                what: "a return was requested",
            });
        }
        if !c.goods_shipped {
            return Err(DomainError::NotShippedRefundInstead);
        }
        if c.no_reason && !c.resellable {
            return Err(DomainError::NoReasonReturnNotResellable);
        }
        Ok(vec![ReturnRequested {
            cause: c.cause,
            sub_reason: c.sub_reason.clone(),
            no_reason: c.no_reason,
            postage_bearer: c.cause.postage_bearer(),
            at: now,
        }
        .into()])
    }

    pub(super) fn authorise_return(&self, c: &AuthoriseReturn, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_text("return_address", &c.return_address)?;
        self.return_at(ReturnStage::Requested)?;
        Ok(vec![ReturnAuthorised {
            return_address: c.return_address.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn receive_return_parcel(
        &self,
        c: &ReceiveReturnParcel,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        require_short("tracking_no", &c.tracking_no)?;
        check_goods(c.quantity, &c.lines)?;
        self.return_at(ReturnStage::Authorised)?;
        Ok(vec![ReturnParcelReceived {
            tracking_no: c.tracking_no.clone(),
            quantity: c.quantity,
            at: now,
            lines: c.lines.clone(),
        }
        .into()])
    }

    pub(super) fn inspect_return(&self, c: &InspectReturn, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        self.return_at(ReturnStage::Received)?;
        if !c.resellable && c.photos.is_empty() {
            return Err(DomainError::DamageNeedsPhotos);
        }
        check_list("photos", &c.photos, MAX_LIST_ITEMS)?;
        check_optional("note", &c.note)?;
        Ok(vec![ReturnInspected {
            resellable: c.resellable,
            photos: c.photos.clone(),
            note: c.note.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn restock_return(&self, c: &RestockReturn, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        let ret = self.return_at(ReturnStage::Inspected)?;
        if ret.resellable != Some(true) {
            return Err(DomainError::NotResellable);
        }
        if c.quantity == 0 || c.quantity > ret.received_quantity {
            return Err(DomainError::invalid(
                "quantity",
                "restock 1 up to the quantity received",
            ));
        }
        Ok(vec![ReturnRestocked {
            quantity: c.quantity,
            at: now,
        }
        .into()])
    }

    pub(super) fn request_exchange(&self, c: &RequestExchange, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_text("reason", &c.reason)?;
        if self.exchange_cause.is_some() {
            return Err(DomainError::AlreadyDone {
                what: "an exchange was requested",
            });
        }
        // Only a buyer's own wish depends on the goods' state: a
        // faulty or wrongly shipped item is exchanged whatever it is
        // like (换货 SOP: 产品在影响二次销售情况下买家要求换货).
        if !c.resellable && c.cause == ReturnCause::Customer {
            return Err(DomainError::ExchangeNotResellable);
        }
        Ok(vec![ExchangeRequested {
            cause: c.cause,
            reason: c.reason.clone(),
            postage_bearer: c.cause.postage_bearer(),
            at: now,
        }
        .into()])
    }

    pub(super) fn receive_exchange_parcel(
        &self,
        c: &ReceiveExchangeParcel,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        require_short("tracking_no", &c.tracking_no)?;
        check_goods(c.quantity, &c.lines)?;
        if self.exchange_cause.is_none() {
            return Err(DomainError::NoReturnOrExchange);
        }
        if self.exchange_received {
            return Err(DomainError::AlreadyDone {
                what: "the exchanged goods were received",
            });
        }
        Ok(vec![ExchangeParcelReceived {
            tracking_no: c.tracking_no.clone(),
            quantity: c.quantity,
            at: now,
            lines: c.lines.clone(),
        }
        .into()])
    }

    pub(super) fn record_advanced_postage(
        &self,
        c: &RecordAdvancedPostage,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        c.amount.check_positive("amount")?;
        if self.exchange_cause.is_none() && self.ret.is_none() {
            return Err(DomainError::NoReturnOrExchange);
        }
        Ok(vec![PostageAdvancedByCustomer {
            amount: c.amount,
            at: now,
        }
        .into()])
    }

    pub(super) fn reimburse_postage(&self, c: &ReimbursePostage, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        c.amount.check_positive("amount")?;
        let cause = self.exchange_cause.or(self.ret.as_ref().map(|r| r.cause));
        if !matches!(cause, Some(ReturnCause::Company | ReturnCause::Quality)) {
            return Err(DomainError::PostageNotReimbursable);
        }
        let advanced = self
            .postage_advanced
            .ok_or(DomainError::PostageNotReimbursable)?;
        let reimbursed = self.postage_reimbursed.map_or(0, |m| m.minor);
        if c.amount.currency != advanced.currency || reimbursed + c.amount.minor > advanced.minor {
            return Err(DomainError::ReimbursementExceedsAdvanced {
                advanced: advanced.minor,
                reimbursed,
            });
        }
        Ok(vec![PostageReimbursed {
            amount: c.amount,
            at: now,
        }
        .into()])
    }

    pub(super) fn create_reship_order(&self, c: &CreateReshipOrder, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_short("stock_name", &c.stock_name)?;
        require_text("reason", &c.reason)?;
        check_goods(c.quantity, &c.lines)?;
        if self.reship_orders.contains_key(&c.reship_order_id) {
            return Err(DomainError::AlreadyDone {
                what: "this reship order was created",
            });
        }
        if c.verified_by_weight == Some(false) {
            let granted = c
                .approval_id
                .and_then(|id| self.approvals.get(&id))
                .is_some_and(|a| {
                    a.stage == ApprovalStage::Granted
                        && matches!(
                            a.subject,
                            ApprovalSubject::UnverifiedShortShipmentReship { .. }
                        )
                });
            if !granted {
                return Err(DomainError::UnverifiedReshipNeedsApproval);
            }
        }
        Ok(vec![ReshipOrderCreated {
            reship_order_id: c.reship_order_id,
            stock_name: c.stock_name.clone(),
            quantity: c.quantity,
            reason: c.reason.clone(),
            at: now,
            lines: c.lines.clone(),
        }
        .into()])
    }

    pub(super) fn sign_off_reship_order(
        &self,
        c: &SignOffReshipOrder,
        ctx: &Context<'_>,
    ) -> Decision {
        let order = self.reship_order(c.reship_order_id)?;
        if order.signed_off {
            return Err(DomainError::AlreadyDone {
                what: "the reship order was signed off",
            });
        }
        Ok(vec![ReshipOrderSignedOff {
            reship_order_id: c.reship_order_id,
            signed_off_by: ctx.actor.id.clone(),
            at: ctx.now,
        }
        .into()])
    }

    fn reship_order(&self, id: Uuid) -> Result<&ReshipOrder, DomainError> {
        self.reship_orders.get(&id).ok_or(DomainError::Unknown {
            what: "reship order",
        })
    }

    pub(super) fn ship_reship_order(&self, c: &ShipReshipOrder, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        require_short("tracking_no", &c.tracking_no)?;
        require_short("carrier", &c.carrier)?;
        let order = self.reship_order(c.reship_order_id)?;
        if order.shipped {
            return Err(DomainError::AlreadyDone {
                what: "the reship order was shipped",
            });
        }
        if ctx.policy.reship_sign_off_required && !order.signed_off {
            return Err(DomainError::ReshipNotSignedOff);
        }
        Ok(vec![ReshipOrderShipped {
            reship_order_id: c.reship_order_id,
            tracking_no: c.tracking_no.clone(),
            carrier: c.carrier.clone(),
            at: now,
        }
        .into()])
    }
}

fn stage_name(stage: ReturnStage) -> &'static str {
    match stage {
        ReturnStage::Requested => "requested",
        ReturnStage::Authorised => "authorised",
        ReturnStage::Received => "received",
        ReturnStage::Inspected => "inspected",
        ReturnStage::Restocked => "restocked",
    }
}
