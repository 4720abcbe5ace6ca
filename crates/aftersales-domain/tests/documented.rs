//! docs/domain.md is the users' reference: every command and event the code
//! knows must be in it, with the roles the code enforces.

use aftersales_domain::audit::{AuditCommand, AuditEvent};
use aftersales_domain::case::{CaseCommand, CaseEvent};
use aftersales_domain::grant::{GrantCommand, GrantEvent};
use aftersales_domain::reminder::{ReminderCommand, ReminderEvent};
use aftersales_domain::repair::{RepairCommand, RepairEvent};
use aftersales_domain::streams::{PolicyEvent, PrivacyEvent, ReadModelEvent};
use aftersales_domain::webhook::WebhookEvent;
use aftersales_domain::Role;

const DOC: &str = include_str!("../../../docs/domain.md");

#[test]
fn every_command_is_documented_with_its_roles() {
    let all: Vec<&(&str, &[Role])> = CaseCommand::ROLES
        .iter()
        .chain(ReminderCommand::ROLES)
        .chain(AuditCommand::ROLES)
        .chain(RepairCommand::ROLES)
        .chain(GrantCommand::ROLES)
        .collect();
    for (name, roles) in all {
        let row = DOC
            .lines()
            .find(|line| line.starts_with(&format!("| `{name}`")))
            .unwrap_or_else(|| panic!("docs/domain.md has no row for {name}"));
        let roles_cell = row.split('|').nth(2).unwrap_or_default();
        for role in *roles {
            assert!(
                roles_cell.contains(role.as_str()),
                "docs/domain.md: {name} should list the {role} role"
            );
        }
        let listed = roles_cell.split(',').count();
        assert_eq!(
            listed,
            roles.len(),
            "docs/domain.md: {name} lists {listed} roles, the code allows {}",
            roles.len()
        );
    }
}

#[test]
fn every_event_type_is_documented() {
    let all = CaseEvent::TYPES
        .iter()
        .chain(ReminderEvent::TYPES)
        .chain(AuditEvent::TYPES)
        .chain(RepairEvent::TYPES)
        .chain(GrantEvent::TYPES)
        .chain(PrivacyEvent::TYPES)
        .chain(ReadModelEvent::TYPES)
        .chain(PolicyEvent::TYPES)
        .chain(WebhookEvent::TYPES);
    for event in all {
        assert!(
            DOC.contains(&format!("`{event}`")),
            "docs/domain.md does not mention {event}"
        );
    }
}
