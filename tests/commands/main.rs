//! Command handlers and the scheduler against the real stores, and the SOPs
//! of DOMAIN.md run end to end through them.

mod handler;
mod scenarios;
mod scheduler;

pub use aftersales_tests::desk::*;
