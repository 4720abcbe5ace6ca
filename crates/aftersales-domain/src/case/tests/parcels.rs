//! Lost, damaged and difficult parcels.

use super::*;

pub(super) fn parcel(class: ParcelClass) -> ReportParcelProblem {
    ReportParcelProblem {
        tracking_no: "SF1234567890".into(),
        carrier: "顺丰".into(),
        class,
        note: None,
    }
}

pub(super) fn reship() -> ReshipParcel {
    ReshipParcel {
        reship_id: id(50),
        tracking_no: "SF0000000001".into(),
        carrier: "顺丰".into(),
        items: "智能电饭煲 x1".into(),
        reason: "破损重发".into(),
    }
}

#[test]
fn a_damaged_parcel_is_reshipped_only_with_two_photos() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped)
        .then_apply(parcel(ParcelClass::Damaged))
        .then_apply(AddParcelPhotos {
            photos: vec!["photo-1.jpg".into()],
        });
    assert_eq!(
        case.when(reship()),
        Err(DomainError::DamagedParcelNeedsPhotos { have: 1, need: 2 })
    );
    let case = case.then_apply(AddParcelPhotos {
        photos: vec!["photo-2.jpg".into()],
    });
    assert!(matches!(
        case.when(reship()).unwrap()[0],
        CaseEvent::ParcelReshipped(_)
    ));
}

#[test]
fn a_lost_parcel_is_reshipped_only_after_the_courier_confirms() {
    let case =
        open_case(Priority::P2, PlatformState::SellerShipped).then_apply(parcel(ParcelClass::Lost));
    assert_eq!(
        case.when(reship()),
        Err(DomainError::LostParcelNeedsCourierConfirmation)
    );
    let case = case.then_apply(ConfirmParcelLost {
        courier_reference: "SF-LOSS-778".into(),
    });
    assert!(case.when(reship()).is_ok());
}

#[test]
fn only_damaged_or_lost_goods_are_claimed_from_the_courier() {
    let claim = FileCourierClaim {
        claim_id: id(60),
        amount: Money::cny(20_000),
    };
    let normal = open_case(Priority::P2, PlatformState::SellerShipped)
        .then_apply(parcel(ParcelClass::DifficultByCourier));
    assert!(matches!(
        normal.when(claim.clone()),
        Err(DomainError::ParcelClassMismatch { .. })
    ));
    let lost =
        open_case(Priority::P2, PlatformState::SellerShipped).then_apply(parcel(ParcelClass::Lost));
    let filed = only(lost.when(claim), |e| match e {
        CaseEvent::CourierClaimFiled(c) => Some(c.clone()),
        _ => None,
    });
    assert_eq!(filed.carrier, "顺丰");
}

#[test]
fn an_unreachable_customer_s_parcel_goes_back_after_four_days() {
    let attempt = RecordContactAttempt {
        channel: AttemptChannel::Phone,
        reached: false,
    };
    let case = open_case(Priority::P2, PlatformState::SellerShipped)
        .then_apply(parcel(ParcelClass::DifficultByCustomer))
        .then_apply(attempt.clone());
    let back = ReturnParcelToSender {
        reason: ReturnToSenderReason::CustomerUnreachable,
    };
    let system = |s: Scenario, at| s.at(at).by("scheduler", Role::System);
    let three_days = monday_10am() + Duration::days(3);
    let four_days = monday_10am() + Duration::days(4);
    assert!(matches!(
        system(case.at(monday_10am()), three_days).when(back.clone()),
        Err(DomainError::NotDueYet { .. })
    ));
    assert!(system(case.at(monday_10am()), four_days)
        .when(back.clone())
        .is_ok());
    // Reaching the customer stops the clock.
    let reached = case.at(three_days).then_apply(RecordContactAttempt {
        channel: AttemptChannel::Im,
        reached: true,
    });
    assert!(matches!(
        system(reached, four_days).when(back),
        Err(DomainError::NotDueYet { due: None })
    ));
}
