//! Lost, damaged and difficult parcels (快递查询 SOP): chasing, reshipping,
//! recalling, returning to sender and the courier's claim.

use chrono::{DateTime, Utc};

use super::Decision;
use crate::aggregate::Context;
use crate::case::commands::*;
use crate::case::events::*;
use crate::case::state::*;
use crate::error::DomainError;
use crate::model::{
    check_list, check_optional, require_short, require_text, ParcelClass, PlatformState,
};
use crate::policy::hours;

impl Case {
    pub(super) fn parcel(&self) -> Result<&Parcel, DomainError> {
        self.parcel.as_ref().ok_or(DomainError::NoParcelProblem)
    }

    /// The parcel, while something can still be done about it.
    pub(super) fn open_parcel(&self) -> Result<&Parcel, DomainError> {
        let parcel = self.parcel()?;
        if parcel.is_settled() {
            return Err(DomainError::ParcelSettled);
        }
        Ok(parcel)
    }

    /// The 4-day rule: a customer-caused difficult parcel goes back when the
    /// customer could not be reached, by phone or IM, for 4 days (the
    /// window the policy set when the parcel was reported).
    pub fn unreachable_return_due(&self) -> Option<DateTime<Utc>> {
        let hours_allowed = self.parcel.as_ref()?.unreachable_return_hours;
        self.unreachable_since()
            .map(|since| since + hours(hours_allowed))
    }

    pub(super) fn unreachable_since(&self) -> Option<DateTime<Utc>> {
        let parcel = self.parcel.as_ref()?;
        if parcel.class != ParcelClass::DifficultByCustomer || parcel.is_settled() {
            return None;
        }
        // The clock starts at the first unanswered attempt since the
        // problem was reported and the customer was last reached.
        let since = self
            .last_reached_at
            .map_or(parcel.reported_at, |r| r.max(parcel.reported_at));
        self.unanswered_attempts
            .iter()
            .copied()
            .filter(|a| *a >= since)
            .min()
    }

    pub(super) fn return_to_sender(&self, c: &ReturnParcelToSender, ctx: &Context<'_>) -> Decision {
        self.open_parcel()?;
        if c.reason == ReturnToSenderReason::CustomerUnreachable {
            let due = self.unreachable_return_due();
            if due.is_none_or(|due| ctx.now < due) {
                return Err(DomainError::NotDueYet { due });
            }
        }
        Ok(vec![ParcelReturnedToSender {
            reason: c.reason,
            at: ctx.now,
        }
        .into()])
    }

    pub(super) fn report_parcel_problem(
        &self,
        c: &ReportParcelProblem,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        require_short("tracking_no", &c.tracking_no)?;
        require_short("carrier", &c.carrier)?;
        check_optional("note", &c.note)?;
        Ok(vec![ParcelProblemReported {
            tracking_no: c.tracking_no.clone(),
            carrier: c.carrier.clone(),
            class: c.class,
            note: c.note.clone(),
            at: now,
            unreachable_return_hours: (c.class == ParcelClass::DifficultByCustomer)
                .then_some(ctx.policy.unreachable_return_hours),
        }
        .into()])
    }

    pub(super) fn add_parcel_photos(&self, c: &AddParcelPhotos, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        self.parcel()?;
        if c.photos.is_empty() {
            return Err(DomainError::invalid(
                "photos",
                "give 1 to 20 photo references",
            ));
        }
        check_list("photos", &c.photos, 20)?;
        Ok(vec![ParcelPhotosAdded {
            photos: c.photos.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn chase_parcel(&self, c: &ChaseParcel, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        self.open_parcel()?;
        require_text("note", &c.note)?;
        Ok(vec![ParcelChased {
            note: c.note.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn extend_receipt(&self, c: &ExtendReceipt, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        self.open_parcel()?;
        if !(1..=30).contains(&c.days) {
            return Err(DomainError::invalid(
                "days",
                "extend receipt by 1 to 30 days",
            ));
        }
        if self
            .order
            .as_ref()
            .is_some_and(|o| o.platform_state == PlatformState::TradeSucceeded)
        {
            return Err(DomainError::TradeAlreadyCompleted);
        }
        Ok(vec![ReceiptExtended {
            days: c.days,
            at: now,
        }
        .into()])
    }

    pub(super) fn confirm_parcel_lost(&self, c: &ConfirmParcelLost, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        let parcel = self.open_parcel()?;
        require_short("courier_reference", &c.courier_reference)?;
        if parcel.class != ParcelClass::Lost {
            return Err(DomainError::ParcelClassMismatch { needed: "lost" });
        }
        Ok(vec![ParcelLossConfirmed {
            courier_reference: c.courier_reference.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn reship_parcel(&self, c: &ReshipParcel, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        let parcel = self.open_parcel()?;
        require_short("tracking_no", &c.tracking_no)?;
        require_short("carrier", &c.carrier)?;
        require_text("items", &c.items)?;
        require_text("reason", &c.reason)?;
        match parcel.class {
            ParcelClass::Damaged if parcel.photos < 2 => {
                return Err(DomainError::DamagedParcelNeedsPhotos {
                    have: parcel.photos,
                    need: 2,
                })
            }
            ParcelClass::Lost if !parcel.loss_confirmed => {
                return Err(DomainError::LostParcelNeedsCourierConfirmation)
            }
            _ => {}
        }
        Ok(vec![ParcelReshipped {
            reship_id: c.reship_id,
            tracking_no: c.tracking_no.clone(),
            carrier: c.carrier.clone(),
            items: c.items.clone(),
            reason: c.reason.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn recall_parcel(&self, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        let parcel = self.parcel()?;
        if parcel.recalled {
            return Err(DomainError::AlreadyDone {
                what: "the parcel was recalled",
            });
        }
        Ok(vec![ParcelRecalled { at: now }.into()])
    }

    pub(super) fn transfer_to_carrier(&self, c: &TransferToCarrier, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        self.open_parcel()?;
        require_short("carrier", &c.carrier)?;
        require_short("tracking_no", &c.tracking_no)?;
        Ok(vec![ParcelTransferred {
            carrier: c.carrier.clone(),
            tracking_no: c.tracking_no.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn arrange_self_pickup(&self, c: &ArrangeSelfPickup, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        self.open_parcel()?;
        require_text("location", &c.location)?;
        Ok(vec![SelfPickupArranged {
            location: c.location.clone(),
            at: now,
        }
        .into()])
    }

    pub(super) fn file_courier_claim(&self, c: &FileCourierClaim, ctx: &Context<'_>) -> Decision {
        let now = ctx.now;
        let parcel = self.parcel()?;
        if !parcel.class.is_courier_liable() {
            return Err(DomainError::ParcelClassMismatch {
                needed: "damaged or lost",
            });
        }
        c.amount.check_positive("amount")?;
        if self.claims.contains_key(&c.claim_id) {
            return Err(DomainError::AlreadyDone {
                what: "this claim was filed",
            });
        }
        Ok(vec![CourierClaimFiled {
            claim_id: c.claim_id,
            carrier: parcel.carrier.clone(),
            amount: c.amount,
            at: now,
        }
        .into()])
    }

    pub(super) fn settle_courier_claim(
        &self,
        c: &SettleCourierClaim,
        ctx: &Context<'_>,
    ) -> Decision {
        let now = ctx.now;
        let claim = self
            .claims
            .get(&c.claim_id)
            .ok_or(DomainError::Unknown { what: "claim" })?;
        if claim.settled {
            return Err(DomainError::AlreadyDone {
                what: "the claim was settled",
            });
        }
        c.amount.check_positive("amount")?;
        if c.amount.currency != claim.amount.currency || c.amount.minor > claim.amount.minor {
            return Err(DomainError::invalid(
                "amount",
                "a settlement cannot exceed the claim",
            ));
        }
        Ok(vec![CourierClaimSettled {
            claim_id: c.claim_id,
            amount: c.amount,
            at: now,
        }
        .into()])
    }
}
