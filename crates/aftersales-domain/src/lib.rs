//! The after-sales domain: every action on a case, an unpaid order, a
//! sampling audit, a repair or a personal-data access grant as commands and
//! events, with the rules of the SOPs (see `docs/domain.md`).
//!
//! Pure and synchronous: no I/O, no database, no clock. Time comes in as
//! `Context::now`; the numbers the SOPs set come in as a [`Policy`].
//! `decide(state, command, context)` returns the events that happen or the
//! [`DomainError`] naming the broken rule; `evolve(state, event)` folds them.

pub mod actor;
pub mod aggregate;
pub mod audit;
pub mod calendar;
pub mod case;
pub mod error;
pub mod grant;
pub mod model;
pub mod money;
pub mod personal;
pub mod policy;
pub mod reminder;
pub mod repair;
pub mod streams;
#[cfg(test)]
mod testing;
pub mod webhook;

pub use actor::{Actor, Role};
pub use aggregate::{Aggregate, Command, Context, DecodeError, DomainEvent, Scheduled, Timer};
pub use error::DomainError;
pub use money::{Currency, Money};
pub use policy::{Policy, PolicyError};
