//! Decisions under a shop's own policy.

use super::*;

impl Scenario {
    fn under(&self, policy: Policy) -> Self {
        Self {
            policy,
            ..self.clone()
        }
    }
}

fn registered(events: &[CaseEvent]) -> &CaseRegistered {
    match &events[0] {
        CaseEvent::CaseRegistered(e) => e,
        other => panic!("{other:?}"),
    }
}

/// A lunch break and a holiday move a deadline as a person counting on the
/// calendar moves it.
#[test]
fn deadlines_count_the_shops_own_hours() {
    use crate::calendar::DayName;
    let mut policy = Policy::default();
    let windows = |list: &[&str]| list.iter().map(|w| w.parse().unwrap()).collect::<Vec<_>>();
    for day in DayName::ALL {
        policy
            .calendar
            .hours
            .insert(day, windows(&["09:00-12:00", "13:30-18:00"]));
    }
    // Monday 11:00 China time; P2 answers within 4 hours of service:
    // 11:00-12:00, then 13:30-16:30.
    let events = given(vec![])
        .at(t("2026-03-02T03:00:00Z"))
        .under(policy.clone())
        .when(register(Priority::P2, Category::Logistics, None))
        .unwrap();
    assert_eq!(
        registered(&events).first_response_due,
        Some(t("2026-03-02T08:30:00Z"))
    );
    // With Tuesday a holiday, Monday 17:00 + 4 h: 1 h on Monday, then
    // Wednesday 09:00-12:00.
    policy
        .calendar
        .holidays
        .insert("2026-03-03".parse().unwrap());
    let events = given(vec![])
        .at(t("2026-03-02T09:00:00Z"))
        .under(policy)
        .when(register(Priority::P2, Category::Logistics, None))
        .unwrap();
    assert_eq!(
        registered(&events).first_response_due,
        Some(t("2026-03-04T04:00:00Z"))
    );
}

/// Each platform's refund timers; an order on a platform the shop's policy
/// does not list is refused at registration.
#[test]
fn refund_timers_are_the_orders_platforms() {
    let mut policy = Policy::default();
    policy.platforms.insert(
        "jd".into(),
        crate::policy::RefundTimers {
            request_delay_hours: 0,
            auto_accept_buyer_paid_hours: 24,
            auto_accept_seller_shipped_hours: 72,
        },
    );
    let mut on_jd = register(
        Priority::P2,
        Category::Logistics,
        Some(PlatformState::SellerShipped),
    );
    if let Some(order) = &mut on_jd.order {
        order.platform = Some("jd".into());
    }
    let case = given(vec![])
        .under(policy.clone())
        .then_apply(on_jd.clone());
    let events = case
        .when(refund(RefundKind::ReceivedNoReturn, 1_000))
        .unwrap();
    let CaseEvent::RefundRequested(requested) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        requested.auto_accept_at,
        Some(monday_10am() + Duration::hours(72))
    );
    let refused = given(vec![]).when(on_jd);
    assert!(
        matches!(&refused, Err(DomainError::Invalid { field, .. }) if *field == "order.platform"),
        "{refused:?}"
    );
}

/// What an agent grants alone is the policy's to say.
#[test]
fn approval_limits_are_the_policys() {
    let mut policy = Policy::default();
    policy.approvals.compensation_limit = crate::policy::CompensationLimit::Fen(2_000);
    policy.approvals.price_difference_limit_fen = 500;
    let case = open_case(Priority::P2, PlatformState::SellerShipped).under(policy);
    let offer = |minor| OfferCompensation {
        compensation_id: Uuid::new_v4(),
        approval_id: Uuid::new_v4(),
        amount: Money::cny(minor),
        issue: "外包装破损".into(),
    };
    // Above the order's postage (¥10.00) but within the shop's ¥20.00.
    let events = case.when(offer(1_500)).unwrap();
    assert!(
        matches!(&events[..], [CaseEvent::CompensationGranted(_)]),
        "{events:?}"
    );
    let events = case.when(offer(2_500)).unwrap();
    assert!(
        matches!(&events[1], CaseEvent::ApprovalRequested(_)),
        "{events:?}"
    );
    let price = |minor| RequestPriceDifferenceRefund {
        price_refund_id: Uuid::new_v4(),
        approval_id: Uuid::new_v4(),
        amount: Money::cny(minor),
        reason: "降价补差".into(),
    };
    let events = case.when(price(500)).unwrap();
    assert!(
        matches!(&events[..], [CaseEvent::PriceDifferenceRefundRequested(e)] if e.approval_id.is_none()),
        "{events:?}"
    );
    let events = case.when(price(501)).unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
}

/// A case registered from a message of the weekend starts its clocks when
/// the customer wrote, within the policy's bound.
#[test]
fn the_clocks_start_when_the_customer_reached_out() {
    let mut command = register(Priority::P1, Category::Logistics, None);
    // Saturday 22:00 UTC; P1 runs round the clock: due two hours later.
    command.contacted_at = Some(t("2026-02-28T22:00:00Z"));
    let events = given(vec![]).when(command.clone()).unwrap();
    let registered = registered(&events);
    assert_eq!(registered.registered_at, monday_10am());
    assert_eq!(registered.contacted_at, command.contacted_at);
    assert_eq!(
        registered.first_response_due,
        Some(t("2026-03-01T00:00:00Z"))
    );
    for (at, why) in [
        ("2026-02-26T01:59:00Z", "more than 72 hours before"),
        ("2026-03-02T03:00:00Z", "future"),
    ] {
        command.contacted_at = Some(t(at));
        let refused = given(vec![]).when(command.clone());
        assert!(
            matches!(&refused, Err(DomainError::Invalid { field: "contacted_at", message }) if message.contains(why)),
            "{at}: {refused:?}"
        );
    }
}
