//! Issues the time-driven commands: it follows the log to know every
//! aggregate that may fall due, asks the domain what is due now, and sends
//! those commands through the ordinary handlers as the `system` actor.

use std::collections::HashMap;
use std::sync::Arc;

use aftersales_domain::case::Case;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::{Actor, DomainError, DomainEvent, Scheduled};
use aftersales_store::{AllFilter, AllQuery, EventStore, Position};
use uuid::Uuid;

use crate::clock::Clock;
use crate::handler::{Envelope, Handler, HandlerError};

const PAGE: usize = 1_000;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerRun {
    /// Commands that appended events.
    pub issued: usize,
    /// Commands the domain turned down because someone else was first.
    pub skipped: usize,
}

impl SchedulerRun {
    fn add(&mut self, other: Self) {
        self.issued += other.issued;
        self.skipped += other.skipped;
    }
}

/// The scheduler of every time-driven rule.
#[derive(Debug)]
pub struct Scheduler {
    cases: Follower<Case>,
    unpaid: Follower<UnpaidOrder>,
    grants: Follower<AccessGrant>,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn EventStore>,
        cases: Arc<Handler<Case>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let policy = Arc::new(cases.policy().clone());
        let unpaid = Arc::new(Handler::new(store.clone(), policy.clone(), clock.clone()));
        let grants = Arc::new(Handler::new(store.clone(), policy, clock.clone()));
        Self {
            cases: Follower::new(store.clone(), cases, clock.clone()),
            unpaid: Follower::new(store.clone(), unpaid, clock.clone()),
            grants: Follower::new(store, grants, clock),
        }
    }

    /// Catches up with the log, then issues every command due now.
    pub async fn run_once(&mut self) -> Result<SchedulerRun, HandlerError> {
        let mut run = self.cases.run_once().await?;
        run.add(self.unpaid.run_once().await?);
        run.add(self.grants.run_once().await?);
        Ok(run)
    }
}

/// Follows one aggregate type's category and issues its due commands.
#[derive(Debug)]
struct Follower<A: Scheduled> {
    store: Arc<dyn EventStore>,
    handler: Arc<Handler<A>>,
    clock: Arc<dyn Clock>,
    checkpoint: Position,
    states: HashMap<Uuid, A>,
}

impl<A: Scheduled> Follower<A> {
    fn new(store: Arc<dyn EventStore>, handler: Arc<Handler<A>>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            handler,
            clock,
            checkpoint: 0,
            states: HashMap::new(),
        }
    }

    async fn run_once(&mut self) -> Result<SchedulerRun, HandlerError> {
        self.catch_up().await?;
        let now = self.clock.now();
        let policy = self.handler.policy();
        let due: Vec<(Uuid, A::Command)> = self
            .states
            .iter()
            .flat_map(|(id, state)| {
                state
                    .due_commands(now, policy)
                    .into_iter()
                    .map(move |c| (*id, c))
            })
            .collect();
        let mut run = SchedulerRun::default();
        for (id, command) in due {
            match self
                .handler
                .execute(&Envelope::new(id, command, Actor::system()))
                .await
            {
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
                Err(error) => return Err(error),
            }
        }
        self.catch_up().await?;
        Ok(run)
    }

    async fn catch_up(&mut self) -> Result<(), HandlerError> {
        let prefix = format!("{}-", A::CATEGORY);
        loop {
            let query = AllQuery::forwards(self.checkpoint + 1, PAGE)
                .with_filter(AllFilter::category(A::CATEGORY));
            let page = self.store.read_all(&query).await?;
            for recorded in &page.events {
                let Some(id) = recorded
                    .stream
                    .strip_prefix(&prefix)
                    .and_then(|id| Uuid::parse_str(id).ok())
                else {
                    continue;
                };
                let event = A::Event::decode(&recorded.event_type, recorded.data.get()).map_err(
                    |source| HandlerError::Undecodable {
                        position: recorded.position,
                        source,
                    },
                )?;
                self.states.entry(id).or_default().evolve(&event);
            }
            self.checkpoint = page.scanned_to;
            if page.is_end {
                break;
            }
        }
        self.states.retain(|_, state| state.may_fall_due());
        Ok(())
    }
}
