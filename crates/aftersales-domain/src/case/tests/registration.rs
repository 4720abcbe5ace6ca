//! Registration, assignment, calls and the SLA clocks.

use super::*;

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

#[test]
fn a_changed_priority_counts_its_deadlines_again_from_the_change() {
    let case = open_case(Priority::P3, PlatformState::SellerShipped);
    let later = monday_10am() + Duration::minutes(30);
    let change = |priority| ChangePriority {
        priority,
        reason: "客户反映设备冒烟".into(),
    };
    let events = case.at(later).when(change(Priority::P1)).unwrap();
    let CaseEvent::PriorityChanged(changed) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(changed.previous, Priority::P3);
    // P1: two hours and a day, round the clock, from the change.
    assert_eq!(changed.first_response_due, Some(later + Duration::hours(2)));
    assert_eq!(changed.resolution_due, Some(later + Duration::hours(24)));
    assert!(matches!(
        case.when(change(Priority::P3)),
        Err(DomainError::AlreadyDone { .. })
    ));
    assert!(matches!(
        case.when(ChangePriority {
            priority: Priority::P1,
            reason: " ".into()
        }),
        Err(DomainError::Invalid {
            field: "reason",
            ..
        })
    ));
    let events = case
        .when(ChangeCategory {
            category: Category::ProductQuality,
            reason: "是质量问题, 不是物流".into(),
        })
        .unwrap();
    assert!(
        matches!(&events[0], CaseEvent::CategoryChanged(e) if e.previous == Category::Logistics)
    );
}

#[test]
fn a_complaint_takes_the_complaint_targets_where_they_come_sooner() {
    // P3: a reply within 24 service hours, no resolution target.
    let case = open_case(Priority::P3, PlatformState::SellerShipped);
    let later = monday_10am() + Duration::minutes(30);
    let flag = FlagComplaint {
        reason: "客服态度差".into(),
    };
    let events = case.at(later).when(flag.clone()).unwrap();
    let CaseEvent::ComplaintFlagged(flagged) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(flagged.first_response_due, Some(later + Duration::hours(2)));
    assert_eq!(flagged.resolution_due, Some(later + Duration::hours(24)));
    let flagged_case = case.at(later).then_apply(flag.clone());
    assert!(matches!(
        flagged_case.when(flag),
        Err(DomainError::AlreadyDone { .. })
    ));
}
