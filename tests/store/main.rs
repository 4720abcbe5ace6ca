//! The event-store contract, run case by case on SQLite and on PostgreSQL.

mod append;
mod failures;
mod ordering;
mod read;
mod subscribe;

use aftersales_store::{NewEvent, StreamName};
use serde_json::json;

pub fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("a valid stream name")
}

/// `n` small events numbered from `first`.
pub fn events(first: u64, n: u64) -> Vec<NewEvent> {
    (first..first + n)
        .map(|i| NewEvent::new("CallLogged", json!({ "n": i, "note": "客户来电" })))
        .collect()
}
