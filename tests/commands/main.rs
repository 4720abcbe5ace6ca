//! Command handlers and the scheduler against the real stores, and the SOPs
//! of DOMAIN.md run end to end through them.

mod handler;
mod scenarios;
mod scheduler;

pub use aftersales_tests::desk::*;

/// The money ledger built from the scenario's events balances and agrees
/// with the case views.
pub async fn ledger_balances(db: &aftersales_tests::TestDb) {
    let store = db.open().await;
    let read = aftersales_projections::ReadDb::connect(&db.url, false)
        .await
        .unwrap();
    let failed = aftersales_projections::admin::catch_up(store, &read)
        .await
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let check = aftersales_projections::ledger::check(&read).await.unwrap();
    assert!(check.is_ok(), "{check:?}");
}
