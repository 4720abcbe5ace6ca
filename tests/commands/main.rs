//! Command handlers and the scheduler against the real stores, and the SOPs
//! of docs/domain.md run end to end through them.

mod handler;
mod scheduler;

pub use aftersales_tests::desk::*;
pub use aftersales_tests::scenarios::ledger_balances;

async fn desk(db: &aftersales_tests::TestDb) -> Desk {
    Desk::new(db.open().await)
}

aftersales_tests::sop_scenarios!(crate::desk);
