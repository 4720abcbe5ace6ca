//! Crash tests: a child process appends in a loop and reports every append
//! acknowledged to it; it (or the database server) is killed at random
//! moments. Every acknowledged event must still be there, exactly once.
//!
//! `CRASH_SQLITE_CYCLES` and `CRASH_PG_CYCLES` set the number of kills
//! (default: a short run for CI; `make crash-long` runs many).

mod postgres;
mod sqlite;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aftersales_store::{AllQuery, EventStore};
use rand::Rng;

pub fn cycles(variable: &str, default: usize) -> usize {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The appending child, with the acknowledged event ids it printed so far.
pub struct Appender {
    child: Child,
    acked: Arc<Mutex<Vec<uuid::Uuid>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Appender {
    pub fn start(url: &str, run: usize) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_append-loop"))
            .args([url, &run.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start append-loop");
        let stdout = child.stdout.take().expect("piped stdout");
        let acked = Arc::new(Mutex::new(Vec::new()));
        let sink = acked.clone();
        let reader = std::thread::spawn(move || {
            // A line is written only after its append was acknowledged; a
            // line cut short by the kill does not parse and is not counted.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                for id in line.split_whitespace().skip(1) {
                    if let Ok(id) = id.parse() {
                        sink.lock().unwrap().push(id);
                    }
                }
            }
        });
        Self {
            child,
            acked,
            reader,
        }
    }

    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until the child has had some appends acknowledged.
    pub fn wait_for_acks(&self, at_least: usize) {
        for _ in 0..600 {
            if self.acked_count() >= at_least {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the appender made no progress");
    }

    pub fn sigkill(mut self) -> Vec<uuid::Uuid> {
        self.child.kill().expect("SIGKILL the appender");
        self.child.wait().ok();
        self.finish()
    }

    pub fn finish(mut self) -> Vec<uuid::Uuid> {
        self.child.wait().ok();
        self.reader.join().ok();
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

pub fn random_pause(min_ms: u64, max_ms: u64) {
    let ms = rand::thread_rng().gen_range(min_ms..max_ms);
    std::thread::sleep(Duration::from_millis(ms));
}

/// Checks the whole log: gapless positions, gapless revisions per stream,
/// no id twice, and every acknowledged id present.
pub async fn assert_log_holds(store: &dyn EventStore, acked: &[uuid::Uuid]) -> usize {
    let mut ids = HashSet::new();
    let mut revisions: BTreeMap<String, u64> = BTreeMap::new();
    let mut expected_position = 1;
    loop {
        let page = store
            .read_all(&AllQuery::forwards(expected_position, 5_000))
            .await
            .expect("read $all");
        for event in &page.events {
            assert_eq!(
                event.position, expected_position,
                "a gap in the global order"
            );
            expected_position += 1;
            assert!(ids.insert(event.id), "event {} is stored twice", event.id);
            let next = revisions.entry(event.stream.clone()).or_insert(0);
            assert_eq!(event.revision, *next, "a gap in stream {}", event.stream);
            *next += 1;
        }
        if page.is_end {
            break;
        }
    }
    let lost: Vec<_> = acked.iter().filter(|id| !ids.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events were lost: {lost:?}",
        lost.len()
    );
    ids.len()
}
