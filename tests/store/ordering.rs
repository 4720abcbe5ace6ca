//! The global order under concurrency: a reader that pages `$all` by
//! "position greater than my checkpoint" while many writers commit must see
//! every event exactly once. On PostgreSQL, transactions commit in any order;
//! the store must keep positions from becoming visible out of order.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aftersales_store::{AllQuery, ExpectedRevision, StoreOptions};
use aftersales_tests::{on_both_backends, TestDb};

use crate::{events, stream};

on_both_backends!(a_paging_reader_never_skips_an_event_committed_by_concurrent_writers);

async fn a_paging_reader_never_skips_an_event_committed_by_concurrent_writers(db: TestDb) {
    // Several store instances stand for several service processes; each has
    // its own connections and its own writer.
    let mut writers = Vec::new();
    for _ in 0..4 {
        writers.push(
            db.open_with(StoreOptions {
                max_appends_per_commit: 4,
                ..Default::default()
            })
            .await,
        );
    }
    let reader_store = db.open().await;
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut checkpoint = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = reader_store
                    .read_all(&AllQuery::forwards(checkpoint + 1, 37))
                    .await
                    .unwrap();
                seen.extend(page.events.iter().map(|e| e.position));
                checkpoint = page.scanned_to;
                if finished && page.is_end {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let tasks_per_store = 8;
    let appends_per_task = 25u64;
    let mut tasks = Vec::new();
    for (s, store) in writers.iter().enumerate() {
        for t in 0..tasks_per_store {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let name = stream(&format!("case-{s}x{t}"));
                for i in 0..appends_per_task {
                    // Batches of 1 to 3 events, so positions advance unevenly.
                    let batch = events(i * 10, 1 + i % 3);
                    // Four writers on one SQLite file wait for each other's
                    // lock; on a loaded machine a wait can outlast the busy
                    // timeout. The same events again are safe to send.
                    loop {
                        match store
                            .append(&name, ExpectedRevision::Any, batch.clone())
                            .await
                        {
                            Ok(_) => break,
                            Err(error) if error.is_transient() => {
                                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            }
                            Err(error) => panic!("{error}"),
                        }
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();

    let head = writers[0].head().await.unwrap();
    let expected_total: u64 = (0..appends_per_task).map(|i| 1 + i % 3).sum::<u64>()
        * (writers.len() * tasks_per_store) as u64;
    assert_eq!(head, expected_total);
    let distinct: BTreeSet<_> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), seen.len(), "the reader saw an event twice");
    let missing: Vec<_> = (1..=head).filter(|p| !distinct.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "the reader skipped positions {missing:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "the reader saw positions out of order"
    );
}
