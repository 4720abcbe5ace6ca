//! The case (售后工单): most of what the team does happens on its stream,
//! `case-<id>`, because most rules are checked against one case's history.

mod commands;
mod decide;
mod due;
mod events;
mod state;

pub use commands::*;
pub use events::*;
pub use state::{Case, Status};

use crate::aggregate::{Aggregate, Context};
use crate::error::DomainError;

impl Aggregate for Case {
    const CATEGORY: &'static str = "case";
    type Command = CaseCommand;
    type Event = CaseEvent;

    fn decide(
        &self,
        command: &CaseCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<CaseEvent>, DomainError> {
        self.decide_command(command, ctx)
    }

    fn evolve(&mut self, event: &CaseEvent) {
        self.apply(event);
    }
}

#[cfg(test)]
mod tests;
