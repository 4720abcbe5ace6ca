//! `aftersales projections | reports | ledger`: operate and read the read models.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aftersales_projections::admin::{self, Difference};
use aftersales_projections::ledger::{self, BalanceBy};
use aftersales_projections::reports::catalogue;
use aftersales_projections::runner::Progress;
use aftersales_projections::{plain, ReadDb, Table};
use aftersales_store::{EventStore, Position, StoreOptions};
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::{Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Each read model's checkpoint, the head, the lag and the state.
    Status {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Bring every read model up to the head of the log, then exit.
    CatchUp,
    /// Rebuild read models into shadow tables and swap them in.
    Rebuild {
        /// Read models to rebuild.
        names: Vec<String>,
        /// Rebuild every read model.
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Start again instead of resuming an interrupted rebuild.
        #[arg(long)]
        restart: bool,
    },
    /// Rebuild privately and compare with the live read models row by row;
    /// exits with 1 if they differ.
    Verify { names: Vec<String> },
    /// Empty a read model; it is rebuilt from the start of the log.
    Reset { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// The reports there are.
    List,
    /// Print a report (see `reports list`).
    #[command(external_subcommand)]
    Show(Vec<String>),
}

#[derive(Debug, clap::Parser)]
#[command(name = "aftersales reports")]
struct ReportArgs {
    name: String,
    /// The report as it read at this time (RFC 3339).
    #[arg(long, conflicts_with = "position")]
    as_of: Option<DateTime<Utc>>,
    /// The report as it read when the log ended at this global position.
    #[arg(long)]
    position: Option<Position>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Prove every transaction balances and the ledger agrees with the case views.
    Check,
    /// Balances per account, case, day or counterparty.
    Balances {
        #[arg(long, value_enum, default_value = "account")]
        by: By,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum By {
    Account,
    Case,
    Day,
    Counterparty,
}

pub async fn open(
    url: &str,
    options: StoreOptions,
) -> anyhow::Result<(Arc<dyn EventStore>, ReadDb)> {
    let unsafe_fast = options.unsafe_fast;
    let store = aftersales_store::open(url, options)
        .await
        .with_context(|| format!("opening the store at {}", aftersales_store::redact(url)))?;
    let db = ReadDb::connect(url, unsafe_fast).await?;
    Ok((store, db))
}

pub async fn projections(
    url: &str,
    options: StoreOptions,
    command: ProjectionsCommand,
) -> anyhow::Result<()> {
    let (store, db) = open(url, options).await?;
    match command {
        ProjectionsCommand::Status { format } => {
            admin::prepare(&db).await?;
            let lines = admin::status(store.as_ref(), &db).await?;
            let table = Table::new(
                &[
                    "name",
                    "version",
                    "state",
                    "checkpoint",
                    "head",
                    "lag_events",
                    "lag_seconds",
                    "failed_at",
                    "error",
                ],
                lines.iter().map(|s| {
                    vec![
                        s.name.clone().into(),
                        s.version.into(),
                        s.state.clone().into(),
                        s.checkpoint.into(),
                        s.head.into(),
                        s.lag_events.into(),
                        s.lag_seconds.into(),
                        s.failed_position.into(),
                        s.error.clone().into(),
                    ]
                }),
            );
            print_table(&table, format)
        }
        ProjectionsCommand::CatchUp => {
            let failed = admin::catch_up(store, &db).await?;
            report_failures(failed)
        }
        ProjectionsCommand::Rebuild {
            names,
            all,
            restart,
        } => {
            if names.is_empty() && !all {
                bail!("name the read models to rebuild, or pass --all");
            }
            let started = Instant::now();
            let mut meter = Meter::new("rebuild");
            admin::rebuild(store, &db, &names, restart, |p| meter.tick(p)).await?;
            meter.finish();
            println!(
                "rebuilt {} in {:.1} s",
                describe(&names),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        ProjectionsCommand::Verify { names } => {
            let mut meter = Meter::new("verify");
            let differences = admin::verify(store, &db, &names, |p| meter.tick(p)).await?;
            meter.finish();
            print_differences(&differences);
            if differences.is_empty() {
                println!("{} match a rebuild", describe(&names));
                Ok(())
            } else {
                bail!("{} rows differ from a rebuild", differences.len())
            }
        }
        ProjectionsCommand::Reset { name } => {
            admin::reset(&db, &name).await?;
            println!("{name} reset; it is rebuilt from the start of the log");
            Ok(())
        }
    }
}

fn describe(names: &[String]) -> String {
    if names.is_empty() {
        "all read models".to_owned()
    } else {
        names.join(", ")
    }
}

fn report_failures(
    failed: Vec<(&'static str, aftersales_projections::ProjectionError)>,
) -> anyhow::Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    for (name, error) in &failed {
        eprintln!("{name} failed: {error}");
    }
    bail!("{} read models failed", failed.len())
}

fn print_differences(differences: &[Difference]) {
    for d in differences.iter().take(50) {
        println!("{}\t{}\t{}\t{}", d.projection, d.collection, d.key, d.kind);
    }
    if differences.len() > 50 {
        println!("... and {} more", differences.len() - 50);
    }
}

pub async fn reports(
    url: &str,
    options: StoreOptions,
    command: ReportsCommand,
) -> anyhow::Result<()> {
    let args = match command {
        ReportsCommand::List => {
            for (name, title) in catalogue::REPORTS {
                println!("{name:<18} {title}");
            }
            return Ok(());
        }
        ReportsCommand::Show(words) => <ReportArgs as clap::Parser>::try_parse_from(
            std::iter::once("aftersales reports".to_owned()).chain(words),
        )
        .unwrap_or_else(|error| error.exit()),
    };
    let (store, db) = open(url, options).await?;
    let position = match (args.as_of, args.position) {
        (Some(time), _) => Some(admin::position_at(store.as_ref(), time).await?),
        (None, position) => position,
    };
    let table = match position {
        Some(position) => admin::report_as_of(store, &args.name, position).await?,
        None => {
            let failed = admin::catch_up(store, &db).await?;
            report_failures(failed)?;
            catalogue::build(&db, &args.name).await?
        }
    };
    print_table(&table, args.format)
}

pub async fn ledger(
    url: &str,
    options: StoreOptions,
    command: LedgerCommand,
) -> anyhow::Result<()> {
    let (store, db) = open(url, options).await?;
    report_failures(admin::catch_up(store, &db).await?)?;
    match command {
        LedgerCommand::Check => {
            let check = ledger::check(&db).await?;
            for position in &check.unbalanced {
                println!("unbalanced transaction at position {position}");
            }
            for disagreement in &check.disagreements {
                println!("{disagreement}");
            }
            if !check.is_ok() {
                bail!("the ledger check failed");
            }
            println!(
                "ledger ok: {} transactions balance and agree with the case views",
                check.transactions
            );
            Ok(())
        }
        LedgerCommand::Balances { by, format } => {
            let by = match by {
                By::Account => BalanceBy::Account,
                By::Case => BalanceBy::Case,
                By::Day => BalanceBy::Day,
                By::Counterparty => BalanceBy::Counterparty,
            };
            let transactions = ledger::transactions(&db).await?;
            print_table(&ledger::balances(&transactions, by), format)
        }
    }
}

pub fn print_table(table: &Table, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &table.records())?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(&table.columns)?;
            for row in &table.rows {
                writer.write_record(row.iter().map(plain))?;
            }
            writer.flush()?;
        }
        Format::Table => {
            if !table.title.is_empty() {
                writeln!(out, "{}", table.title)?;
            }
            let mut pretty = comfy_table::Table::new();
            pretty.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
            pretty.set_header(&table.columns);
            for row in &table.rows {
                pretty.add_row(row.iter().map(plain));
            }
            writeln!(out, "{pretty}")?;
            writeln!(out, "{} rows", table.rows.len())?;
        }
    }
    Ok(())
}

/// Progress of a long run: a bar with events/s and ETA on a terminal,
/// a plain line every few seconds otherwise.
struct Meter {
    bar: Option<indicatif::ProgressBar>,
    what: &'static str,
    started: Instant,
    last_line: Instant,
    first: Option<Position>,
}

impl Meter {
    fn new(what: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} positions, {per_sec}, ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(what);
            bar
        });
        Self {
            bar,
            what,
            started: Instant::now(),
            last_line: Instant::now(),
            first: None,
        }
    }

    fn tick(&mut self, progress: Progress) {
        let first = *self
            .first
            .get_or_insert(progress.position.saturating_sub(progress.events));
        if let Some(bar) = &self.bar {
            bar.set_length(progress.head.saturating_sub(first));
            bar.set_position(progress.position.saturating_sub(first));
        } else if self.last_line.elapsed() >= Duration::from_secs(2) {
            self.last_line = Instant::now();
            let rate = progress.events as f64 / self.started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "{}: position {}/{}, {} events, {:.0} events/s",
                self.what, progress.position, progress.head, progress.events, rate
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
