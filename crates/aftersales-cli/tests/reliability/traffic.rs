//! A client that keeps sending commands, as an integration would, and keeps
//! the books a reliability test checks the service against: which commands
//! were acknowledged, which were not (and must be retried with the same
//! Idempotency-Key), and what each acknowledgement promised.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aftersales_domain::case::LogCall;
use aftersales_domain::model::{
    CallDirection, CallOutcome, Category, FollowUpStatus, PlatformState, Priority, WarrantyStatus,
};
use aftersales_store::{AllQuery, EventStore, MAX_READ_LIMIT};
use aftersales_tests::desk::registration;
use serde_json::Value;
use uuid::Uuid;

use crate::service::{Service, CANARY_NAME, CANARY_PHONE};

/// One command as sent: retried unchanged until it is answered.
#[derive(Debug, Clone)]
pub struct Sent {
    pub key: String,
    pub path: String,
    pub body: Value,
    /// The call a `log-call` logs; every one must be in the log once.
    pub call_id: Option<Uuid>,
}

/// What a 2xx answer promised.
#[derive(Debug, Clone)]
pub struct Ack {
    pub sent: Sent,
    pub stream: String,
    pub revision: u64,
    pub position: u64,
    pub last_type: String,
}

#[derive(Debug, Default)]
pub struct Books {
    pub acked: Vec<Ack>,
    /// Sent but not answered 2xx: connection lost, 5xx.
    pub unanswered: Vec<Sent>,
    /// Answers a healthy service must never give to these commands.
    pub unexpected: Vec<String>,
    /// Status counts of the failures, for the report.
    pub failures: BTreeMap<u16, u64>,
    /// Longest any failed request took to fail.
    pub slowest_failure: Duration,
}

#[derive(Debug)]
pub struct Traffic {
    base: String,
    token: String,
    client: reqwest::Client,
    pub books: Mutex<Books>,
    stop: AtomicBool,
    sent: AtomicU64,
}

/// The outcome of one attempt.
enum Outcome {
    Acked(Ack),
    /// Not done, may be retried: no answer, 5xx, 409 in flight.
    Retry(u16),
    Refused(u16, String),
}

impl Traffic {
    pub fn new(service: &Service) -> Arc<Self> {
        Arc::new(Self {
            base: service.url(""),
            token: service.token.clone(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
            books: Mutex::default(),
            stop: AtomicBool::new(false),
            sent: AtomicU64::new(0),
        })
    }

    /// Starts `workers` clients, each registering cases and logging calls
    /// on them until [`Traffic::stop`].
    /// Starts `workers` senders, again after a [`Traffic::stop`] too.
    pub fn start(self: &Arc<Self>, workers: usize) -> Vec<tokio::task::JoinHandle<()>> {
        self.stop.store(false, Ordering::SeqCst);
        (0..workers)
            .map(|worker| {
                let traffic = self.clone();
                tokio::spawn(async move { traffic.work(worker).await })
            })
            .collect()
    }

    pub async fn stop(&self, workers: Vec<tokio::task::JoinHandle<()>>) {
        self.stop.store(true, Ordering::SeqCst);
        for worker in workers {
            worker.await.expect("a traffic worker panicked");
        }
    }

    pub fn acked_count(&self) -> usize {
        self.books.lock().unwrap().acked.len()
    }

    pub fn sent_count(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    async fn work(&self, worker: usize) {
        let run = Uuid::new_v4().simple().to_string();
        let mut n = 0u64;
        while !self.stop.load(Ordering::SeqCst) {
            n += 1;
            let register = register_case(&format!("{run}-{worker}-{n}"));
            let case = match self.record(&register).await {
                Some(ack) => ack.stream.trim_start_matches("case-").to_owned(),
                None => continue,
            };
            for call in 0..2 {
                if self.stop.load(Ordering::SeqCst) {
                    break;
                }
                let sent = log_call(&case, &format!("{run}-{worker}-{n}-call{call}"));
                self.record(&sent).await;
            }
        }
    }

    /// Sends once and books the outcome.
    async fn record(&self, sent: &Sent) -> Option<Ack> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let outcome = self.send(sent).await;
        let backoff = {
            let mut books = self.books.lock().unwrap();
            match outcome {
                Outcome::Acked(ack) => {
                    books.acked.push(ack.clone());
                    return Some(ack);
                }
                Outcome::Retry(status) => {
                    *books.failures.entry(status).or_default() += 1;
                    books.slowest_failure = books.slowest_failure.max(started.elapsed());
                    books.unanswered.push(sent.clone());
                    true
                }
                Outcome::Refused(status, body) => {
                    books
                        .unexpected
                        .push(format!("{} answered {status}: {body}", sent.path));
                    false
                }
            }
        };
        if backoff {
            // Whatever the fault, a client backs off a little.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    async fn send(&self, sent: &Sent) -> Outcome {
        let response = self
            .client
            .post(format!("{}{}", self.base, sent.path))
            .bearer_auth(&self.token)
            .header("idempotency-key", &sent.key)
            .json(&sent.body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(_) => return Outcome::Retry(0),
        };
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        match status {
            200..=299 => {
                let Ok(answer) = serde_json::from_str::<Value>(&body) else {
                    return Outcome::Retry(status);
                };
                Outcome::Acked(Ack {
                    sent: sent.clone(),
                    stream: answer["stream"].as_str().unwrap_or_default().to_owned(),
                    revision: answer["revision"].as_u64().unwrap_or(u64::MAX),
                    position: answer["position"].as_u64().unwrap_or(u64::MAX),
                    last_type: answer["events"]
                        .as_array()
                        .and_then(|events| events.last())
                        .and_then(|event| event["type"].as_str())
                        .unwrap_or_default()
                        .to_owned(),
                })
            }
            409 | 500..=599 => Outcome::Retry(status),
            _ => Outcome::Refused(status, body),
        }
    }

    /// Sends every unanswered command again, with its key, until each is
    /// answered: the service must have done it exactly once by then.
    pub async fn retry_unanswered(&self, limit: Duration) {
        let pending = std::mem::take(&mut self.books.lock().unwrap().unanswered);
        let started = Instant::now();
        for sent in pending {
            loop {
                match self.send(&sent).await {
                    Outcome::Acked(ack) => {
                        self.books.lock().unwrap().acked.push(ack);
                        break;
                    }
                    Outcome::Refused(status, body) => {
                        // A follow-up whose case never got registered.
                        if status == 404 && sent.call_id.is_some() {
                            break;
                        }
                        panic!("a retry of {} was answered {status}: {body}", sent.path);
                    }
                    Outcome::Retry(_) if started.elapsed() < limit => {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    Outcome::Retry(status) => {
                        panic!("a retry of {} still fails with {status}", sent.path)
                    }
                }
            }
        }
    }

    /// Checks the log against the books: every acknowledgement's events are
    /// where it said, once; every case was registered once; every call
    /// logged once. Returns the number of events checked.
    pub async fn verify(&self, store: &dyn EventStore) -> usize {
        let events = read_everything(store).await;
        let books = self.books.lock().unwrap();
        assert!(
            books.unexpected.is_empty(),
            "unexpected answers: {:?}",
            &books.unexpected[..books.unexpected.len().min(5)]
        );
        let mut registrations: HashMap<&str, usize> = HashMap::new();
        let mut calls: HashMap<String, usize> = HashMap::new();
        for event in &events {
            match event.event_type.as_str() {
                "CaseRegistered" => *registrations.entry(&event.stream).or_default() += 1,
                "CallLogged" => {
                    let data: Value = serde_json::from_str(event.data.get()).unwrap();
                    let call = data["call_id"].as_str().unwrap_or_default().to_owned();
                    *calls.entry(call).or_default() += 1;
                }
                _ => {}
            }
        }
        let at: HashMap<(&str, u64), &aftersales_store::RecordedEvent> = events
            .iter()
            .map(|e| ((e.stream.as_str(), e.revision), e))
            .collect();
        for ack in &books.acked {
            let event = at
                .get(&(ack.stream.as_str(), ack.revision))
                .unwrap_or_else(|| panic!("acknowledged {ack:?} is not in the log"));
            assert_eq!(event.position, ack.position, "{ack:?}");
            assert_eq!(event.event_type, ack.last_type, "{ack:?}");
            if let Some(call) = ack.sent.call_id {
                assert_eq!(calls.get(&call.to_string()), Some(&1), "call {call}");
            }
        }
        for (stream, count) in &registrations {
            assert_eq!(*count, 1, "{stream} was registered {count} times");
        }
        for (call, count) in &calls {
            assert_eq!(*count, 1, "call {call} was logged {count} times");
        }
        let acked_calls = books
            .acked
            .iter()
            .filter(|a| a.sent.call_id.is_some())
            .count();
        assert_eq!(
            calls.len(),
            acked_calls,
            "calls logged but never acknowledged"
        );
        events.len()
    }
}

async fn read_everything(store: &dyn EventStore) -> Vec<aftersales_store::RecordedEvent> {
    let mut events = Vec::new();
    let mut query = AllQuery::forwards(1, MAX_READ_LIMIT);
    loop {
        let page = store.read_all(&query).await.expect("read $all");
        events.extend(page.events);
        if page.is_end {
            return events;
        }
        query.from = aftersales_store::AllFrom::Position(page.scanned_to + 1);
    }
}

/// A registration (售后服务登记表) whose customer is the canary.
pub fn register_case(key: &str) -> Sent {
    let mut command = registration(
        Priority::P2,
        Category::Logistics,
        PlatformState::SellerShipped,
    );
    command.customer.name = CANARY_NAME.to_owned();
    command.customer.phone = CANARY_PHONE.to_owned();
    Sent {
        key: format!("reg-{key}"),
        path: "/v1/cases".to_owned(),
        body: serde_json::to_value(&command).unwrap(),
        call_id: None,
    }
}

/// An outbound call to the canary (来电/去电登记).
pub fn log_call(case: &str, key: &str) -> Sent {
    let call_id = Uuid::new_v4();
    let command = LogCall {
        call_id,
        direction: CallDirection::Outbound,
        with_customer: true,
        party_name: Some(CANARY_NAME.to_owned()),
        number: CANARY_PHONE.to_owned(),
        called_at: chrono::Utc::now(),
        content: format!("与{CANARY_NAME}核实物流情况"),
        product: None,
        fault: None,
        warranty: WarrantyStatus::InWarranty,
        outcome: CallOutcome::Connected,
        follow_up: FollowUpStatus::Notified,
    };
    Sent {
        key: format!("call-{key}"),
        path: format!("/v1/cases/{case}/log-call"),
        body: serde_json::to_value(&command).unwrap(),
        call_id: Some(call_id),
    }
}
