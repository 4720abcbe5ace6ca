//! Issues the time-driven commands: it follows the log to know every case
//! that may fall due, asks the domain what is due now, and sends those
//! commands through the ordinary handler as the `system` actor.

use std::collections::HashMap;
use std::sync::Arc;

use aftersales_domain::case::{Case, CaseEvent};
use aftersales_domain::{Actor, Aggregate, DomainError, DomainEvent};
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

#[derive(Debug)]
pub struct Scheduler {
    store: Arc<dyn EventStore>,
    cases: Arc<Handler<Case>>,
    clock: Arc<dyn Clock>,
    checkpoint: Position,
    states: HashMap<Uuid, Case>,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn EventStore>,
        cases: Arc<Handler<Case>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            cases,
            clock,
            checkpoint: 0,
            states: HashMap::new(),
        }
    }

    /// Catches up with the log, then issues every command due now.
    pub async fn run_once(&mut self) -> Result<SchedulerRun, HandlerError> {
        self.catch_up().await?;
        let now = self.clock.now();
        let mut run = SchedulerRun::default();
        let due: Vec<(Uuid, _)> = self
            .states
            .iter()
            .flat_map(|(id, case)| {
                case.due_commands(now, self.cases.policy())
                    .into_iter()
                    .map(move |c| (*id, c))
            })
            .collect();
        for (id, command) in due {
            let envelope = Envelope::new(id, command, Actor::system());
            match self.cases.execute(&envelope).await {
                Ok(outcome) if !outcome.events.is_empty() => run.issued += 1,
                Ok(_) => {}
                Err(HandlerError::Rejected(
                    DomainError::NotDueYet { .. }
                    | DomainError::AlreadyDone { .. }
                    | DomainError::RefundNotPending
                    | DomainError::SlaPaused
                    | DomainError::ParcelSettled
                    | DomainError::CaseClosed,
                )) => run.skipped += 1,
                Err(error) => return Err(error),
            }
        }
        self.catch_up().await?;
        Ok(run)
    }

    async fn catch_up(&mut self) -> Result<(), HandlerError> {
        loop {
            let query = AllQuery::forwards(self.checkpoint + 1, PAGE)
                .with_filter(AllFilter::category(Case::CATEGORY));
            let page = self.store.read_all(&query).await?;
            for recorded in &page.events {
                let Some(id) = recorded
                    .stream
                    .strip_prefix("case-")
                    .and_then(|id| Uuid::parse_str(id).ok())
                else {
                    continue;
                };
                let event = CaseEvent::decode(&recorded.event_type, recorded.data.get()).map_err(
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
        self.states.retain(|_, case| case.may_fall_due());
        Ok(())
    }
}
