//! Command handlers: the path from a command to events in the store.
//!
//! A handler loads an aggregate's state (from a bounded cache of recent
//! states, else by reading its stream), asks the pure domain to decide,
//! and appends the events with `Exact(revision)`: if another writer got there
//! first, the append fails, the state is read again and the command decided
//! again, a bounded number of times. Events carry the actor, the command's
//! correlation and causation ids, the schema version and the digest of the
//! policy they were decided under in their metadata; [`policy`] keeps the
//! policy in force from the log.
//!
//! The [`Scheduler`] issues the time-driven commands (auto-accepted refunds,
//! SLA breaches, parcels returned after 4 days unreachable, unpaid orders
//! closed, access grants expired) through the same handlers, finding them
//! through a [`DueIndex`]; running it twice appends nothing new.
//!
//! [`import`] registers a platform's export of unpaid orders (催款导单)
//! through the same handler, line by line.

mod clock;
mod follow;
mod handler;
pub mod import;
pub mod policy;
pub mod sandbox;
mod scheduler;

pub use clock::{Clock, FixedClock, SystemClock};
pub use handler::{CommandOutcome, Envelope, Handler, HandlerError, POLICY_DIGEST, SANDBOX_CLOCK};
pub use policy::{Policies, PolicyStoreError};
pub use sandbox::{SandboxClock, SandboxError};
pub use scheduler::{DueAggregate, DueIndex, Scheduler, SchedulerError, SchedulerRun};
