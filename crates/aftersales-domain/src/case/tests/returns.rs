//! Returns, exchanges and reship orders.

use super::*;

fn return_request(cause: ReturnCause, no_reason: bool, resellable: bool) -> RequestReturn {
    RequestReturn {
        cause,
        sub_reason: "不想要了".into(),
        goods_shipped: true,
        no_reason,
        resellable,
    }
}

#[test]
fn the_postage_bearer_follows_the_cause() {
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded);
    for (cause, bearer) in [
        (ReturnCause::Customer, PostageBearer::Customer),
        (ReturnCause::Company, PostageBearer::Company),
        (ReturnCause::Quality, PostageBearer::Company),
        (ReturnCause::Courier, PostageBearer::Courier),
    ] {
        let requested = only(case.when(return_request(cause, false, true)), |e| match e {
            CaseEvent::ReturnRequested(r) => Some(r.clone()),
            _ => None,
        });
        assert_eq!(requested.postage_bearer, bearer);
    }
}

#[test]
fn a_no_reason_return_needs_resellable_goods_and_unshipped_goods_are_refunded() {
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded);
    assert_eq!(
        case.when(return_request(ReturnCause::Customer, true, false)),
        Err(DomainError::NoReasonReturnNotResellable)
    );
    let mut unshipped = return_request(ReturnCause::Customer, false, true);
    unshipped.goods_shipped = false;
    assert_eq!(
        case.when(unshipped),
        Err(DomainError::NotShippedRefundInstead)
    );
}

#[test]
fn a_return_is_received_inspected_and_restocked_in_order() {
    let warehouse = |s: Scenario| s.by("wh-1", Role::Warehouse);
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded).then_apply(return_request(
        ReturnCause::Customer,
        true,
        true,
    ));
    let receive = ReceiveReturnParcel {
        tracking_no: "YT123".into(),
        quantity: 1,
        lines: Vec::new(),
    };
    assert!(matches!(
        warehouse(case).when(receive.clone()),
        Err(DomainError::ReturnStage {
            expected: "authorised",
            ..
        })
    ));
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded)
        .then_apply(return_request(ReturnCause::Customer, true, true))
        .then_apply(AuthoriseReturn {
            return_address: "杭州市余杭区仓库 3 号".into(),
        });
    let case = warehouse(case).then_apply(receive);
    assert_eq!(
        case.when(InspectReturn {
            resellable: false,
            photos: vec![],
            note: None
        }),
        Err(DomainError::DamageNeedsPhotos)
    );
    let damaged = case
        .when(InspectReturn {
            resellable: false,
            photos: vec!["scratch.jpg".into()],
            note: None,
        })
        .unwrap();
    let mut not_resellable = Scenario {
        history: case.history.clone(),
        ..warehouse(given(vec![]))
    };
    not_resellable.history.extend(damaged);
    assert_eq!(
        not_resellable.when(RestockReturn { quantity: 1 }),
        Err(DomainError::NotResellable)
    );
    let case = case.then_apply(InspectReturn {
        resellable: true,
        photos: vec![],
        note: None,
    });
    assert!(matches!(
        case.when(RestockReturn { quantity: 2 }),
        Err(DomainError::Invalid {
            field: "quantity",
            ..
        })
    ));
    assert!(case.when(RestockReturn { quantity: 1 }).is_ok());
}

#[test]
fn a_buyer_s_own_exchange_needs_resellable_goods_and_postage_is_reimbursed_only_for_company_faults()
{
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded);
    let exchange = |cause, resellable| RequestExchange {
        cause,
        reason: "尺码不合适".into(),
        resellable,
    };
    assert_eq!(
        case.when(exchange(ReturnCause::Customer, false)),
        Err(DomainError::ExchangeNotResellable)
    );
    // A faulty or wrongly shipped item is exchanged whatever its state.
    for cause in [
        ReturnCause::Quality,
        ReturnCause::Company,
        ReturnCause::Courier,
    ] {
        assert!(
            case.when(exchange(cause, false)).is_ok(),
            "{cause:?}: not resellable, still exchanged"
        );
    }
    // The goods coming back are received without a return request, once.
    let receive = ReceiveExchangeParcel {
        tracking_no: "SF100200300".into(),
        quantity: 1,
        lines: Vec::new(),
    };
    let warehouse = |s: Scenario| s.by("wh-1", Role::Warehouse);
    assert_eq!(
        warehouse(case.clone()).when(receive.clone()),
        Err(DomainError::NoReturnOrExchange)
    );
    let received = warehouse(
        case.clone()
            .then_apply(exchange(ReturnCause::Quality, false)),
    )
    .then_apply(receive.clone());
    assert!(matches!(
        received.when(receive.clone()),
        Err(DomainError::AlreadyDone { .. })
    ));
    let finance = |s: Scenario| s.by("fin-1", Role::Finance);
    let customer_fault = case
        .then_apply(exchange(ReturnCause::Customer, true))
        .then_apply(RecordAdvancedPostage {
            amount: Money::cny(1_200),
        });
    assert_eq!(
        finance(customer_fault).when(ReimbursePostage {
            amount: Money::cny(1_200)
        }),
        Err(DomainError::PostageNotReimbursable)
    );
    let quality = open_case(Priority::P2, PlatformState::TradeSucceeded)
        .then_apply(exchange(ReturnCause::Quality, true))
        .then_apply(RecordAdvancedPostage {
            amount: Money::cny(1_200),
        });
    let quality = finance(quality);
    assert!(matches!(
        quality.when(ReimbursePostage {
            amount: Money::cny(1_300)
        }),
        Err(DomainError::ReimbursementExceedsAdvanced { .. })
    ));
    assert!(quality
        .when(ReimbursePostage {
            amount: Money::cny(1_200)
        })
        .is_ok());
}

#[test]
fn an_unverified_short_shipment_is_reshipped_only_after_approval() {
    let case = given(vec![]).then_apply(register(
        Priority::P2,
        Category::WarehouseError,
        Some(PlatformState::TradeSucceeded),
    ));
    let reship_order = CreateReshipOrder {
        reship_order_id: id(70),
        stock_name: "赠品-保温杯".into(),
        quantity: 1,
        reason: "少发赠品".into(),
        verified_by_weight: Some(false),
        approval_id: Some(id(71)),
        lines: Vec::new(),
    };
    assert_eq!(
        case.when(reship_order.clone()),
        Err(DomainError::UnverifiedReshipNeedsApproval)
    );
    let case = case
        .then_apply(RequestApproval {
            approval_id: id(71),
            subject: ApprovalSubject::UnverifiedShortShipmentReship {
                description: "称重无法核实".into(),
            },
        })
        .by("sup-1", Role::Supervisor)
        .then_apply(ApproveRequest {
            approval_id: id(71),
            note: None,
        })
        .by("agent-1", Role::Agent);
    assert!(case.when(reship_order).is_ok());
}

fn line(product: &str, spec: &str, quantity: u32) -> GoodsLine {
    GoodsLine {
        product: product.into(),
        spec: Some(spec.into()),
        quantity,
    }
}

/// 退件表: a parcel's lines name product and specification and add up to
/// its quantity; lines that do not are refused and record nothing.
#[test]
fn a_returned_parcel_s_lines_add_up_to_its_quantity() {
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded)
        .then_apply(return_request(ReturnCause::Quality, false, false))
        .then_apply(AuthoriseReturn {
            return_address: "仓库".into(),
        })
        .by("wh-1", Role::Warehouse);
    let receive = |quantity, lines| ReceiveReturnParcel {
        tracking_no: "YT9".into(),
        quantity,
        lines,
    };
    let two_lines = vec![line("T恤", "红/L", 2), line("T恤", "白/M", 1)];
    let received = only(case.when(receive(3, two_lines.clone())), |e| match e {
        CaseEvent::ReturnParcelReceived(r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(received.lines, two_lines);
    assert!(matches!(
        case.when(receive(4, two_lines)),
        Err(DomainError::Invalid { field: "lines", .. })
    ));
    assert!(matches!(
        case.when(receive(1, vec![line("T恤", "红/L", 0)])),
        Err(DomainError::Invalid {
            field: "lines.quantity",
            ..
        })
    ));
    assert!(matches!(
        case.when(receive(1, vec![line("", "红/L", 1)])),
        Err(DomainError::Invalid {
            field: "lines.product",
            ..
        })
    ));
    assert!(matches!(
        case.when(receive(
            51,
            (0..51).map(|_| line("袜子", "均码", 1)).collect()
        )),
        Err(DomainError::Invalid { field: "lines", .. })
    ));
}

/// 重发单: the department head signs a reship order once; a shop whose
/// policy asks for the signature ships none without it.
#[test]
fn a_reship_order_is_signed_off_by_the_department_head_before_it_ships_where_the_policy_says() {
    let case = given(vec![]).then_apply(register(
        Priority::P2,
        Category::WarehouseError,
        Some(PlatformState::TradeSucceeded),
    ));
    let case = case.then_apply(CreateReshipOrder {
        reship_order_id: id(70),
        stock_name: "T恤".into(),
        quantity: 2,
        reason: "少发".into(),
        verified_by_weight: Some(true),
        approval_id: None,
        lines: vec![line("T恤", "红/L", 1), line("T恤", "白/M", 1)],
    });
    let ship = ShipReshipOrder {
        reship_order_id: id(70),
        tracking_no: "SF1".into(),
        carrier: "顺丰".into(),
    };
    let sign = SignOffReshipOrder {
        reship_order_id: id(70),
    };
    let mut strict = case.by("wh-1", Role::Warehouse);
    strict.policy.reship_sign_off_required = true;
    assert_eq!(
        strict.when(ship.clone()),
        Err(DomainError::ReshipNotSignedOff)
    );
    // Without the policy, the order ships unsigned as before.
    assert!(case.by("wh-1", Role::Warehouse).when(ship.clone()).is_ok());
    assert!(matches!(
        case.when(sign.clone()),
        Err(DomainError::RoleNotAllowed { .. })
    ));
    assert_eq!(
        case.by("sup-1", Role::Supervisor).when(SignOffReshipOrder {
            reship_order_id: id(99)
        }),
        Err(DomainError::Unknown {
            what: "reship order"
        })
    );
    let signed = case.by("sup-1", Role::Supervisor).then_apply(sign.clone());
    assert_eq!(
        signed.when(sign),
        Err(DomainError::AlreadyDone {
            what: "the reship order was signed off"
        })
    );
    let mut strict = signed.by("wh-1", Role::Warehouse);
    strict.policy.reship_sign_off_required = true;
    assert!(strict.when(ship).is_ok());
}
