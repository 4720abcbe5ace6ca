//! The shape every aggregate shares: decide what happens, evolve the state.

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

use crate::actor::{Actor, Role};
use crate::error::DomainError;
use crate::policy::Policy;

/// What a decision may look at besides the state and the command.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The aggregate the decision is for: the id in its stream's name. It
    /// comes from whoever owns the stream, never from the command's body.
    pub aggregate_id: Uuid,
    pub now: DateTime<Utc>,
    pub actor: &'a Actor,
    pub policy: &'a Policy,
}

/// A command: imperative, with the roles allowed to issue it.
pub trait Command: std::fmt::Debug + Clone + Serialize + DeserializeOwned {
    /// The command's stable name, e.g. `RegisterCase`.
    fn name(&self) -> &'static str;
    fn allowed_roles(&self) -> &'static [Role];
}

/// An event: a fact in the past tense with a stable type name, the contract
/// with stored data. Renaming a Rust type must not rename stored events.
pub trait DomainEvent: std::fmt::Debug + Clone + PartialEq + Sized {
    /// The schema version written into every event's metadata.
    const SCHEMA_VERSION: u32 = 1;

    fn event_type(&self) -> &'static str;
    /// The event's data as JSON text.
    fn encode(&self) -> Result<String, serde_json::Error>;
    /// Reads a stored event back.
    fn decode(event_type: &str, data: &str) -> Result<Self, DecodeError>;
}

/// A stored event that does not read as any known event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("event {event_type} does not match its schema: {source}")]
    Data {
        event_type: String,
        source: serde_json::Error,
    },
}

/// A consistency boundary: the rules checked together on one stream.
pub trait Aggregate: std::fmt::Debug + Default + Clone + Send + Sync + 'static {
    /// Streams of this aggregate are `<CATEGORY>-<id>`.
    const CATEGORY: &'static str;
    type Command: Command;
    type Event: DomainEvent;

    /// Decides what the command changes, given the state; no I/O.
    fn decide(
        &self,
        command: &Self::Command,
        ctx: &Context<'_>,
    ) -> Result<Vec<Self::Event>, DomainError>;

    /// Applies an event to the state.
    fn evolve(&mut self, event: &Self::Event);

    /// Checks the actor's role, then decides.
    fn handle(
        &self,
        command: &Self::Command,
        ctx: &Context<'_>,
    ) -> Result<Vec<Self::Event>, DomainError> {
        if !command.allowed_roles().contains(&ctx.actor.role) {
            return Err(DomainError::RoleNotAllowed {
                command: command.name(),
                role: ctx.actor.role,
            });
        }
        self.decide(command, ctx)
    }

    /// Folds events into a state.
    fn replay<'e>(events: impl IntoIterator<Item = &'e Self::Event>) -> Self
    where
        Self::Event: 'e,
    {
        let mut state = Self::default();
        for event in events {
            state.evolve(event);
        }
        state
    }
}

/// A command that waits on the clock: due from `at` on.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer<C> {
    pub at: DateTime<Utc>,
    pub command: C,
}

/// An aggregate with rules that fall due with time.
pub trait Scheduled: Aggregate {
    /// Every command the state has waiting on the clock, each with the
    /// moment it falls due. Only a new event changes them, which is what
    /// lets the scheduler index the next due time instead of the state. They
    /// depend on the state alone: the decisions that started a timer
    /// recorded the deadline the policy of their moment set.
    fn timers(&self) -> Vec<Timer<Self::Command>>;

    /// The commands due at `now`. Deciding them checks the rule again, so
    /// issuing one twice appends nothing the second time.
    fn due_commands(&self, now: DateTime<Utc>) -> Vec<Self::Command> {
        self.timers()
            .into_iter()
            .filter(|timer| timer.at <= now)
            .map(|timer| timer.command)
            .collect()
    }

    /// When the next command falls due; `None` while nothing waits on the clock.
    fn next_due(&self) -> Option<DateTime<Utc>> {
        self.timers().iter().map(|timer| timer.at).min()
    }
}

/// Declares an aggregate's event enum: one variant per payload struct, each
/// with its stored type name.
#[macro_export]
macro_rules! domain_events {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $type_name:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)] // short-lived values, moved rarely
        pub enum $name {
            $($(#[$vmeta])* $variant($variant),)*
        }

        impl $crate::aggregate::DomainEvent for $name {
            fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $type_name,)*
                }
            }

            fn encode(&self) -> Result<String, serde_json::Error> {
                match self {
                    $(Self::$variant(event) => serde_json::to_string(event),)*
                }
            }

            fn decode(event_type: &str, data: &str) -> Result<Self, $crate::aggregate::DecodeError> {
                match event_type {
                    $($type_name => serde_json::from_str(data).map(Self::$variant).map_err(|source| {
                        $crate::aggregate::DecodeError::Data { event_type: event_type.to_owned(), source }
                    }),)*
                    other => Err($crate::aggregate::DecodeError::UnknownType(other.to_owned())),
                }
            }
        }

        impl $name {
            /// Every type name this enum reads and writes.
            pub const TYPES: &'static [&'static str] = &[$($type_name),*];
        }

        $(impl From<$variant> for $name {
            fn from(event: $variant) -> Self {
                Self::$variant(event)
            }
        })*
    };
}

/// Declares an aggregate's command enum: one variant per payload struct,
/// each with the roles that may issue it.
#[macro_export]
macro_rules! domain_commands {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => [$($role:ident),* $(,)?]),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(tag = "command", content = "data")]
        #[allow(clippy::large_enum_variant)] // short-lived values, moved rarely
        pub enum $name {
            $($(#[$vmeta])* $variant($variant),)*
        }

        impl $crate::aggregate::Command for $name {
            fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($variant),)*
                }
            }

            fn allowed_roles(&self) -> &'static [$crate::actor::Role] {
                match self {
                    $(Self::$variant(_) => &[$($crate::actor::Role::$role),*],)*
                }
            }
        }

        impl $name {
            /// Every command name with the roles that may issue it.
            pub const ROLES: &'static [(&'static str, &'static [$crate::actor::Role])] =
                &[$((stringify!($variant), &[$($crate::actor::Role::$role),*])),*];
        }

        $(impl From<$variant> for $name {
            fn from(command: $variant) -> Self {
                Self::$variant(command)
            }
        })*
    };
}
