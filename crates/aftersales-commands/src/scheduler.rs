//! Issues the time-driven commands: it asks an index of due times which
//! aggregates have something due now, asks the domain what exactly, and
//! sends those commands through the ordinary handlers as the `system` actor.
//!
//! The scheduler holds nothing per aggregate: the index (the `schedule`
//! read model in the service) follows the log and keeps each aggregate's
//! next due time in the database, so memory does not grow with the number
//! of open cases. An index a little behind the log is harmless: deciding a
//! command again refuses what was already done.

use std::sync::Arc;

use aftersales_domain::case::Case;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::{Actor, DomainError, Scheduled};
use aftersales_store::EventStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::clock::Clock;
use crate::handler::{Envelope, Handler, HandlerError};

/// Aggregates asked for per page of due work.
const PAGE: usize = 500;

/// An aggregate with a command due: when, and which.
pub type DueAggregate = (DateTime<Utc>, Uuid);

/// Where the scheduler finds what falls due.
#[async_trait]
pub trait DueIndex: Send + Sync {
    /// A page of the aggregates of `category` with a command due at `now`,
    /// earliest first, after `after` (the last of the previous page).
    async fn due(
        &self,
        category: &'static str,
        now: DateTime<Utc>,
        after: Option<DueAggregate>,
        limit: usize,
    ) -> Result<Vec<DueAggregate>, Box<dyn std::error::Error + Send + Sync>>;
}

/// Why a pass stopped: what falls due could not be read. An aggregate
/// that fails is counted in [`SchedulerRun::failed`] instead.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("reading what falls due: {0}")]
    Index(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerRun {
    /// Commands that appended events.
    pub issued: usize,
    /// Commands the domain turned down because someone else was first.
    pub skipped: usize,
    /// Aggregates that could not be loaded or whose command failed (logged
    /// each time): the pass went on with the others.
    pub failed: usize,
}

impl SchedulerRun {
    fn add(&mut self, other: Self) {
        self.issued += other.issued;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }
}

/// The scheduler of every time-driven rule.
pub struct Scheduler {
    index: Arc<dyn DueIndex>,
    clock: Arc<dyn Clock>,
    cases: Arc<Handler<Case>>,
    unpaid: Handler<UnpaidOrder>,
    grants: Handler<AccessGrant>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn EventStore>,
        index: Arc<dyn DueIndex>,
        cases: Arc<Handler<Case>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let policy = cases.policies().clone();
        Self {
            index,
            unpaid: Handler::new(store.clone(), policy.clone(), clock.clone()),
            grants: Handler::new(store, policy, clock.clone()),
            cases,
            clock,
        }
    }

    /// Issues every command due now.
    pub async fn run_once(&self) -> Result<SchedulerRun, SchedulerError> {
        let now = self.clock.now();
        let mut run = self.issue(&self.cases, now).await?;
        run.add(self.issue(&self.unpaid, now).await?);
        run.add(self.issue(&self.grants, now).await?);
        Ok(run)
    }

    async fn issue<A: Scheduled>(
        &self,
        handler: &Handler<A>,
        now: DateTime<Utc>,
    ) -> Result<SchedulerRun, SchedulerError> {
        let mut run = SchedulerRun::default();
        let mut after = None;
        loop {
            let page = self
                .index
                .due(A::CATEGORY, now, after, PAGE)
                .await
                .map_err(SchedulerError::Index)?;
            for &(_, id) in &page {
                // One aggregate that cannot be read (an event in its stream
                // that does not decode) must not hold up the others.
                let state = match handler.load(id).await {
                    Ok((_, state)) => state,
                    Err(error) => {
                        tracing::warn!(category = A::CATEGORY, %id, %error, "due aggregate cannot be loaded");
                        run.failed += 1;
                        continue;
                    }
                };
                for command in state.due_commands(now) {
                    let envelope = Envelope::new(id, command, Actor::system());
                    match handler.execute(&envelope).await {
                        Ok(outcome) if !outcome.events.is_empty() => run.issued += 1,
                        Ok(_) => {}
                        // Someone (a person, another scheduler) got there first.
                        Err(HandlerError::Rejected(
                            DomainError::NotDueYet { .. }
                            | DomainError::AlreadyDone { .. }
                            | DomainError::RefundNotPending
                            | DomainError::SlaPaused
                            | DomainError::ParcelSettled
                            | DomainError::CaseClosed
                            | DomainError::OrderSettled
                            | DomainError::GrantNotActive,
                        )) => run.skipped += 1,
                        Err(error) => {
                            tracing::warn!(category = A::CATEGORY, %id, %error, "due command failed");
                            run.failed += 1;
                        }
                    }
                }
            }
            if page.len() < PAGE {
                return Ok(run);
            }
            after = page.last().copied();
        }
    }
}
