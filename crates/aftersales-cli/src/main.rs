//! `aftersales`: the one binary operators run. It serves the API, applies
//! migrations, reads and writes the event log directly, operates the read
//! models and prints the reports.

mod backup;
mod clock;
mod config;
mod demo;
mod events;
mod http;
mod keys;
mod policy;
mod readmodels;
mod serve;
mod unpaid;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;

use aftersales_store::{StoreError, StoreOptions};
use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Config, LogFormat};

/// glibc's allocator gives each thread that allocates an arena of its own
/// (tokio's workers, and one thread per SQLite connection) and returns
/// little of it: a long-running service's memory crept up under steady
/// load. mimalloc keeps it flat (`docs/reliability.md`, "Load and soak").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "aftersales",
    version,
    about = "Event-sourced after-sales service backend"
)]
struct Cli {
    /// The configuration file (TOML): the service's settings and the
    /// shop's policy; `config/aftersales.toml` is an example with the SOPs'
    /// defaults. Environment variables and flags override single keys.
    #[arg(long, global = true, env = "AFTERSALES_CONFIG")]
    config: Option<PathBuf>,

    /// The database: sqlite://PATH (embedded) or postgres://USER@HOST:PORT/DB
    /// [config: db; env: AFTERSALES_DB; default: sqlite://data/aftersales.db].
    #[arg(long, global = true)]
    db: Option<String>,

    /// The read models' database: sqlite://PATH or postgres://…/DB. By
    /// default beside the log: `<log>.read.db` on SQLite, the schema
    /// `read_models` of the log's database on PostgreSQL. Derived data:
    /// deleting it is safe, the next start rebuilds it
    /// [config: read_db; env: AFTERSALES_READ_DB].
    #[arg(long, global = true)]
    read_db: Option<String>,

    /// Run without the durability checks (WAL + synchronous=FULL, fsync,
    /// synchronous_commit). Acknowledged events may be lost: throw-away data only.
    #[arg(long, global = true)]
    unsafe_fast: bool,

    /// How logs are written to standard error: text (coloured only on a
    /// terminal) or json, one object per line for log collectors
    /// [config: log_format; env: AFTERSALES_LOG_FORMAT].
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,

    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The configuration, with the flags given laid over it.
    fn config(&self) -> Result<Config, config::ConfigError> {
        let mut overrides: Vec<(&str, figment::value::Value)> = Vec::new();
        if let Some(db) = &self.db {
            overrides.push(("db", db.clone().into()));
        }
        if let Some(read_db) = &self.read_db {
            overrides.push(("read_db", read_db.clone().into()));
        }
        if let Some(format) = self.log_format {
            let name = match format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            };
            overrides.push(("log_format", name.into()));
        }
        if let Command::Serve(args) = &self.command {
            args.overrides(&mut overrides);
        }
        config::load(self.config.as_deref(), &overrides)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP service.
    Serve(serve::ServeArgs),
    /// Apply pending schema migrations and exit.
    Migrate(MigrateArgs),
    /// Append to, read and follow the event log.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Operate the read models: status, rebuild, verify, reset.
    #[command(subcommand)]
    Projections(readmodels::ProjectionsCommand),
    /// The SOP reports, live or as of a past time.
    #[command(subcommand)]
    Reports(readmodels::ReportsCommand),
    /// The double-entry money ledger.
    #[command(subcommand)]
    Ledger(readmodels::LedgerCommand),
    /// API keys: create, list, revoke.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Copy the embedded SQLite store to a new file while it serves.
    Backup(backup::BackupArgs),
    /// Generate a realistic demo history.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
    /// The shop's policy: the one in force, its history, a new one.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Unpaid orders under payment reminder: import the platform's export.
    #[command(subcommand)]
    Unpaid(unpaid::UnpaidCommand),
    /// A sandbox store's clock: show, set, advance.
    #[command(subcommand)]
    Clock(clock::ClockCommand),
    /// Webhook subscriptions: create, list, pause, resume, delete, deliveries, replay.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// Make the new store a sandbox, whose clock an administrator sets and
    /// advances to rehearse the rules (`aftersales clock`). Only a new,
    /// empty store can be made one.
    #[arg(long)]
    sandbox: bool,
}

impl Command {
    /// Whether the command may create a store that does not exist yet. The
    /// others say there is none, rather than leave an empty file behind a
    /// mistyped `--db`.
    fn creates_store(&self) -> bool {
        matches!(
            self,
            Command::Serve(_)
                | Command::Migrate(_)
                | Command::Demo(_)
                | Command::Events(events::EventsCommand::Append { .. })
                | Command::Events(events::EventsCommand::Import { .. })
                | Command::Keys(keys::KeysCommand::Create { .. })
                | Command::Policy(policy::PolicyCommand::Apply { .. })
                | Command::Webhooks(webhooks::WebhooksCommand::Create { .. })
        )
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            exit_code(&error)
        }
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    let options = StoreOptions {
        unsafe_fast: cli.unsafe_fast,
        create: cli.command.creates_store(),
        ..StoreOptions::default()
    };
    let databases = Databases {
        log: config.db.clone(),
        read: config.read_db.clone(),
    };
    let db = config.db.as_str();
    match cli.command {
        Command::Serve(args) => serve::run(&databases, options, args, config).await,
        Command::Migrate(args) => {
            let store = aftersales_store::open(db, options).await?;
            println!("migrations applied to {}", aftersales_store::redact(db));
            if args.sandbox && !aftersales_commands::sandbox::is_sandbox(store.as_ref()).await? {
                aftersales_commands::sandbox::open(store.as_ref(), &policy::serve_actor()).await?;
                println!("the store is a sandbox: set its clock with `aftersales clock`");
            }
            Ok(())
        }
        Command::Events(command) => events::run(db, options, command).await,
        Command::Projections(command) => {
            readmodels::projections(&databases, options, command).await
        }
        Command::Reports(command) => readmodels::reports(&databases, options, command).await,
        Command::Ledger(command) => readmodels::ledger(&databases, options, command).await,
        Command::Backup(args) => backup::run(db, options, args).await,
        Command::Demo(command) => demo::run(db, options, command, config.policy).await,
        Command::Keys(command) => keys::run(db, options, command).await,
        Command::Policy(command) => policy::run(db, options, command).await,
        Command::Clock(command) => clock::run(db, options, command).await,
        Command::Unpaid(command) => unpaid::run(db, options, command).await,
        Command::Webhooks(command) => webhooks::run(db, options, &config.webhooks, command).await,
    }
}

/// Where the log and the read models live.
#[derive(Debug, Clone)]
pub struct Databases {
    /// The log's database URL (`--db`): events, API keys, idempotency
    /// records, all with durable commits.
    pub log: String,
    /// `--read-db`, if given.
    pub read: Option<String>,
}

impl Databases {
    /// The read models' database, created if missing.
    pub async fn read_models(
        &self,
        unsafe_fast: bool,
    ) -> anyhow::Result<aftersales_projections::ReadDb> {
        let url = aftersales_projections::read_db_url(&self.log, self.read.as_deref())?;
        aftersales_projections::ReadDb::open(&self.log, self.read.as_deref(), unsafe_fast)
            .await
            .with_context(|| {
                format!(
                    "opening the read models at {}",
                    aftersales_store::redact(&url)
                )
            })
    }
}

/// 3 tells scripts that an append lost an optimistic-concurrency race (and
/// may be retried after reading the stream again); 4 that a rule of the log
/// refused a write and nothing was written; 1 is any other failure.
fn exit_code(error: &anyhow::Error) -> ExitCode {
    if error.downcast_ref::<events::OwnedStream>().is_some()
        || error.downcast_ref::<events::ImportRefused>().is_some()
    {
        return ExitCode::from(4);
    }
    match error.downcast_ref::<StoreError>() {
        Some(StoreError::WrongExpectedRevision { .. } | StoreError::IdempotencyConflict { .. }) => {
            ExitCode::from(3)
        }
        _ => ExitCode::FAILURE,
    }
}

/// Logs go to stderr, so that command output on stdout stays clean; the level
/// comes from RUST_LOG (default: info for the service's own crates). Colour
/// codes only reach a terminal: in a file or a journal they are noise.
fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,aftersales=info,aftersales_api=info,aftersales_store=info")
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
}
