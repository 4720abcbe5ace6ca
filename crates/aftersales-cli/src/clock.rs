//! `aftersales clock`: a sandbox store's clock, read, set and advanced by
//! an operator. A store that is not a sandbox refuses to have it set.

use aftersales_commands::{Clock, SandboxClock, SandboxError};
use aftersales_domain::{Actor, Role};
use aftersales_store::StoreOptions;
use chrono::{DateTime, Utc};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ClockCommand {
    /// What the store's clock reads, and whether it was set by hand.
    Show,
    /// Set a sandbox's clock to TIME (RFC 3339); it only moves forward.
    Set {
        time: DateTime<Utc>,
        /// Who sets it (default: the operating-system user).
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
    },
    /// Move a sandbox's clock forward, e.g. `8h`, `2days`, `30min`.
    Advance {
        #[arg(value_parser = humantime::parse_duration)]
        by: std::time::Duration,
        #[arg(long, env = "USER", default_value = "operator")]
        by_whom: String,
    },
}

pub async fn run(url: &str, options: StoreOptions, command: ClockCommand) -> anyhow::Result<()> {
    let store = aftersales_store::open(url, options).await?;
    let sandbox = SandboxClock::load(store.as_ref()).await?;
    match (command, sandbox) {
        (ClockCommand::Show, None) => println!("{} (the real clock: not a sandbox)", Utc::now()),
        (ClockCommand::Show, Some(clock)) => println!(
            "{} (a sandbox; {})",
            clock.now(),
            if clock.set_by_hand() {
                "set by hand"
            } else {
                "not set yet"
            }
        ),
        (_, None) => return Err(SandboxError::NotSandbox.into()),
        (ClockCommand::Set { time, by }, Some(clock)) => {
            let set = clock
                .set(store.as_ref(), time, &Actor::new(by, Role::Admin))
                .await?;
            println!("the clock reads {} (it read {})", set.to, set.previous);
        }
        (ClockCommand::Advance { by, by_whom }, Some(clock)) => {
            let by = chrono::Duration::from_std(by)?;
            let set = clock
                .advance(store.as_ref(), by, &Actor::new(by_whom, Role::Admin))
                .await?;
            println!("the clock reads {} (it read {})", set.to, set.previous);
        }
    }
    Ok(())
}
