//! The read models against the real stores: incremental runs equal a
//! rebuild, the ledger balances, report figures of a fixed scenario are
//! exact, reports "as of" a position equal what was live then, and a
//! rebuild leaves the live tables serving until it swaps.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod cards;
mod figures;
mod parked;
mod policy;
mod random;
mod schedule;

use std::sync::Arc;

use aftersales_projections::admin;
use aftersales_projections::ledger;
use aftersales_projections::ReadDb;
use aftersales_store::{EventStore, StoreOptions};
use aftersales_tests::TestDb;

pub async fn open(db: &TestDb) -> (Arc<dyn EventStore>, ReadDb) {
    // Small batches, so that every test crosses batch boundaries.
    std::env::set_var("AFTERSALES_PROJECTION_BATCH", "16");
    let store = db.open().await;
    let read = ReadDb::open(&db.url, None, StoreOptions::default().unsafe_fast)
        .await
        .unwrap();
    (store, read)
}

/// Catches up, then proves the read models equal a rebuild and the ledger checks out.
pub async fn assert_consistent(store: &Arc<dyn EventStore>, read: &ReadDb) {
    let failed = admin::catch_up(store.clone(), read).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let differences = admin::verify(store.clone(), read, &[], |_| {})
        .await
        .unwrap();
    assert!(
        differences.is_empty(),
        "read models differ from a rebuild: {differences:?}"
    );
    let check = ledger::check(read).await.unwrap();
    assert!(check.is_ok(), "{check:?}");
}
