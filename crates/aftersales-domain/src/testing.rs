//! Given / when / then for any aggregate.

use chrono::{DateTime, Utc};

use crate::aggregate::{Aggregate, Context, DomainEvent};
use crate::{Actor, DomainError, Policy, Role};

pub fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("an RFC 3339 time")
}

/// Decides `command` on the state `history` leaves, as `role` at `now`;
/// every event it returns must survive encoding and decoding.
pub fn when<A: Aggregate>(
    history: &[A::Event],
    command: impl Into<A::Command>,
    (id, role): (&str, Role),
    now: DateTime<Utc>,
) -> Result<Vec<A::Event>, DomainError> {
    let state = A::replay(history);
    let policy = Policy::default();
    let actor = Actor::new(id, role);
    let result = state.handle(
        &command.into(),
        &Context {
            aggregate_id: uuid::Uuid::from_u128(1),
            now,
            actor: &actor,
            policy: &policy,
        },
    );
    if let Ok(events) = &result {
        for event in events {
            let data = event.encode().expect("events encode");
            assert_eq!(
                &A::Event::decode(event.event_type(), &data).expect("events decode"),
                event
            );
        }
    }
    result
}

/// Like [`when`], but the command must succeed; its events join `history`.
pub fn apply<A: Aggregate>(
    history: &mut Vec<A::Event>,
    command: impl Into<A::Command>,
    actor: (&str, Role),
    now: DateTime<Utc>,
) -> Vec<A::Event> {
    let events = when::<A>(history, command, actor, now).unwrap_or_else(|e| panic!("{e}"));
    history.extend(events.clone());
    events
}
