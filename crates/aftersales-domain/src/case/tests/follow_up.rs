//! Handoffs, telling the customer, revisits, closing.

use super::*;

#[test]
fn a_handoff_has_a_deadline_and_the_answer_says_whether_it_was_met() {
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded).then_apply(HandOffCase {
        handoff_id: id(100),
        department: Department::Warehouse,
        question: "请核实是否少发".into(),
        respond_within_hours: Some(4),
        told_customer_via: None,
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
    // A complaint also makes the case one.
    assert!(matches!(
        case.when(record(5, Some("快递员态度差"))).unwrap()[..],
        [
            CaseEvent::RevisitRecorded(_),
            CaseEvent::ComplaintFlagged(_),
            CaseEvent::FollowUpOpened(_)
        ]
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
            feedback: None,
            then: None,
        }),
        Err(DomainError::CaseNotClosed)
    );
    // 结果告知: not before the customer knows the result.
    assert_eq!(case.when(close.clone()), Err(DomainError::ResultNotTold));
    let told = case.then_apply(result_told());
    let closed = told.then_apply(close.clone());
    assert_eq!(closed.when(close), Err(DomainError::CaseClosed));
    assert!(closed
        .when(RecordCustomerFeedback {
            confirmed: true,
            feedback: Some("满意".into()),
            then: None,
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

    // The breach moves the next due time on to the warning of the
    // resolution deadline, then to the deadline itself.
    let state = Case::replay(&late.history);
    let warn_at = state.next_due().expect("a warning");
    assert_eq!(Some(warn_at), state.sla.resolution_warn_at);
    let late = late
        .at(warn_at)
        .then_apply(state.due_commands(warn_at)[0].clone());
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
    let closed = case
        .clone()
        .then_apply(result_told())
        .then_apply(CloseCase {
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

#[test]
fn a_complaint_on_a_revisit_call_makes_the_case_a_complaint() {
    let revisit_id = Uuid::new_v4();
    let case = open_case(Priority::P2, PlatformState::SellerShipped).then_apply(ScheduleRevisit {
        revisit_id,
        kind: RevisitKind::AfterResolution,
        due_at: monday_10am() + Duration::days(1),
    });
    let events = case
        .when(RecordRevisit {
            revisit_id,
            outcome: RevisitOutcome::Refused,
            complaint: Some("维修后仍然漏水".into()),
        })
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        kinds,
        ["RevisitRecorded", "ComplaintFlagged", "FollowUpOpened"]
    );
}

/// 对接: the department's deadline comes from the policy, the customer is
/// told where the case went, the department confirms and answers; past its
/// deadline unanswered the handoff goes to the department's head, and the
/// case does not close while it is open.
#[test]
fn a_handoff_is_confirmed_answered_or_escalated_and_holds_the_case_open() {
    use crate::aggregate::Scheduled;
    let hand_off = HandOffCase {
        handoff_id: id(200),
        department: Department::Supervisor,
        question: "客户要求主管回电".into(),
        respond_within_hours: None,
        told_customer_via: Some(ContactChannel::Phone),
    };
    let events = open_case(Priority::P2, PlatformState::TradeSucceeded)
        .when(hand_off.clone())
        .unwrap();
    let CaseEvent::CaseHandedOff(handed) = &events[0] else {
        panic!("{events:?}")
    };
    // The supervisor has 4 service hours by default: Monday 10:00 to 14:00.
    assert_eq!(handed.due_at, monday_10am() + Duration::hours(4));
    assert!(
        matches!(&events[1], CaseEvent::CustomerInformed(_)),
        "{events:?}"
    );

    let case = open_case(Priority::P2, PlatformState::TradeSucceeded).then_apply(hand_off);
    let confirm = ConfirmHandoff {
        handoff_id: id(200),
    };
    let confirmed = case
        .by("sup-1", Role::Supervisor)
        .then_apply(confirm.clone());
    assert!(matches!(
        confirmed.when(confirm),
        Err(DomainError::AlreadyDone { .. })
    ));
    let close = CloseCase {
        solution: "已处理".into(),
        resolution: Resolution::Resolved,
    };
    assert!(matches!(
        confirmed.when(close.clone()),
        Err(DomainError::OpenItems { .. })
    ));

    // Unanswered at 14:00: the scheduler's timer takes it to the head.
    let state = Case::replay(&confirmed.history);
    let due = state.next_due().unwrap();
    assert_eq!(
        due,
        monday_10am() + Duration::hours(4) + Duration::nanoseconds(1)
    );
    let escalate = EscalateHandoff {
        handoff_id: id(200),
    };
    assert!(matches!(
        confirmed
            .by("scheduler", Role::System)
            .when(escalate.clone()),
        Err(DomainError::NotDueYet { .. })
    ));
    let late = confirmed
        .at(monday_10am() + Duration::hours(5))
        .by("scheduler", Role::System);
    let events = late.when(escalate.clone()).unwrap();
    assert!(matches!(&events[0], CaseEvent::HandoffEscalated(e) if e.to == "supervisor head"));
    let escalated = late.then_apply(escalate.clone());
    assert!(matches!(
        escalated.when(escalate),
        Err(DomainError::AlreadyDone { .. })
    ));

    // Answered, the case closes.
    let answered = escalated
        .by("sup-1", Role::Supervisor)
        .then_apply(RecordDepartmentResponse {
            handoff_id: id(200),
            response: "已回电".into(),
        });
    assert!(answered
        .by("agent-1", Role::Agent)
        .then_apply(result_told())
        .when(close)
        .is_ok());
}

/// Telling the customer the result, with proof.
pub(super) fn result_told() -> InformCustomer {
    InformCustomer {
        channel: ContactChannel::Phone,
        summary: "退款已原路退回".into(),
        about: InformedAbout::Result,
        proof: vec!["refund-receipt-001.png".into()],
    }
}

/// A customer who is not satisfied with the result reopens the case or
/// gets a follow-up: never silently nothing.
#[test]
fn an_unsatisfied_customer_reopens_the_case_or_opens_a_follow_up() {
    let closed = open_case(Priority::P2, PlatformState::SellerShipped)
        .then_apply(result_told())
        .then_apply(CloseCase {
            solution: "已补发".into(),
            resolution: Resolution::Resolved,
        });
    let unhappy = |then| RecordCustomerFeedback {
        confirmed: false,
        feedback: Some("补发的也是坏的".into()),
        then,
    };
    assert!(matches!(
        closed.when(unhappy(None)),
        Err(DomainError::Invalid { field: "then", .. })
    ));
    let kinds = |events: Vec<CaseEvent>| events.iter().map(|e| e.event_type()).collect::<Vec<_>>();
    assert_eq!(
        kinds(closed.when(unhappy(Some(Unsatisfied::Reopen))).unwrap()),
        ["CustomerFeedbackRecorded", "CaseReopened"]
    );
    assert_eq!(
        kinds(closed.when(unhappy(Some(Unsatisfied::FollowUp))).unwrap()),
        ["CustomerFeedbackRecorded", "FollowUpOpened"]
    );
    // Reopened, the result must be told again before it closes again.
    let reopened = closed.then_apply(unhappy(Some(Unsatisfied::Reopen)));
    assert_eq!(
        reopened.when(CloseCase {
            solution: "再次补发".into(),
            resolution: Resolution::Resolved,
        }),
        Err(DomainError::ResultNotTold)
    );
    // An abandoned case has no one to tell.
    assert!(reopened
        .when(CloseCase {
            solution: "客户失联".into(),
            resolution: Resolution::Abandoned,
        })
        .is_ok());
}

/// A follow-up has an owner and a due time, and stays open until its owner
/// closes it with what was done.
#[test]
fn a_follow_up_is_owned_due_and_closed_once() {
    let closed = open_case(Priority::P2, PlatformState::SellerShipped)
        .then_apply(AssignCase {
            agent_id: "agent-7".into(),
        })
        .then_apply(result_told())
        .then_apply(CloseCase {
            solution: "已补发".into(),
            resolution: Resolution::Resolved,
        });
    let unhappy = RecordCustomerFeedback {
        confirmed: false,
        feedback: Some("还是不满意".into()),
        then: Some(Unsatisfied::FollowUp),
    };
    let events = closed.when(unhappy.clone()).unwrap();
    let CaseEvent::FollowUpOpened(opened) = &events[1] else {
        panic!("{events:?}")
    };
    // The case's assignee owns it, due within 24 service hours: Monday
    // 10:00 + 11 h to 21:00, then 13 h of Tuesday from 09:00 = Wednesday 10:00.
    assert_eq!(opened.owner.as_deref(), Some("agent-7"));
    assert_eq!(opened.due_at, Some(t("2026-03-04T02:00:00Z")));
    // A retried command names the same follow-up.
    let again = closed.when(unhappy.clone()).unwrap();
    assert!(
        matches!(&again[1], CaseEvent::FollowUpOpened(e) if e.follow_up_id == opened.follow_up_id)
    );
    let follow_up_id = opened.follow_up_id.unwrap();

    let open = closed.then_apply(unhappy.clone());
    let close = |id| CloseFollowUp {
        follow_up_id: id,
        outcome: "上门更换, 客户满意".into(),
    };
    assert_eq!(
        open.when(close(id(999))),
        Err(DomainError::Unknown { what: "follow-up" })
    );
    assert!(matches!(
        open.when(CloseFollowUp {
            follow_up_id,
            outcome: "".into()
        }),
        Err(DomainError::Invalid {
            field: "outcome",
            ..
        })
    ));
    let late = open.at(t("2026-03-05T02:00:00Z"));
    assert!(matches!(
        late.when(close(follow_up_id)).unwrap()[..],
        [CaseEvent::FollowUpClosed(FollowUpClosed {
            on_time: false,
            ..
        })]
    ));
    let done = open.then_apply(close(follow_up_id));
    assert!(matches!(
        done.when(close(follow_up_id)),
        Err(DomainError::AlreadyDone { .. })
    ));
    // A second follow-up of the same case is another one.
    let second = done.when(unhappy).unwrap();
    assert!(
        matches!(&second[1], CaseEvent::FollowUpOpened(e) if e.follow_up_id != Some(follow_up_id))
    );
}

/// 批量故障: a case is one of one incident, and its root cause may be found
/// after it closed.
#[test]
fn a_case_joins_one_incident_and_records_its_root_cause_at_any_time() {
    let case = open_case(Priority::P2, PlatformState::TradeSucceeded);
    let link = |incident: &str| LinkIncident {
        incident: incident.into(),
        batch: Some(" B2603 ".into()),
    };
    assert!(matches!(
        case.when(link(" ")),
        Err(DomainError::Invalid {
            field: "incident",
            ..
        })
    ));
    let events = case.when(link("2026-03 IH-40B 主板")).unwrap();
    assert!(matches!(
        &events[..],
        [CaseEvent::CaseLinkedToIncident(e)] if e.batch.as_deref() == Some("B2603")
    ));
    let linked = case.then_apply(link("2026-03 IH-40B 主板"));
    assert!(matches!(
        linked.when(link("another")),
        Err(DomainError::Invalid {
            field: "incident",
            ..
        })
    ));
    let closed = linked.then_apply(result_told()).then_apply(CloseCase {
        solution: "更换主板".into(),
        resolution: Resolution::Resolved,
    });
    let technician = closed.by("tech-1", Role::Technician);
    assert!(matches!(
        technician.when(RecordRootCause { cause: "".into() }),
        Err(DomainError::Invalid { field: "cause", .. })
    ));
    assert!(matches!(
        technician
            .when(RecordRootCause {
                cause: "电容批次不良".into()
            })
            .unwrap()[..],
        [CaseEvent::RootCauseRecorded(_)]
    ));
}
