//! Refunds, compensation, price differences and approvals.

use super::*;

pub(super) fn refund(kind: RefundKind, minor: i64) -> RequestRefund {
    RequestRefund {
        refund_id: Uuid::new_v4(),
        kind,
        amount: Money::cny(minor),
        reason: "质量问题".into(),
        payee_account: None,
    }
}

#[test]
fn a_refund_never_exceeds_what_was_paid_minus_what_was_refunded() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped);
    assert_eq!(
        case.when(refund(RefundKind::ReceivedNoReturn, 20_001)),
        Err(DomainError::RefundExceedsPaid {
            requested: 20_001,
            refundable: 20_000
        })
    );
    let case = case.then_apply(refund(RefundKind::ReceivedNoReturn, 15_000));
    assert_eq!(
        case.when(refund(RefundKind::ReceivedNoReturn, 6_000)),
        Err(DomainError::RefundExceedsPaid {
            requested: 6_000,
            refundable: 5_000
        })
    );
    assert!(case
        .when(refund(RefundKind::ReceivedNoReturn, 5_000))
        .is_ok());
}

#[test]
fn a_not_received_refund_covers_the_whole_order() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped);
    assert_eq!(
        case.when(refund(RefundKind::NotReceived, 10_000)),
        Err(DomainError::NotReceivedRefundIsWholeOrder {
            order_remaining: 20_000
        })
    );
    assert!(case.when(refund(RefundKind::NotReceived, 20_000)).is_ok());
}

#[test]
fn in_buyer_paid_a_refund_waits_24_hours_and_is_auto_accepted_after_2_days() {
    let mut fresh = register(
        Priority::P2,
        Category::Logistics,
        Some(PlatformState::BuyerPaid),
    );
    if let Some(order) = &mut fresh.order {
        order.paid_at = monday_10am() - Duration::hours(2);
    }
    let case = given(vec![]).then_apply(fresh);
    assert!(matches!(
        case.when(refund(RefundKind::NotReceived, 20_000)),
        Err(DomainError::RefundTooEarly { .. })
    ));
    let later = monday_10am() + Duration::hours(23);
    let requested = only(
        case.at(later).when(refund(RefundKind::NotReceived, 20_000)),
        |e| match e {
            CaseEvent::RefundRequested(r) => Some(r.clone()),
            _ => None,
        },
    );
    assert_eq!(requested.auto_accept_at, Some(later + Duration::hours(48)));
}

#[test]
fn in_seller_shipped_an_unanswered_refund_is_auto_accepted_after_7_days_unless_the_platform_says_otherwise(
) {
    let request = refund(RefundKind::ReceivedWithReturn, 5_000);
    let refund_id = request.refund_id;
    let case = open_case(Priority::P2, PlatformState::SellerShipped).then_apply(request);
    let system = |s: Scenario, at| s.at(at).by("scheduler", Role::System);
    let accept = AutoAcceptRefund { refund_id };
    let six_days = monday_10am() + Duration::days(6);
    assert!(matches!(
        system(case.at(monday_10am()), six_days).when(accept.clone()),
        Err(DomainError::NotDueYet { .. })
    ));
    assert!(
        system(case.at(monday_10am()), monday_10am() + Duration::days(7))
            .when(accept.clone())
            .is_ok()
    );
    // The platform's own timeout wins over the computed one.
    let earlier = case.then_apply(RecordPlatformRefundDeadline {
        refund_id,
        deadline: monday_10am() + Duration::days(5),
    });
    assert!(system(earlier, six_days).when(accept).is_ok());
}

#[test]
fn an_agent_does_not_take_a_colleague_s_case_for_themselves() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped).then_apply(AssignCase {
        agent_id: "agent-wu".into(),
    });
    let take = AssignCase {
        agent_id: "agent-li".into(),
    };
    assert_eq!(
        case.by("agent-li", Role::Agent).when(take.clone()),
        Err(DomainError::TakeoverNeedsSupervisor {
            assignee: "agent-wu".into()
        })
    );
    assert!(case.by("lead-zhang", Role::Supervisor).when(take).is_ok());
    // An unassigned case is taken freely.
    let fresh = open_case(Priority::P2, PlatformState::SellerShipped);
    assert!(fresh
        .by("agent-li", Role::Agent)
        .when(AssignCase {
            agent_id: "agent-li".into()
        })
        .is_ok());
}

#[test]
fn a_platform_refund_deadline_already_passed_is_refused() {
    let request = refund(RefundKind::ReceivedWithReturn, 5_000);
    let refund_id = request.refund_id;
    let case = open_case(Priority::P2, PlatformState::SellerShipped).then_apply(request);
    for deadline in [
        monday_10am(),
        monday_10am() - Duration::days(1),
        "2000-01-01T00:00:00Z".parse().unwrap(),
    ] {
        assert!(
            matches!(
                case.when(RecordPlatformRefundDeadline {
                    refund_id,
                    deadline
                }),
                Err(DomainError::Invalid {
                    field: "deadline",
                    ..
                })
            ),
            "{deadline}"
        );
    }
    // Only those who handle refunds record one: not another system.
    let feed = case.clone().by("courier-feed", Role::Integration);
    assert!(matches!(
        feed.when(RecordPlatformRefundDeadline {
            refund_id,
            deadline: monday_10am() + Duration::days(3)
        }),
        Err(DomainError::RoleNotAllowed { .. })
    ));
}

#[test]
fn rejecting_a_refund_needs_a_reason_and_evidence() {
    let request = refund(RefundKind::ReceivedWithReturn, 5_000);
    let refund_id = request.refund_id;
    let case = open_case(Priority::P2, PlatformState::SellerShipped).then_apply(request);
    let reject = |evidence: Vec<String>| RejectRefund {
        refund_id,
        reason: "商品已使用".into(),
        evidence,
    };
    assert_eq!(
        case.when(reject(vec![])),
        Err(DomainError::RejectionNeedsReasonAndEvidence)
    );
    assert!(case.when(reject(vec!["签收照片.jpg".into()])).is_ok());
}

#[test]
fn finance_executes_only_approved_refunds() {
    let request = refund(RefundKind::ReceivedWithReturn, 5_000);
    let refund_id = request.refund_id;
    let case = open_case(Priority::P2, PlatformState::SellerShipped).then_apply(request);
    let execute = ExecuteRefund {
        refund_id,
        channel: PayoutChannel::Platform,
        reference: "TBR-1".into(),
    };
    assert!(matches!(
        case.when(execute.clone()),
        Err(DomainError::RoleNotAllowed { .. })
    ));
    let finance = |s: Scenario| s.by("fin-1", Role::Finance);
    let case = finance(case);
    assert_eq!(
        case.when(execute.clone()),
        Err(DomainError::RefundNotApproved)
    );
    let case = case
        .by("agent-1", Role::Agent)
        .then_apply(ApproveRefund { refund_id });
    let paid = only(finance(case).when(execute), |e| match e {
        CaseEvent::RefundPaid(p) => Some(p.clone()),
        _ => None,
    });
    assert_eq!(paid.amount, Money::cny(5_000));
}

#[test]
fn a_direct_transfer_needs_a_completed_trade_and_an_account() {
    let mut transfer = refund(RefundKind::DirectTransfer, 3_000);
    let shipped = open_case(Priority::P2, PlatformState::SellerShipped);
    assert_eq!(
        shipped.when(transfer.clone()),
        Err(DomainError::DirectTransferNeedsTradeSucceeded)
    );
    let done = open_case(Priority::P2, PlatformState::TradeSucceeded);
    assert!(matches!(
        done.when(transfer.clone()),
        Err(DomainError::Invalid {
            field: "payee_account",
            ..
        })
    ));
    transfer.payee_account = Some("alipay:wang***@163.com".into());
    assert!(done.when(transfer).is_ok());
}

pub(super) fn compensation(minor: i64) -> OfferCompensation {
    OfferCompensation {
        compensation_id: id(80),
        approval_id: id(81),
        amount: Money::cny(minor),
        issue: "轻微划痕".into(),
    }
}

#[test]
fn an_agent_grants_compensation_up_to_the_postage_alone() {
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded);
    let granted = case.when(compensation(1_000)).unwrap();
    assert!(matches!(&granted[..], [CaseEvent::CompensationGranted(g)] if g.approval_id.is_none()));
    let above = case.when(compensation(1_001)).unwrap();
    assert!(matches!(
        &above[..],
        [
            CaseEvent::CompensationProposed(_),
            CaseEvent::ApprovalRequested(_)
        ]
    ));
}

#[test]
fn the_approver_is_a_supervisor_and_never_the_requester() {
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded)
        .by("sup-1", Role::Supervisor)
        .then_apply(compensation(5_000));
    let approve = ApproveRequest {
        approval_id: id(81),
        note: None,
    };
    assert_eq!(
        case.when(approve.clone()),
        Err(DomainError::ApproverIsRequester)
    );
    let agent = Scenario {
        history: case.history.clone(),
        ..given(vec![])
    };
    assert!(matches!(
        agent.when(approve.clone()),
        Err(DomainError::RoleNotAllowed { .. })
    ));
    let other = Scenario {
        history: case.history.clone(),
        ..given(vec![]).by("sup-2", Role::Supervisor)
    };
    let events = other.when(approve.clone()).unwrap();
    assert!(
        matches!(&events[..], [CaseEvent::ApprovalGranted(_), CaseEvent::CompensationGranted(g)]
            if g.approval_id == Some(id(81)) && g.issue == "轻微划痕")
    );
    let approved = other.then_apply(approve.clone());
    assert_eq!(approved.when(approve), Err(DomainError::ApprovalNotPending));
}

#[test]
fn a_price_difference_refund_always_waits_for_approval_and_counts_against_the_paid_amount() {
    let request = RequestPriceDifferenceRefund {
        price_refund_id: id(90),
        approval_id: id(91),
        amount: Money::cny(3_000),
        reason: "大促降价".into(),
    };
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded);
    let events = case.when(request.clone()).unwrap();
    assert!(matches!(
        &events[..],
        [
            CaseEvent::PriceDifferenceRefundRequested(_),
            CaseEvent::ApprovalRequested(_)
        ]
    ));
    let case = case.then_apply(request);
    assert_eq!(
        case.when(refund(RefundKind::ReceivedNoReturn, 18_000)),
        Err(DomainError::RefundExceedsPaid {
            requested: 18_000,
            refundable: 17_000
        })
    );
    let pay = PayPriceDifferenceRefund {
        price_refund_id: id(90),
        channel: PayoutChannel::Alipay,
        reference: "ALI-1".into(),
    };
    let finance = Scenario {
        history: case.history.clone(),
        ..given(vec![]).by("fin-1", Role::Finance)
    };
    assert_eq!(
        finance.when(pay),
        Err(DomainError::NotGranted {
            what: "price-difference refund"
        })
    );
}
