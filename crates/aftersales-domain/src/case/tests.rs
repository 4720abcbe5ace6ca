//! Given events, when a command, then events or the broken rule.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::*;
use crate::aggregate::{Aggregate, Context, DomainEvent};
use crate::model::*;
use crate::{Actor, DomainError, Money, Policy, Role};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Monday 2026-03-02 10:00 China time.
fn monday_10am() -> DateTime<Utc> {
    t("2026-03-02T02:00:00Z")
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

#[derive(Clone)]
struct Scenario {
    history: Vec<CaseEvent>,
    now: DateTime<Utc>,
    actor: Actor,
    policy: Policy,
}

fn given(history: Vec<CaseEvent>) -> Scenario {
    Scenario {
        history,
        now: monday_10am(),
        actor: Actor::new("agent-1", Role::Agent),
        policy: Policy::default(),
    }
}

impl Scenario {
    fn at(&self, now: DateTime<Utc>) -> Self {
        Self {
            now,
            ..self.clone()
        }
    }

    fn by(&self, id: &str, role: Role) -> Self {
        Self {
            actor: Actor::new(id, role),
            ..self.clone()
        }
    }

    fn when(&self, command: impl Into<CaseCommand>) -> Result<Vec<CaseEvent>, DomainError> {
        let case = Case::replay(&self.history);
        let ctx = Context {
            aggregate_id: id(1),
            now: self.now,
            actor: &self.actor,
            policy: &self.policy,
        };
        let result = case.handle(&command.into(), &ctx);
        if let Ok(events) = &result {
            for event in events {
                // Every event survives storage unchanged.
                let data = event.encode().unwrap();
                assert_eq!(
                    &CaseEvent::decode(event.event_type(), &data).unwrap(),
                    event
                );
            }
        }
        result
    }

    /// Applies the command's events to the history, for the next step.
    fn then_apply(mut self, command: impl Into<CaseCommand>) -> Self {
        let events = self.when(command).unwrap();
        self.history.extend(events);
        self
    }
}

fn customer() -> Customer {
    Customer {
        name: "王小明".into(),
        phone: "13800138000".into(),
        address: Some("浙江省杭州市西湖区文三路 100 号".into()),
        email: None,
        buyer_id: Some("tb_wangxm".into()),
    }
}

fn order(state: PlatformState) -> Order {
    Order {
        order_no: "TB20260301001".into(),
        paid: Money::cny(20_000),
        paid_at: t("2026-02-27T02:00:00Z"),
        postage: Some(Money::cny(1_000)),
        platform_state: state,
        platform: None,
    }
}

fn register(priority: Priority, category: Category, state: Option<PlatformState>) -> RegisterCase {
    RegisterCase {
        customer: customer(),
        order: state.map(order),
        product: Product {
            name: "智能电饭煲".into(),
            model: Some("IH-40B".into()),
            serial: None,
            purchase_date: None,
            purchase_channel: Some("天猫旗舰店".into()),
        },
        problem: Problem {
            phenomenon: "外包装破损".into(),
            occurred_at: None,
            impact: None,
            notes: None,
        },
        channel: ContactChannel::Phone,
        category,
        priority,
        split_from: None,
    }
}

fn open_case(priority: Priority, state: PlatformState) -> Scenario {
    given(vec![]).then_apply(register(priority, Category::Logistics, Some(state)))
}

fn call(outcome: CallOutcome, at: DateTime<Utc>) -> LogCall {
    LogCall {
        call_id: Uuid::new_v4(),
        direction: CallDirection::Outbound,
        with_customer: true,
        party_name: None,
        number: "13800138000".into(),
        called_at: at,
        content: "告知处理进度".into(),
        product: None,
        fault: None,
        warranty: WarrantyStatus::InWarranty,
        outcome,
        follow_up: FollowUpStatus::Notified,
    }
}

fn only<E: Clone>(
    events: Result<Vec<CaseEvent>, DomainError>,
    pick: impl Fn(&CaseEvent) -> Option<E>,
) -> E {
    let events = events.unwrap();
    events.iter().find_map(pick).expect("the expected event")
}

// --- registration and SLA -------------------------------------------------

/// The deadlines a registration at `at` sets.
fn deadlines(
    priority: Priority,
    at: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let registered = only(
        given(vec![])
            .at(at)
            .when(register(priority, Category::Logistics, None)),
        |e| match e {
            CaseEvent::CaseRegistered(r) => Some(r.clone()),
            _ => None,
        },
    );
    (registered.first_response_due, registered.resolution_due)
}

#[test]
fn p1_clocks_run_round_the_clock_and_p2_clocks_in_service_hours() {
    // P1 (问题24小时内解决): 2 and 24 clock hours.
    assert_eq!(
        deadlines(Priority::P1, monday_10am()),
        (
            Some(monday_10am() + Duration::hours(2)),
            Some(monday_10am() + Duration::hours(24))
        )
    );
    // Registered at 20:00 local, an hour before closing: a P1 is answered
    // by 22:00 that night ...
    let evening = t("2026-03-02T12:00:00Z");
    assert_eq!(
        deadlines(Priority::P1, evening).0,
        Some(t("2026-03-02T14:00:00Z"))
    );
    // ... a P2 by 12:00 the next day (one open hour that evening, three the
    // next morning).
    assert_eq!(
        deadlines(Priority::P2, evening).0,
        Some(t("2026-03-03T04:00:00Z"))
    );
    // 48 service hours from Monday 10:00 with 12 open hours a day: Friday
    // 10:00.
    assert_eq!(
        deadlines(Priority::P2, monday_10am()).1,
        Some(t("2026-03-06T02:00:00Z"))
    );
}

#[test]
fn a_p3_case_has_a_reply_deadline_and_no_resolution_deadline() {
    let registered = only(
        given(vec![]).when(register(Priority::P3, Category::Consultation, None)),
        |e| match e {
            CaseEvent::CaseRegistered(r) => Some(r.clone()),
            _ => None,
        },
    );
    assert!(registered.first_response_due.is_some());
    assert_eq!(registered.resolution_due, None);
}

#[test]
fn registration_rejects_bad_input_and_a_second_registration() {
    let mut bad = register(Priority::P2, Category::Logistics, None);
    bad.customer.phone = "call me maybe".into();
    assert!(matches!(
        given(vec![]).when(bad),
        Err(DomainError::Invalid {
            field: "customer.phone",
            ..
        })
    ));
    let case = open_case(Priority::P2, PlatformState::SellerShipped);
    assert_eq!(
        case.when(register(Priority::P2, Category::Logistics, None)),
        Err(DomainError::CaseAlreadyRegistered)
    );
}

#[test]
fn only_the_listed_roles_may_issue_a_command() {
    let result = given(vec![]).by("wh-1", Role::Warehouse).when(register(
        Priority::P2,
        Category::Logistics,
        None,
    ));
    assert!(matches!(
        result,
        Err(DomainError::RoleNotAllowed {
            command: "RegisterCase",
            role: Role::Warehouse
        })
    ));
}

#[test]
fn a_command_on_an_unregistered_case_is_rejected() {
    assert_eq!(
        given(vec![]).when(AssignCase {
            agent_id: "agent-2".into()
        }),
        Err(DomainError::CaseNotRegistered)
    );
}

#[test]
fn the_first_connected_call_with_the_customer_is_the_first_response() {
    let case = open_case(Priority::P1, PlatformState::SellerShipped);
    let no_answer = case
        .when(call(CallOutcome::NoAnswer, monday_10am()))
        .unwrap();
    assert_eq!(no_answer.len(), 1);
    let at = monday_10am() + Duration::minutes(30);
    let case = case.at(at);
    let first = only(case.when(call(CallOutcome::Connected, at)), |e| match e {
        CaseEvent::FirstResponseRecorded(f) => Some(f.clone()),
        _ => None,
    });
    assert!(first.on_time);
    let case = case.then_apply(call(CallOutcome::Connected, at));
    assert_eq!(
        case.when(call(CallOutcome::Connected, at)).unwrap().len(),
        1,
        "only the first counts"
    );
}

#[test]
fn a_late_first_response_is_recorded_as_late() {
    let case = open_case(Priority::P1, PlatformState::SellerShipped);
    let at = monday_10am() + Duration::hours(3);
    let first = only(
        case.at(at).when(call(CallOutcome::Connected, at)),
        |e| match e {
            CaseEvent::FirstResponseRecorded(f) => Some(f.clone()),
            _ => None,
        },
    );
    assert!(!first.on_time);
}

#[test]
fn pausing_moves_the_deadlines_by_the_business_time_paused() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped).then_apply(PauseSla {
        reason: PauseReason::WaitingOnCustomer,
    });
    assert_eq!(
        case.when(PauseSla {
            reason: PauseReason::WaitingOnThirdParty
        }),
        Err(DomainError::SlaAlreadyPaused)
    );
    // Paused from 10:00 to 12:00 the same day: both deadlines move by 2 h.
    let resumed = only(
        case.at(monday_10am() + Duration::hours(2))
            .when(ResumeSla {}),
        |e| match e {
            CaseEvent::SlaResumed(r) => Some(r.clone()),
            _ => None,
        },
    );
    assert_eq!(
        resumed.first_response_due,
        Some(monday_10am() + Duration::hours(6))
    );
    let open = open_case(Priority::P2, PlatformState::SellerShipped);
    assert_eq!(open.when(ResumeSla {}), Err(DomainError::SlaNotPaused));
}

#[test]
fn a_breach_is_recorded_once_when_overdue_and_a_late_p1_is_escalated() {
    let case = open_case(Priority::P1, PlatformState::SellerShipped);
    let breach = RecordSlaBreach {
        clock: SlaClock::FirstResponse,
    };
    let system = |s: Scenario| s.by("scheduler", Role::System);
    assert!(matches!(
        system(case.at(monday_10am() + Duration::hours(1))).when(breach.clone()),
        Err(DomainError::NotDueYet { .. })
    ));
    let late = system(case.at(monday_10am() + Duration::hours(3)));
    let events = late.when(breach.clone()).unwrap();
    assert!(matches!(
        events[0],
        CaseEvent::SlaBreached(SlaBreached {
            clock: SlaClock::FirstResponse,
            ..
        })
    ));
    assert!(matches!(&events[1], CaseEvent::CaseEscalated(e) if e.to == "department_manager"));
    let late = late.then_apply(breach.clone());
    assert!(matches!(
        late.when(breach),
        Err(DomainError::AlreadyDone { .. })
    ));
}

#[test]
fn a_paused_clock_does_not_breach() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped)
        .then_apply(PauseSla {
            reason: PauseReason::WaitingOnThirdParty,
        })
        .at(monday_10am() + Duration::days(5))
        .by("scheduler", Role::System);
    assert_eq!(
        case.when(RecordSlaBreach {
            clock: SlaClock::Resolution
        }),
        Err(DomainError::SlaPaused)
    );
}

#[test]
fn assignment_and_reassignment() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped).then_apply(AssignCase {
        agent_id: "agent-7".into(),
    });
    assert_eq!(
        case.when(AssignCase {
            agent_id: "agent-7".into()
        }),
        Err(DomainError::AlreadyAssigned)
    );
    let reassigned = only(
        case.when(AssignCase {
            agent_id: "agent-8".into(),
        }),
        |e| match e {
            CaseEvent::CaseAssigned(a) => Some(a.clone()),
            _ => None,
        },
    );
    assert_eq!(reassigned.previous_agent_id.as_deref(), Some("agent-7"));
}

#[test]
fn a_merged_case_points_to_its_survivor_and_takes_no_more_commands() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped);
    assert!(matches!(
        case.when(MergeCase { survivor: id(1) }),
        Err(DomainError::Invalid { .. })
    ));
    let merged = case.then_apply(MergeCase { survivor: id(2) });
    assert_eq!(
        merged.when(AssignCase {
            agent_id: "a".into()
        }),
        Err(DomainError::CaseMerged { survivor: id(2) })
    );
}

#[test]
fn a_call_with_someone_else_names_them() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped);
    let mut other = call(CallOutcome::WrongPerson, monday_10am());
    other.with_customer = false;
    assert!(matches!(
        case.when(other.clone()),
        Err(DomainError::Invalid {
            field: "party_name",
            ..
        })
    ));
    other.party_name = Some("客户家人".into());
    assert_eq!(case.when(other).unwrap().len(), 1);
    let future = call(CallOutcome::Connected, monday_10am() + Duration::hours(1));
    assert!(matches!(
        case.when(future),
        Err(DomainError::Invalid {
            field: "called_at",
            ..
        })
    ));
}

// --- parcels ----------------------------------------------------------------

fn parcel(class: ParcelClass) -> ReportParcelProblem {
    ReportParcelProblem {
        tracking_no: "SF1234567890".into(),
        carrier: "顺丰".into(),
        class,
        note: None,
    }
}

fn reship() -> ReshipParcel {
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

// --- returns and exchanges ------------------------------------------------

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

// --- refunds, compensation, approvals ----------------------------------------

fn refund(kind: RefundKind, minor: i64) -> RequestRefund {
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

fn compensation(minor: i64) -> OfferCompensation {
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

// --- handoffs, revisits, closing --------------------------------------------

#[test]
fn a_handoff_has_a_deadline_and_the_answer_says_whether_it_was_met() {
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded).then_apply(HandOffCase {
        handoff_id: id(100),
        department: Department::Warehouse,
        question: "请核实是否少发".into(),
        respond_within_hours: 4,
    });
    let answer = RecordDepartmentResponse {
        handoff_id: id(100),
        response: "已核实，确认少发".into(),
    };
    let late = only(
        case.at(monday_10am() + Duration::hours(5))
            .by("wh-1", Role::Warehouse)
            .when(answer.clone()),
        |e| match e {
            CaseEvent::DepartmentResponded(r) => Some(r.clone()),
            _ => None,
        },
    );
    assert!(!late.on_time);
    let unknown = RecordDepartmentResponse {
        handoff_id: id(101),
        ..answer
    };
    assert!(matches!(
        case.when(unknown),
        Err(DomainError::Unknown { what: "handoff" })
    ));
}

#[test]
fn a_low_revisit_score_or_a_complaint_opens_a_follow_up() {
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded).then_apply(ScheduleRevisit {
        revisit_id: id(110),
        kind: RevisitKind::AfterResolution,
        due_at: monday_10am() + Duration::days(1),
    });
    let record = |score, complaint: Option<&str>| RecordRevisit {
        revisit_id: id(110),
        outcome: RevisitOutcome::Scored {
            score,
            attitude: None,
            skill: None,
            comment: None,
        },
        complaint: complaint.map(Into::into),
    };
    assert_eq!(case.when(record(5, None)).unwrap().len(), 1);
    assert!(matches!(
        case.when(record(2, None)).unwrap()[1],
        CaseEvent::FollowUpOpened(_)
    ));
    assert!(matches!(
        case.when(record(5, Some("快递员态度差"))).unwrap()[1],
        CaseEvent::FollowUpOpened(_)
    ));
    assert_eq!(
        case.when(record(6, None)),
        Err(DomainError::ScoreOutOfRange { score: 6 })
    );
}

#[test]
fn a_case_closes_without_open_items_and_can_be_reopened() {
    let request = refund(RefundKind::ReceivedNoReturn, 1_000);
    let refund_id = request.refund_id;
    let close = CloseCase {
        solution: "已退款".into(),
        resolution: Resolution::Resolved,
    };
    let case = open_case(Priority::P2, PlatformState::SellerShipped).then_apply(request);
    assert!(matches!(
        case.when(close.clone()),
        Err(DomainError::OpenItems { .. })
    ));
    let case = case.then_apply(ApproveRefund { refund_id });
    assert_eq!(
        case.when(RecordCustomerFeedback {
            confirmed: true,
            feedback: None
        }),
        Err(DomainError::CaseNotClosed)
    );
    let closed = case.then_apply(close.clone());
    assert_eq!(closed.when(close), Err(DomainError::CaseClosed));
    assert!(closed
        .when(RecordCustomerFeedback {
            confirmed: true,
            feedback: Some("满意".into())
        })
        .is_ok());
    // Finance still pays what was approved before the case closed.
    let finance = Scenario {
        history: closed.history.clone(),
        ..given(vec![]).by("fin-1", Role::Finance)
    };
    assert!(finance
        .when(ExecuteRefund {
            refund_id,
            channel: PayoutChannel::Platform,
            reference: "R1".into()
        })
        .is_ok());
    let reopened = closed.then_apply(ReopenCase {
        reason: "客户反馈问题复发".into(),
    });
    assert!(reopened
        .when(AssignCase {
            agent_id: "agent-9".into()
        })
        .is_ok());
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Refund(i64, bool),
        PriceDifference(i64),
        Approve(u8, u8),
        Reject(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1i64..25_000, any::<bool>()).prop_map(|(a, nr)| Step::Refund(a, nr)),
            (1i64..25_000).prop_map(Step::PriceDifference),
            (0u8..8, 0u8..3).prop_map(|(i, who)| Step::Approve(i, who)),
            (0u8..8).prop_map(Step::Reject),
        ]
    }

    proptest! {
        /// No sequence of accepted commands refunds more than was paid, and
        /// no approval is ever granted by its requester.
        #[test]
        fn refunds_never_exceed_the_paid_amount_and_approvers_are_never_requesters(steps in proptest::collection::vec(step(), 1..40)) {
            let mut scenario = open_case(Priority::P2, PlatformState::TradeSucceeded);
            let mut approvals: Vec<Uuid> = Vec::new();
            let supervisors = ["sup-1", "sup-2", "sup-3"];
            for (n, step) in steps.into_iter().enumerate() {
                let (actor, role, command): (&str, Role, CaseCommand) = match step {
                    Step::Refund(minor, not_received) => {
                        let kind = if not_received { RefundKind::NotReceived } else { RefundKind::ReceivedNoReturn };
                        ("agent-1", Role::Agent, refund(kind, minor).into())
                    }
                    Step::PriceDifference(minor) => {
                        let approval = Uuid::from_u128(1_000 + n as u128);
                        approvals.push(approval);
                        ("sup-1", Role::Supervisor, RequestPriceDifferenceRefund {
                            price_refund_id: Uuid::from_u128(2_000 + n as u128),
                            approval_id: approval,
                            amount: Money::cny(minor),
                            reason: "降价".into(),
                        }.into())
                    }
                    Step::Approve(i, who) => {
                        let Some(approval) = approvals.get(i as usize) else { continue };
                        (supervisors[who as usize], Role::Supervisor, ApproveRequest { approval_id: *approval, note: None }.into())
                    }
                    Step::Reject(i) => {
                        let Some(approval) = approvals.get(i as usize) else { continue };
                        ("sup-2", Role::Supervisor, RejectRequest { approval_id: *approval, reason: "不符合规定".into() }.into())
                    }
                };
                scenario = scenario.by(actor, role);
                if let Ok(events) = scenario.when(command) {
                    for event in &events {
                        if let CaseEvent::ApprovalGranted(granted) = event {
                            let requested_by = scenario.history.iter().find_map(|e| match e {
                                CaseEvent::ApprovalRequested(r) if r.approval_id == granted.approval_id => Some(r.requested_by.clone()),
                                _ => None,
                            });
                            prop_assert_ne!(requested_by, Some(granted.approved_by.clone()));
                        }
                    }
                    scenario.history.extend(events);
                }
                let case = Case::replay(&scenario.history);
                let committed = case.refund_commitments().unwrap();
                prop_assert!(committed.minor <= 20_000, "committed {committed}");
            }
        }
    }
}

#[test]
fn a_split_names_a_new_case_once() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped);
    let split = |new_case_id| SplitCase {
        new_case_id,
        reason: "同一订单两个问题".into(),
    };
    assert!(matches!(
        case.when(split(id(1))),
        Err(DomainError::Invalid {
            field: "new_case_id",
            ..
        })
    ));
    let case = case.then_apply(split(id(3)));
    assert!(matches!(
        case.when(split(id(3))),
        Err(DomainError::Invalid {
            field: "new_case_id",
            ..
        })
    ));
    assert!(case.when(split(id(4))).is_ok());
}

#[test]
fn the_receipt_time_is_extended_only_before_the_trade_completes() {
    let shipped = open_case(Priority::P2, PlatformState::SellerShipped)
        .then_apply(parcel(ParcelClass::DifficultByCourier));
    assert!(shipped.when(ExtendReceipt { days: 3 }).is_ok());
    assert!(matches!(
        shipped.when(ExtendReceipt { days: 0 }),
        Err(DomainError::Invalid { field: "days", .. })
    ));
    let completed = open_case(Priority::P2, PlatformState::TradeSucceeded)
        .then_apply(parcel(ParcelClass::DifficultByCourier));
    assert_eq!(
        completed.when(ExtendReceipt { days: 3 }),
        Err(DomainError::TradeAlreadyCompleted)
    );
}

#[test]
fn a_settled_parcel_is_not_chased_transferred_or_picked_up() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped)
        .then_apply(parcel(ParcelClass::OutOfArea));
    assert!(case
        .when(TransferToCarrier {
            carrier: "EMS".into(),
            tracking_no: "EMS001".into()
        })
        .is_ok());
    assert!(case
        .when(ArrangeSelfPickup {
            location: "菜鸟驿站 文三路店".into()
        })
        .is_ok());
    assert!(case.when(RecallParcel {}).is_ok());
    let settled = case.then_apply(reship());
    assert_eq!(
        settled.when(ChaseParcel {
            note: "催件".into()
        }),
        Err(DomainError::ParcelSettled)
    );
    assert_eq!(
        settled.when(TransferToCarrier {
            carrier: "EMS".into(),
            tracking_no: "EMS001".into()
        }),
        Err(DomainError::ParcelSettled)
    );
    assert_eq!(
        settled.when(ArrangeSelfPickup {
            location: "驿站".into()
        }),
        Err(DomainError::ParcelSettled)
    );
    let no_parcel = open_case(Priority::P2, PlatformState::SellerShipped);
    assert_eq!(
        no_parcel.when(RecallParcel {}),
        Err(DomainError::NoParcelProblem)
    );
}

#[test]
fn a_courier_claim_is_settled_once_and_not_above_the_claim() {
    let claim_id = id(61);
    let case = open_case(Priority::P2, PlatformState::SellerShipped)
        .then_apply(parcel(ParcelClass::Lost))
        .then_apply(FileCourierClaim {
            claim_id,
            amount: Money::cny(10_000),
        })
        .by("fin-1", Role::Finance);
    assert!(matches!(
        case.when(SettleCourierClaim {
            claim_id,
            amount: Money::cny(10_001)
        }),
        Err(DomainError::Invalid { .. })
    ));
    let settled = case.then_apply(SettleCourierClaim {
        claim_id,
        amount: Money::cny(10_000),
    });
    assert!(matches!(
        settled.when(SettleCourierClaim {
            claim_id,
            amount: Money::cny(1)
        }),
        Err(DomainError::AlreadyDone { .. })
    ));
}

/// What the scheduler issues when a case's next due time comes is what the
/// rules accept then, and nothing is due a moment before.
#[test]
fn the_next_due_time_is_when_the_rules_first_accept_a_timed_command() {
    use crate::aggregate::Scheduled;
    let case = open_case(Priority::P1, PlatformState::SellerShipped).by("scheduler", Role::System);
    let state = Case::replay(&case.history);
    let due = state.next_due().expect("a first-response deadline");
    assert_eq!(
        Some(due),
        state
            .sla
            .first_response_due
            .map(|d| d + Duration::nanoseconds(1))
    );
    assert!(state
        .due_commands(due - Duration::nanoseconds(1))
        .is_empty());
    let commands = state.due_commands(due);
    assert_eq!(commands.len(), 1);
    let late = case.at(due).then_apply(commands[0].clone());

    // The breach moves the next due time on to the resolution deadline.
    let state = Case::replay(&late.history);
    let next = state.next_due().expect("a resolution deadline");
    assert_eq!(
        Some(next),
        state
            .sla
            .resolution_due
            .map(|d| d + Duration::nanoseconds(1))
    );
    assert!(late
        .at(next)
        .when(state.due_commands(next)[0].clone())
        .is_ok());

    // A paused clock has nothing due.
    let paused = late.by("agent-1", Role::Agent).then_apply(PauseSla {
        reason: PauseReason::WaitingOnThirdParty,
    });
    assert_eq!(Case::replay(&paused.history).next_due(), None);
}

#[test]
fn a_progress_note_needs_words_and_may_come_at_any_time() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped);
    let note = |text: &str| AddCaseNote { note: text.into() };
    assert!(matches!(
        case.when(note(" ")),
        Err(DomainError::Invalid { field: "note", .. })
    ));
    assert!(case.when(note("已联系仓库")).is_ok());
    let closed = case.clone().then_apply(CloseCase {
        solution: "已补发".into(),
        resolution: Resolution::Resolved,
    });
    assert!(closed.when(note("客户来电确认收到")).is_ok());
    for role in [Role::Warehouse, Role::Finance, Role::Technician] {
        assert!(
            case.clone()
                .by("staff-1", role)
                .when(note("已处理"))
                .is_ok(),
            "{role:?}"
        );
    }
    assert!(matches!(
        case.clone().by("it-1", Role::Integration).when(note("x")),
        Err(DomainError::RoleNotAllowed { .. })
    ));
}

#[test]
fn a_revisit_rates_attitude_and_skill_apart_and_a_low_mark_on_either_follows_up() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped).then_apply(ScheduleRevisit {
        revisit_id: id(120),
        kind: RevisitKind::AfterResolution,
        due_at: monday_10am() + Duration::days(1),
    });
    let record = |attitude, skill| RecordRevisit {
        revisit_id: id(120),
        outcome: RevisitOutcome::Scored {
            score: 4,
            attitude,
            skill,
            comment: None,
        },
        complaint: None,
    };
    assert_eq!(case.when(record(Some(5), Some(4))).unwrap().len(), 1);
    let followed = case.when(record(Some(5), Some(2))).unwrap();
    assert!(
        matches!(&followed[1], CaseEvent::FollowUpOpened(f) if f.reason.contains('2')),
        "{followed:?}"
    );
    assert_eq!(
        case.when(record(Some(6), None)),
        Err(DomainError::ScoreOutOfRange { score: 6 })
    );
}

// --- the shop's policy -------------------------------------------------------

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
