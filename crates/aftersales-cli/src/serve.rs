//! `aftersales serve`: the HTTP service on the chosen store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, ServerConfig};
use crate::http::ConnectionLimits;
use crate::Databases;
use aftersales_api::{router, AccessDb, AppState, Limits, ScheduleIndex};
use aftersales_commands::{Clock, Handler, Policies, SandboxClock, Scheduler, SystemClock};
use aftersales_domain::{streams, Role};
use aftersales_grpc::{AuthUnavailable, Authenticate, Permissions};
use aftersales_projections::ReadDb;
use aftersales_store::{redact, EventStore, StoreOptions};
use aftersales_webhooks::{Dispatcher, Subscriptions, WebhookDb};
use anyhow::Context;

/// The flags of `serve`. Each overrides its key of the configuration
/// (`[server]`, or its environment variable); unset, the configuration's
/// value holds.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [server.listen; AFTERSALES_LISTEN; 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,

    /// On an empty store, first seed a demo history of this many cases
    /// (0: none), so a new user sees filled reports at once.
    #[arg(long, default_value_t = 0)]
    demo_cases: usize,

    /// Requests per second each API key may send on average; bursts of
    /// twice as many are let through [server.rate_limit; AFTERSALES_RATE_LIMIT].
    #[arg(long)]
    rate_limit: Option<f64>,

    /// Seconds between passes of the scheduler, which issues the
    /// time-driven commands (refunds accepted on the merchant's behalf, SLA
    /// breaches, unpaid orders closed, access grants expired); 0 turns it off,
    /// e.g. for all but one of several processes on one database
    /// [server.scheduler_interval; AFTERSALES_SCHEDULER_INTERVAL].
    #[arg(long)]
    scheduler_interval: Option<u64>,

    /// Also serve the KurrentDB (EventStoreDB) client protocol over gRPC on
    /// this address, so that the official clients can append, read and
    /// subscribe. Off unless given [server.grpc_listen; AFTERSALES_GRPC_LISTEN].
    #[arg(long)]
    grpc_listen: Option<SocketAddr>,

    /// PEM certificate chain for TLS on the gRPC endpoint (with
    /// --grpc-tls-key); without both, the endpoint speaks plain text
    /// [server.grpc_tls_cert; AFTERSALES_GRPC_TLS_CERT].
    #[arg(long)]
    grpc_tls_cert: Option<PathBuf>,

    /// PEM private key for TLS on the gRPC endpoint
    /// [server.grpc_tls_key; AFTERSALES_GRPC_TLS_KEY].
    #[arg(long)]
    grpc_tls_key: Option<PathBuf>,

    /// Serve the gRPC endpoint without TLS and without credentials, to
    /// anyone who reaches it: for a test rig on a loopback address only.
    /// Appends into the product's own categories stay refused
    /// [server.grpc_insecure; AFTERSALES_GRPC_INSECURE].
    #[arg(long)]
    grpc_insecure: bool,

    /// Seconds a request may take before it is answered 503
    /// [server.request_timeout; AFTERSALES_REQUEST_TIMEOUT].
    #[arg(long)]
    request_timeout: Option<u64>,

    /// Connections served at once (kept below the open-file limit); more
    /// are answered 503 and closed [server.max_connections; AFTERSALES_MAX_CONNECTIONS].
    #[arg(long)]
    max_connections: Option<usize>,

    /// Seconds a client has to send a request's headers, from connecting
    /// or from its previous answer (an idle kept-alive connection closes
    /// then too) [server.header_timeout; AFTERSALES_HEADER_TIMEOUT].
    #[arg(long)]
    header_timeout: Option<u64>,

    /// An origin whose pages may call the API from a browser
    /// (`https://console.example.com`); repeat for more. None: cross-origin
    /// calls are off [server.cors_origins; AFTERSALES_CORS_ORIGINS as
    /// `[a, b]`].
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
}

impl ServeArgs {
    /// The flags given, as configuration keys.
    pub fn overrides(&self, keys: &mut Vec<(&'static str, figment::value::Value)>) {
        let text = |v: &dyn ToString| figment::value::Value::from(v.to_string());
        if let Some(v) = self.listen {
            keys.push(("server.listen", text(&v)));
        }
        if let Some(v) = self.rate_limit {
            keys.push(("server.rate_limit", v.into()));
        }
        if let Some(v) = self.scheduler_interval {
            keys.push(("server.scheduler_interval", v.into()));
        }
        if let Some(v) = self.grpc_listen {
            keys.push(("server.grpc_listen", text(&v)));
        }
        if let Some(v) = &self.grpc_tls_cert {
            keys.push(("server.grpc_tls_cert", text(&v.display())));
        }
        if let Some(v) = &self.grpc_tls_key {
            keys.push(("server.grpc_tls_key", text(&v.display())));
        }
        if self.grpc_insecure {
            keys.push(("server.grpc_insecure", true.into()));
        }
        if let Some(v) = self.request_timeout {
            keys.push(("server.request_timeout", v.into()));
        }
        if let Some(v) = self.max_connections {
            keys.push(("server.max_connections", v.into()));
        }
        if let Some(v) = self.header_timeout {
            keys.push(("server.header_timeout", v.into()));
        }
        if !self.cors_origins.is_empty() {
            keys.push(("server.cors_origins", self.cors_origins.clone().into()));
        }
    }
}

impl ServerConfig {
    fn limits(&self) -> anyhow::Result<Limits> {
        anyhow::ensure!(
            self.rate_limit.is_finite() && self.rate_limit > 0.0,
            "server.rate_limit (--rate-limit) must be a positive number of requests per second"
        );
        anyhow::ensure!(
            self.request_timeout > 0,
            "server.request_timeout (--request-timeout) must be at least 1 s"
        );
        Ok(Limits {
            requests_per_second: self.rate_limit,
            burst: 2.0 * self.rate_limit,
            timeout: std::time::Duration::from_secs(self.request_timeout),
            ..Limits::default()
        })
    }

    fn connections(&self) -> anyhow::Result<ConnectionLimits> {
        anyhow::ensure!(
            self.max_connections > 0,
            "server.max_connections (--max-connections) must be at least 1"
        );
        anyhow::ensure!(
            self.header_timeout > 0,
            "server.header_timeout (--header-timeout) must be at least 1 s"
        );
        anyhow::ensure!(
            self.grpc_tls_cert.is_some() == self.grpc_tls_key.is_some(),
            "TLS on the gRPC endpoint needs both server.grpc_tls_cert and server.grpc_tls_key"
        );
        anyhow::ensure!(
            !(self.grpc_insecure && self.grpc_tls_cert.is_some()),
            "server.grpc_insecure and TLS on the gRPC endpoint exclude each other"
        );
        Ok(ConnectionLimits {
            max_connections: self.max_connections,
            header_timeout: std::time::Duration::from_secs(self.header_timeout),
        }
        .fitted())
    }
}

pub async fn run(
    databases: &Databases,
    options: StoreOptions,
    args: ServeArgs,
    config: Config,
) -> anyhow::Result<()> {
    let db = databases.log.as_str();
    let server = config.server;
    let limits = server.limits()?;
    let cors = aftersales_api::cors(&server.cors_origins)?;
    let webhook_settings = config.webhooks.settings()?;
    let connections = server.connections()?;
    let unsafe_fast = options.unsafe_fast;
    let store = aftersales_store::open(db, options)
        .await
        .with_context(|| format!("opening the store at {}", redact(db)))?;
    let empty = store.head().await? == 0;
    // A demo store is a sandbox: its clock may be set to rehearse the rules.
    if args.demo_cases > 0 && empty {
        aftersales_commands::sandbox::open(store.as_ref(), &crate::policy::serve_actor()).await?;
    }
    let clock: Arc<dyn Clock> = match SandboxClock::load(store.as_ref()).await? {
        Some(sandbox) => {
            tracing::info!(now = %sandbox.now(), "a sandbox store: its clock is set with `aftersales clock` or POST /v1/clock");
            tokio::spawn(sandbox.clone().follow(store.clone()));
            sandbox
        }
        None => Arc::new(SystemClock),
    };
    // The configured policy is put in force before anything is decided,
    // the demo history included.
    let policies =
        crate::policy::put_in_force(store.as_ref(), config.policy, &crate::policy::serve_actor())
            .await?;
    if args.demo_cases > 0 && empty {
        let summary =
            crate::demo::seed_history(store.clone(), policies.clone(), args.demo_cases, 2026, 16)
                .await?;
        tracing::info!(
            cases = summary.cases,
            events = summary.events,
            "seeded a demo history"
        );
    }
    let follower = tokio::spawn(policies.clone().follow(store.clone()));
    // The read models follow the log for as long as the service runs.
    let read_db = databases.read_models(unsafe_fast).await?;
    aftersales_projections::admin::ensure(&read_db).await?;
    // Reads get connections of their own: the runner's commits, one per
    // read model at once, would otherwise hold every connection of a
    // shared pool while reads wait their turn.
    let reads_db = databases.read_models(unsafe_fast).await?;
    let access = AccessDb::connect(db, unsafe_fast).await?;
    let webhooks = Subscriptions::new(
        store.clone(),
        WebhookDb::connect(db, unsafe_fast).await?,
        webhook_settings,
    );
    // Every subscription is sent its events for as long as the service runs.
    let dispatcher = tokio::spawn(Dispatcher::new(webhooks.clone())?.run());
    let scheduler = (server.scheduler_interval > 0).then(|| {
        tokio::spawn(schedule(
            store.clone(),
            reads_db.clone(),
            policies.clone(),
            clock.clone(),
            std::time::Duration::from_secs(server.scheduler_interval),
        ))
    });
    let grpc = match server.grpc_listen {
        Some(address) => Some(start_grpc(store.clone(), &access, address, &server).await?),
        None => None,
    };
    let state = AppState::new(
        store.clone(),
        reads_db,
        access,
        webhooks,
        policies,
        clock,
        limits,
    );
    let projections = tokio::spawn(aftersales_projections::admin::run_live(
        store.clone(),
        read_db,
        state.on_reached(),
    ));
    let app = match cors {
        Some(cors) => router(state).layer(cors),
        None => router(state),
    };
    let listener = tokio::net::TcpListener::bind(server.listen)
        .await
        .with_context(|| format!("binding {}", server.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        db = %redact(db),
        backend = store.backend().name(),
        head_position = store.head().await?,
        "aftersales is serving"
    );
    crate::http::serve(listener, app, connections, shutdown_signal()).await;
    projections.abort();
    dispatcher.abort();
    follower.abort();
    if let Some(grpc) = grpc {
        grpc.abort();
    }
    if let Some(scheduler) = scheduler {
        scheduler.abort();
    }
    tracing::info!("aftersales stopped");
    Ok(())
}

/// Binds the gRPC endpoint and serves it in the background. Callers
/// authenticate with the JSON API's keys over TLS; only `--grpc-insecure`
/// on a loopback address serves without either.
async fn start_grpc(
    store: Arc<dyn EventStore>,
    access: &AccessDb,
    address: SocketAddr,
    args: &ServerConfig,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let authenticator: Option<Arc<dyn Authenticate>> = if args.grpc_insecure {
        anyhow::ensure!(
            address.ip().is_loopback(),
            "--grpc-insecure serves the log to anyone without credentials: \
             it listens on a loopback address only, not {address}"
        );
        tracing::warn!(
            listen = %address,
            "the gRPC endpoint serves without TLS and without credentials (--grpc-insecure): \
             for a loopback test rig only"
        );
        None
    } else {
        anyhow::ensure!(
            args.grpc_tls_cert.is_some(),
            "the gRPC endpoint carries credentials and needs TLS: give --grpc-tls-cert and \
             --grpc-tls-key (or --grpc-insecure for a loopback test rig)"
        );
        Some(Arc::new(KeyAuthenticator(access.clone())))
    };
    let access = aftersales_grpc::Access {
        authenticator,
        protected_categories: streams::OWNED_CATEGORIES
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
    };
    let tls = match (&args.grpc_tls_cert, &args.grpc_tls_key) {
        (Some(cert), Some(key)) => Some(aftersales_grpc::Tls {
            certificate_pem: std::fs::read(cert)
                .with_context(|| format!("reading {}", cert.display()))?,
            key_pem: std::fs::read(key).with_context(|| format!("reading {}", key.display()))?,
        }),
        _ => None,
    };
    let secure = tls.is_some();
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address} for gRPC"))?;
    tracing::info!(listen = %listener.local_addr()?, tls = secure, "KurrentDB gRPC endpoint is serving");
    Ok(tokio::spawn(async move {
        let limits = aftersales_grpc::Limits::default();
        if let Err(error) =
            aftersales_grpc::serve(store, listener, tls, limits, access, std::future::pending())
                .await
        {
            tracing::error!(%error, "the gRPC endpoint stopped");
        }
    }))
}

/// The JSON API's keys on the gRPC endpoint: the key's id or name as the
/// user, its token as the password, revoked as on the API. Auditors and
/// supervisors read the log; integrations and administrators also append
/// (outside the product's own categories). A key limited to some case
/// categories may not read the raw log, which holds every category.
#[derive(Debug)]
struct KeyAuthenticator(AccessDb);

#[async_trait::async_trait]
impl Authenticate for KeyAuthenticator {
    async fn authenticate(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Option<Permissions>, AuthUnavailable> {
        let key = self
            .0
            .authenticate(password)
            .await
            .map_err(|e| AuthUnavailable(e.to_string()))?;
        let Some(key) = key.filter(|key| key.id == user || key.name == user) else {
            return Ok(None);
        };
        let unlimited = key.categories.is_none();
        let (read, append) = match key.role {
            Role::Auditor | Role::Supervisor => (true, false),
            Role::Integration | Role::Admin => (true, true),
            _ => (false, false),
        };
        Ok(Some(Permissions {
            read: read && unlimited,
            append: append && unlimited,
        }))
    }
}

/// Runs the scheduler every `interval` for as long as the service runs.
/// Several processes may each run one: the handlers' concurrency checks and
/// the domain's "already done" refusals keep a due command from taking
/// effect twice.
async fn schedule(
    store: Arc<dyn EventStore>,
    read_db: ReadDb,
    policies: Arc<Policies>,
    clock: Arc<dyn Clock>,
    interval: std::time::Duration,
) {
    let cases = Arc::new(Handler::new(store.clone(), policies, clock.clone()));
    let scheduler = Scheduler::new(store, Arc::new(ScheduleIndex(read_db)), cases, clock);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match scheduler.run_once().await {
            Ok(run) if run.failed > 0 => tracing::warn!(
                issued = run.issued,
                skipped = run.skipped,
                failed = run.failed,
                "scheduler pass: some aggregates failed"
            ),
            Ok(run) if run.issued > 0 || run.skipped > 0 => {
                tracing::info!(issued = run.issued, skipped = run.skipped, "scheduler pass");
            }
            Ok(_) => {}
            // The database may be down for a while; the next pass tries again.
            Err(error) => tracing::warn!(%error, "scheduler pass failed"),
        }
    }
}

/// Ctrl-C or SIGTERM: stop accepting, finish the requests in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
