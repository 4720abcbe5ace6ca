//! A sandbox store's clock from the command line, and a store with a
//! history that refuses to become one.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use aftersales_tests::{on_both_backends, TestDb};
use common::{aftersales, ok, stderr};

on_both_backends!(
    a_new_sandbox_has_a_clock_that_is_set_and_advanced,
    a_store_with_a_history_is_never_a_sandbox,
);

async fn a_new_sandbox_has_a_clock_that_is_set_and_advanced(db: TestDb) {
    let made = ok(aftersales(&db, &["migrate", "--sandbox"]));
    assert!(made.contains("is a sandbox"), "{made}");
    let shown = ok(aftersales(&db, &["clock", "show"]));
    assert!(shown.contains("not set yet"), "{shown}");
    let set = ok(aftersales(&db, &["clock", "set", "2030-01-07T12:30:00Z"]));
    assert!(set.contains("reads 2030-01-07 12:30:00 UTC"), "{set}");
    let advanced = ok(aftersales(&db, &["clock", "advance", "14h"]));
    assert!(advanced.contains("reads 2030-01-08 02:30:00"), "{advanced}");
    let back = aftersales(&db, &["clock", "set", "2030-01-07T00:00:00Z"]);
    assert!(!back.status.success());
    assert!(
        stderr(&back).contains("only moves forward"),
        "{}",
        stderr(&back)
    );
    let shown = ok(aftersales(&db, &["clock", "show"]));
    assert!(
        shown.contains("2030-01-08 02:30") && shown.contains("set by hand"),
        "{shown}"
    );
}

async fn a_store_with_a_history_is_never_a_sandbox(db: TestDb) {
    ok(aftersales(
        &db,
        &[
            "events",
            "append",
            "note-1",
            "--type",
            "NoteTaken",
            "--data",
            "{}",
        ],
    ));
    let refused = aftersales(&db, &["migrate", "--sandbox"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("only a new, empty store"),
        "{}",
        stderr(&refused)
    );
    let refused = aftersales(&db, &["clock", "advance", "1h"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not a sandbox"),
        "{}",
        stderr(&refused)
    );
    let shown = ok(aftersales(&db, &["clock", "show"]));
    assert!(shown.contains("the real clock"), "{shown}");
}
