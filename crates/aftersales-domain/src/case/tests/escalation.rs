//! Before a deadline: the warning, the owner's escalation and the
//! supervisor's new deadline, told to the customer.

use super::*;
use crate::aggregate::Scheduled;

fn escalate() -> EscalateCase {
    EscalateCase {
        reason: "工厂配件要下周才到".into(),
    }
}

fn agree(due: DateTime<Utc>) -> AgreeDeadline {
    AgreeDeadline {
        resolution_due: due,
        reason: "配件到货后维修".into(),
        told_customer_via: ContactChannel::Phone,
    }
}

#[test]
fn the_owner_is_warned_at_the_policys_share_of_the_time_to_the_deadline() {
    // P1: 24 hours round the clock; warned at 75%, after 18 hours.
    let case = open_case(Priority::P1, PlatformState::SellerShipped)
        .then_apply(result_told())
        .by("scheduler", Role::System);
    let state = Case::replay(&case.history);
    let warn_at = monday_10am() + Duration::hours(18);
    assert_eq!(state.sla.resolution_warn_at, Some(warn_at));
    assert_eq!(state.next_due(), Some(warn_at));
    assert!(state
        .due_commands(warn_at - Duration::seconds(1))
        .is_empty());
    let commands = state.due_commands(warn_at);
    assert_eq!(
        commands,
        [CaseCommand::from(RecordSlaAtRisk {
            clock: SlaClock::Resolution
        })]
    );
    let early = case
        .at(warn_at - Duration::minutes(1))
        .when(commands[0].clone());
    assert_eq!(early, Err(DomainError::NotDueYet { due: Some(warn_at) }));
    let warned = case.at(warn_at).then_apply(commands[0].clone());
    assert!(matches!(
        warned.history.last(),
        Some(CaseEvent::SlaAtRisk(e)) if e.due == monday_10am() + Duration::hours(24)
    ));
    // Once per deadline: the next timer is the breach itself.
    assert!(matches!(
        warned.at(warn_at).when(commands[0].clone()),
        Err(DomainError::AlreadyDone { .. })
    ));
    assert_eq!(
        Case::replay(&warned.history).next_due(),
        Some(monday_10am() + Duration::hours(24) + Duration::nanoseconds(1))
    );
}

#[test]
fn a_share_of_business_hours_is_counted_on_the_service_calendar() {
    // P2: 48 service hours from Monday 10:00 (open 09:00-21:00 every day);
    // 75% is 36 service hours: Monday 11 h, Tuesday 12 h, Wednesday 12 h,
    // then 1 hour into Thursday.
    let mut policy = Policy::default();
    policy.sla.warn_at_percent = 75;
    let case = Scenario {
        policy,
        ..given(vec![])
    }
    .then_apply(register(
        Priority::P2,
        Category::Logistics,
        Some(PlatformState::SellerShipped),
    ));
    let state = Case::replay(&case.history);
    // Thursday 10:00 China time.
    assert_eq!(
        state.sla.resolution_warn_at,
        Some(t("2026-03-05T02:00:00Z"))
    );
}

#[test]
fn an_escalated_case_gets_a_new_deadline_from_a_supervisor_and_the_customer_hears_it() {
    let case = open_case(Priority::P2, PlatformState::SellerShipped);
    let new_due = monday_10am() + Duration::days(7);
    // A new deadline answers an escalation.
    assert_eq!(
        case.by("sup-1", Role::Supervisor).when(agree(new_due)),
        Err(DomainError::NotEscalated)
    );
    let escalated = case.clone().then_apply(escalate());
    assert!(matches!(
        escalated.history.last(),
        Some(CaseEvent::CaseEscalated(e)) if e.to == "supervisor"
    ));
    assert!(matches!(
        escalated.when(escalate()),
        Err(DomainError::AlreadyDone { .. })
    ));
    // Only a supervisor agrees a deadline.
    assert!(matches!(
        escalated.when(agree(new_due)),
        Err(DomainError::RoleNotAllowed { .. })
    ));
    let supervisor = escalated.by("sup-1", Role::Supervisor);
    assert!(matches!(
        supervisor.when(agree(monday_10am() - Duration::hours(1))),
        Err(DomainError::Invalid {
            field: "resolution_due",
            ..
        })
    ));
    let events = supervisor.when(agree(new_due)).unwrap();
    let [CaseEvent::DeadlineAgreed(agreed), CaseEvent::CustomerInformed(told)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(agreed.resolution_due, new_due);
    assert_eq!(agreed.agreed_by, "sup-1");
    assert_eq!(
        agreed.previous_due,
        Case::replay(&case.history).sla.resolution_due
    );
    assert_eq!(told.channel, ContactChannel::Phone);
    assert!(told.summary.contains(&new_due.to_rfc3339()));
    // The new deadline is warned of and breached anew.
    let agreed_case = supervisor.then_apply(agree(new_due));
    let state = Case::replay(&agreed_case.history);
    assert_eq!(state.sla.resolution_due, Some(new_due));
    assert!(!state.sla.escalated && !state.sla.warned);
    assert!(state.sla.resolution_warn_at.is_some_and(|at| at < new_due));
}

#[test]
fn a_breached_deadline_replaced_by_an_agreed_one_can_be_breached_again() {
    let case = open_case(Priority::P1, PlatformState::SellerShipped)
        .then_apply(result_told())
        .by("scheduler", Role::System);
    let late = monday_10am() + Duration::hours(25);
    let breached = case.at(late).then_apply(RecordSlaBreach {
        clock: SlaClock::Resolution,
    });
    // The P1 breach escalated the case to the department manager.
    let new_due = late + Duration::hours(48);
    let agreed = breached
        .by("sup-1", Role::Supervisor)
        .at(late)
        .then_apply(agree(new_due));
    let state = Case::replay(&agreed.history);
    assert!(!state.sla.breached.contains(&SlaClock::Resolution));
    assert!(agreed
        .by("scheduler", Role::System)
        .at(new_due + Duration::seconds(1))
        .when(RecordSlaBreach {
            clock: SlaClock::Resolution
        })
        .is_ok());
}
