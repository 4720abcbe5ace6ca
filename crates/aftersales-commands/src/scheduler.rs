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

use aftersales_domain::case::{Case, ScheduleRevisit};
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::model::RevisitKind;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::repair::{ArrangeRevisit, RepairOrder};
use aftersales_domain::{Actor, Aggregate, DomainError, Scheduled};
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
    repairs: Handler<RepairOrder>,
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
            grants: Handler::new(store.clone(), policy.clone(), clock.clone()),
            repairs: Handler::new(store, policy, clock.clone()),
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
        run.add(self.arrange_revisits(now).await?);
        Ok(run)
    }

    /// After-repair revisits: each goes on the repair's case first, and only
    /// then does the repair record it, so that a crash between the two
    /// repeats the first (which the case turns down as already done) and
    /// loses nothing.
    async fn arrange_revisits(&self, now: DateTime<Utc>) -> Result<SchedulerRun, SchedulerError> {
        let mut run = SchedulerRun::default();
        let mut after = None;
        loop {
            let page = self
                .index
                .due(RepairOrder::CATEGORY, now, after, PAGE)
                .await
                .map_err(SchedulerError::Index)?;
            for &(_, repair_id) in &page {
                let arranged = match self.repairs.load(repair_id).await {
                    Ok((_, state)) => state.revisit_to_arrange(repair_id),
                    Err(error) => {
                        tracing::warn!(%repair_id, %error, "due repair cannot be loaded");
                        run.failed += 1;
                        continue;
                    }
                };
                let Some((case_id, revisit_id, due_at)) = arranged else {
                    continue;
                };
                // A pass that comes late (the service was down past the
                // revisit's day) still puts the revisit on the case, due at
                // once: the case refuses a due time in the past, and the
                // repair would otherwise be retried and refused every pass.
                let schedule = ScheduleRevisit {
                    revisit_id,
                    kind: RevisitKind::AfterRepair,
                    due_at: due_at.max(now),
                };
                if let Err(error) = self.schedule_revisit(case_id, schedule).await {
                    tracing::warn!(%repair_id, %case_id, %error, "the after-repair revisit cannot go on its case");
                    run.failed += 1;
                    continue;
                }
                let envelope = Envelope::new(repair_id, ArrangeRevisit {}.into(), Actor::system());
                match self.repairs.execute(&envelope).await {
                    Ok(outcome) if !outcome.events.is_empty() => run.issued += 1,
                    Ok(_) | Err(HandlerError::Rejected(DomainError::AlreadyDone { .. })) => {
                        run.skipped += 1;
                    }
                    Err(error) => {
                        tracing::warn!(%repair_id, %error, "arranging the revisit failed");
                        run.failed += 1;
                    }
                }
            }
            if page.len() < PAGE {
                return Ok(run);
            }
            after = page.last().copied();
        }
    }

    /// Puts a revisit on a case, or on the case it was merged into; one
    /// already there is done.
    async fn schedule_revisit(
        &self,
        case_id: Uuid,
        schedule: ScheduleRevisit,
    ) -> Result<(), HandlerError> {
        let mut target = case_id;
        for _ in 0..2 {
            let envelope = Envelope::new(target, schedule.clone().into(), Actor::system());
            match self.cases.execute(&envelope).await {
                Ok(_) | Err(HandlerError::Rejected(DomainError::AlreadyDone { .. })) => {
                    return Ok(())
                }
                Err(HandlerError::Rejected(DomainError::CaseMerged { survivor })) => {
                    target = survivor;
                }
                Err(error) => return Err(error),
            }
        }
        Err(HandlerError::Rejected(DomainError::CaseMerged {
            survivor: target,
        }))
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
