//! `aftersales unpaid import FILE` (催款导单): the platform's export of the
//! day's unpaid orders (CSV or `.xlsx`), registered line by line as the
//! API's import does; a file imported twice registers nothing new.

use std::path::PathBuf;
use std::sync::Arc;

use aftersales_commands::import::{import_unpaid_orders, LineOutcome};
use aftersales_commands::{Clock, Handler, Policies, SandboxClock, SystemClock};
use aftersales_domain::{Actor, Role};
use aftersales_store::StoreOptions;
use anyhow::Context as _;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum UnpaidCommand {
    /// Register the unpaid orders of an export (CSV or `.xlsx`): a header naming
    /// order_no (订单号), buyer_id (买家ID), ordered_at (下单时间) and amount
    /// (金额, in yuan).
    Import {
        file: PathBuf,
        /// Who registers them (default: the operating-system user).
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
    },
}

pub async fn run(url: &str, options: StoreOptions, command: UnpaidCommand) -> anyhow::Result<()> {
    let UnpaidCommand::Import { file, by } = command;
    let csv = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let store = aftersales_store::open(url, options).await?;
    let policies = Policies::load(store.as_ref()).await?;
    let clock: Arc<dyn Clock> = match SandboxClock::load(store.as_ref()).await? {
        Some(sandbox) => sandbox,
        None => Arc::new(SystemClock),
    };
    let calendar = policies.current().policy.calendar.clone();
    let handler = Handler::new(store, policies, clock);
    let report =
        import_unpaid_orders(&handler, &csv, &calendar, &Actor::new(by, Role::Agent)).await?;
    for line in &report.lines {
        if line.outcome == LineOutcome::Refused {
            println!(
                "line {}: {} refused: {}",
                line.line,
                line.order_no.as_deref().unwrap_or("-"),
                line.reason.as_deref().unwrap_or_default()
            );
        }
    }
    println!(
        "{} registered, {} already registered, {} refused",
        report.registered, report.already_registered, report.refused
    );
    Ok(())
}
