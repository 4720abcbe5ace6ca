//! Appends to the store at URL in a loop from four concurrent writers and
//! prints `ack <id>…` for every append acknowledged, until it is killed.
//! Interrupted appends are retried with the same event ids. Used by the
//! crash tests.
//!
//! usage: append-loop URL RUN

use std::io::Write;
use std::time::Duration;

use aftersales_store::{open, ExpectedRevision, NewEvent, StoreOptions, StreamName};
use serde_json::json;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: append-loop URL RUN"))?;
    let run: u64 = args.next().unwrap_or_default().parse().unwrap_or(0);
    let options = StoreOptions {
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let store = loop {
        match open(&url, options.clone()).await {
            Ok(store) => break store,
            Err(error) => {
                eprintln!("append-loop: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let stream = StreamName::new(format!("crash-r{run}w{w}")).expect("valid name");
            let mut expected = ExpectedRevision::NoStream;
            for i in 0u64.. {
                let events: Vec<NewEvent> = (0..1 + i % 4)
                    .map(|k| NewEvent::new("Appended", json!({ "writer": w, "append": i, "k": k })))
                    .collect();
                let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
                let result = loop {
                    match store.append(&stream, expected, events.clone()).await {
                        Ok(result) => break result,
                        Err(error) => {
                            eprintln!("append-loop: {error}; retrying");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                };
                expected = ExpectedRevision::Exact(result.next_expected_revision);
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "ack {}", ids.join(" "));
                let _ = out.flush();
            }
        }));
    }
    for writer in writers {
        writer.await?;
    }
    Ok(())
}
