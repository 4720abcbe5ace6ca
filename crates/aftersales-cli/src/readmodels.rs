//! `aftersales projections | reports | ledger`: operate and read the read models.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aftersales_domain::{Actor, Role};
use aftersales_projections::admin::{self, Difference};
use aftersales_projections::ledger::{self, BalanceBy};
use aftersales_projections::reports::catalogue;
use aftersales_projections::runner::{Progress, Target};
use aftersales_projections::{
    for_reading, heading, spreadsheet_cell, workbook, ParkedEvent, ReadDb, Table,
};
use aftersales_store::{EventStore, Position, StoreOptions};
use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Subcommand, ValueEnum};

use crate::Databases;

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
    /// Events set aside because a read model could not decode or apply them.
    Parked {
        /// Only those of this read model.
        name: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Apply a read model's parked events again, in log order (after the
    /// cause was mended); those that still fail stay parked.
    Retry {
        name: String,
        /// Only the event at this position.
        #[arg(long)]
        position: Option<Position>,
    },
    /// Skip a parked event for good, recording who decided and why in the
    /// log; rebuilds pass over it too.
    Skip {
        name: String,
        #[arg(long)]
        position: Position,
        #[arg(long)]
        reason: String,
        /// Who decides (default: the operating-system user).
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
    },
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
    /// The first business day the report covers (YYYY-MM-DD, the shop's
    /// time zone).
    #[arg(long)]
    from: Option<NaiveDate>,
    /// The last business day the report covers, included.
    #[arg(long)]
    until: Option<NaiveDate>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    /// An Excel workbook with the forms' Chinese headings, to redirect to a
    /// file (`> returns.xlsx`).
    Xlsx,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum By {
    Account,
    Case,
    Day,
    Counterparty,
}

pub async fn open(
    databases: &Databases,
    options: StoreOptions,
) -> anyhow::Result<(Arc<dyn EventStore>, ReadDb)> {
    let unsafe_fast = options.unsafe_fast;
    let url = &databases.log;
    let store = aftersales_store::open(url, options)
        .await
        .with_context(|| format!("opening the store at {}", aftersales_store::redact(url)))?;
    let db = databases.read_models(unsafe_fast).await?;
    Ok((store, db))
}

pub async fn projections(
    databases: &Databases,
    options: StoreOptions,
    command: ProjectionsCommand,
) -> anyhow::Result<()> {
    let (store, db) = open(databases, options).await?;
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
                    "parked",
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
                        s.parked.into(),
                    ]
                }),
            );
            print_table(&table, format)
        }
        ProjectionsCommand::CatchUp => {
            let parked = admin::catch_up(store, &db).await?;
            warn_parked(&parked);
            Ok(())
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
        ProjectionsCommand::Parked { name, format } => {
            let parked = db.parked(name.as_deref()).await?;
            let table = Table::new(
                &[
                    "projection",
                    "position",
                    "event_id",
                    "stream",
                    "event_type",
                    "attempts",
                    "parked_at",
                    "error",
                ],
                parked.iter().map(|p| {
                    vec![
                        p.projection.clone().into(),
                        p.position.into(),
                        p.event_id.to_string().into(),
                        p.stream.clone().into(),
                        p.event_type.clone().into(),
                        u64::from(p.attempts).into(),
                        p.parked_at.clone().into(),
                        p.error.clone().into(),
                    ]
                }),
            );
            print_table(&table, format)
        }
        ProjectionsCommand::Retry { name, position } => {
            let mut projector =
                admin::projectors(&store, std::slice::from_ref(&name), Target::Live)?;
            let [projector] = projector.as_mut_slice() else {
                bail!("unknown read model {name}");
            };
            let outcomes = admin::retry(store.as_ref(), &db, projector.as_mut(), position).await?;
            let failed: Vec<_> = outcomes.iter().filter(|o| o.error.is_some()).collect();
            for outcome in &outcomes {
                match &outcome.error {
                    None => println!("position {}: applied", outcome.position),
                    Some(error) => println!("position {}: still parked: {error}", outcome.position),
                }
            }
            if failed.is_empty() {
                println!("{name}: {} parked events applied", outcomes.len());
                Ok(())
            } else {
                bail!(
                    "{name}: {} of {} parked events still fail",
                    failed.len(),
                    outcomes.len()
                )
            }
        }
        ProjectionsCommand::Skip {
            name,
            position,
            reason,
            by,
        } => {
            // Whoever runs the command on the machine has the operator's
            // local access.
            let actor = Actor::new(by, Role::Admin);
            admin::skip(store.as_ref(), &db, &name, position, &reason, &actor).await?;
            println!("{name}: position {position} skipped for good, recorded in the log");
            Ok(())
        }
    }
}

/// Parked events are a warning, not a failure: the read models went on.
fn warn_parked(parked: &[ParkedEvent]) {
    for event in parked {
        eprintln!(
            "warning: {} parked the event at position {} ({} in {}): {}",
            event.projection, event.position, event.event_type, event.stream, event.error
        );
    }
    if !parked.is_empty() {
        eprintln!("warning: see `aftersales projections parked`, then `retry` or `skip`");
    }
}

fn describe(names: &[String]) -> String {
    if names.is_empty() {
        "all read models".to_owned()
    } else {
        names.join(", ")
    }
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
    databases: &Databases,
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
    let (store, db) = open(databases, options).await?;
    let position = match (args.as_of, args.position) {
        (Some(time), _) => Some(admin::position_at(store.as_ref(), time).await?),
        (None, position) => position,
    };
    let period = catalogue::Period {
        from: args.from,
        until: args.until,
    };
    let table = match position {
        Some(position) => admin::report_as_of(store, &args.name, position, period).await?,
        None => {
            warn_parked(&admin::catch_up(store, &db).await?);
            catalogue::build(&db, &args.name, period).await?
        }
    };
    print_report(&table, position, args.format)
}

pub async fn ledger(
    databases: &Databases,
    options: StoreOptions,
    command: LedgerCommand,
) -> anyhow::Result<()> {
    let (store, db) = open(databases, options).await?;
    warn_parked(&admin::catch_up(store, &db).await?);
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
            print_report(&ledger::balances(&transactions, by), None, format)
        }
    }
}

/// Prints a report; in JSON, in the API's shape.
fn print_report(table: &Table, position: Option<u64>, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &table.document(position))?;
            writeln!(out)?;
        }
        Format::Xlsx => {
            use std::io::IsTerminal as _;
            anyhow::ensure!(
                !out.is_terminal(),
                "a workbook is not for a terminal: redirect it to a file (> {}.xlsx)",
                table.name
            );
            out.write_all(&workbook::workbook(&table.document(position))?)?;
        }
        Format::Table | Format::Csv => print_table(table, format)?,
    }
    Ok(())
}

pub fn print_table(table: &Table, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Xlsx => {
            drop(out);
            return print_report(table, None, format);
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &table.records())?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(&table.columns)?;
            for row in &table.rows {
                writer.write_record(row.iter().map(spreadsheet_cell))?;
            }
            writer.flush()?;
        }
        Format::Table => {
            if !table.title.is_empty() {
                writeln!(out, "{}", table.title)?;
            }
            let mut pretty = comfy_table::Table::new();
            pretty.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
            pretty.set_header(table.columns.iter().map(|column| heading(column)));
            for row in &table.rows {
                pretty.add_row(
                    table
                        .columns
                        .iter()
                        .zip(row)
                        .map(|(column, value)| for_reading(column, value)),
                );
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
