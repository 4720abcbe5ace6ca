//! What every request handler can reach.

use std::sync::Arc;
use std::time::Duration;

use aftersales_commands::{Clock, Handler, Policies};
use aftersales_domain::audit::SamplingAudit;
use aftersales_domain::case::Case;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::repair::RepairOrder;
use aftersales_projections::ReadDb;
use aftersales_store::{EventStore, Position};
use aftersales_webhooks::Subscriptions;

use crate::access::AccessDb;
use crate::auth::RateLimiter;
use crate::budget::{Budgets, Gauges};
use crate::metrics::{MeteredStore, Metrics};
use crate::visibility::Reached;

/// Bounds on what one request or one key may ask.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted.
    pub body_bytes: usize,
    /// Requests per second each key may send on average …
    pub requests_per_second: f64,
    /// … and in a burst.
    pub burst: f64,
    /// Longest a request may take before it is answered 503.
    pub timeout: Duration,
    /// Longest page of a list.
    pub max_page: usize,
    /// How far the read models may lag behind the log for `/readyz`.
    pub max_projection_lag: u64,
    /// Failed authentications one client address may make a second on
    /// average (twice as many at once), before any key is looked up: a
    /// flood of made-up tokens costs nothing but a refusal.
    pub auth_failures_per_second: f64,
    /// Work beyond a request's share: live streams, replays.
    pub budgets: Budgets,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 256 * 1024,
            requests_per_second: 200.0,
            burst: 400.0,
            timeout: Duration::from_secs(10),
            max_page: 500,
            max_projection_lag: 10_000,
            auth_failures_per_second: 10.0,
            budgets: Budgets::default(),
        }
    }
}

/// Shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Services>,
}

#[derive(Debug)]
pub(crate) struct Services {
    pub store: Arc<dyn EventStore>,
    pub read_db: ReadDb,
    pub access: AccessDb,
    /// Webhook subscriptions; their dispatcher runs beside the service.
    pub webhooks: Subscriptions,
    pub clock: Arc<dyn Clock>,
    pub cases: Handler<Case>,
    pub orders: Handler<UnpaidOrder>,
    pub audits: Handler<SamplingAudit>,
    pub repairs: Handler<RepairOrder>,
    pub grants: Handler<AccessGrant>,
    /// The policy the handlers decide under.
    pub policies: Arc<Policies>,
    pub limiter: RateLimiter,
    /// Failed authentications, by client address.
    pub auth_failures: RateLimiter,
    pub gauges: Gauges,
    /// Where the read models stand, for reads that must see a write.
    pub reached: Reached,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn EventStore>,
        read_db: ReadDb,
        access: AccessDb,
        webhooks: Subscriptions,
        policies: Arc<Policies>,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let store: Arc<dyn EventStore> = Arc::new(MeteredStore::new(store, metrics.clone()));
        macro_rules! handler {
            () => {
                Handler::new(store.clone(), policies.clone(), clock.clone())
            };
        }
        Self {
            inner: Arc::new(Services {
                access: access.abandoning_claims_after(limits.timeout + Duration::from_secs(1)),
                cases: handler!(),
                orders: handler!(),
                audits: handler!(),
                repairs: handler!(),
                grants: handler!(),
                policies,
                webhooks,
                store,
                read_db,
                clock,
                limiter: RateLimiter::new(limits.requests_per_second, limits.burst),
                auth_failures: RateLimiter::new(
                    limits.auth_failures_per_second,
                    2.0 * limits.auth_failures_per_second,
                ),
                gauges: Gauges::new(limits.budgets),
                reached: Reached::default(),
                limits,
                metrics,
            }),
        }
    }

    /// What the read-model runner of this process calls after each batch
    /// it commits, with the position all read models have reached: reads
    /// waiting for it are answered at once.
    pub fn on_reached(&self) -> impl Fn(Position) + Send + Sync + 'static {
        let state = self.clone();
        move |position| state.inner.reached.tell(position)
    }

    /// The keys and idempotency tables, for the CLI's `keys` commands.
    pub fn access(&self) -> &AccessDb {
        &self.inner.access
    }
}
