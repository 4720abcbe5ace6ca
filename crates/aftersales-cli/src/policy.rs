//! `aftersales policy`: the shop's policy as the log records it. `show`
//! prints the one in force (or in force at a past time) as configuration
//! an operator can edit; `diff FILE` says what applying a file would
//! change; `apply FILE` puts it in force, recorded with who did it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aftersales_commands::policy::{self as recorded, Applied, RecordedPolicy};
use aftersales_commands::Policies;
use aftersales_domain::{Actor, Policy, Role};
use aftersales_store::{EventStore, StoreOptions};
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the policy in force, as the `[policy]` table of a configuration file.
    Show {
        /// The policy that was in force at this time (RFC 3339).
        #[arg(long)]
        as_of: Option<DateTime<Utc>>,
    },
    /// Every policy put in force, oldest first: when, by whom, its digest.
    History,
    /// What applying FILE's policy would change, key by key.
    Diff { file: PathBuf },
    /// Put FILE's policy in force; every decision from now on is taken under it.
    Apply {
        file: PathBuf,
        /// Who decides (default: the operating-system user).
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
    },
}

pub async fn run(url: &str, options: StoreOptions, command: PolicyCommand) -> anyhow::Result<()> {
    let store = aftersales_store::open(url, options).await?;
    match command {
        PolicyCommand::Show { as_of } => {
            let shown = match as_of {
                Some(at) => recorded::as_of(store.as_ref(), at).await?,
                None => newest(store.as_ref()).await?,
            };
            println!("# digest {}", shown.changed.digest);
            println!(
                "# in force since {} (position {}), put by {}",
                shown.recorded_at,
                shown.position,
                shown.actor_id.as_deref().unwrap_or("unknown")
            );
            print!("{}", as_toml(&shown.changed.policy)?);
        }
        PolicyCommand::History => {
            for p in recorded::history(store.as_ref()).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    p.position,
                    p.recorded_at,
                    p.actor_id.as_deref().unwrap_or("unknown"),
                    p.changed.digest
                );
            }
        }
        PolicyCommand::Diff { file } => {
            let proposed = from_file(&file)?;
            let current = newest(store.as_ref()).await?.changed.policy;
            let changes = differences(&current, &proposed);
            if changes.is_empty() {
                println!("no change: {} is the policy in force", file.display());
            }
            for line in changes {
                println!("{line}");
            }
        }
        PolicyCommand::Apply { file, by } => {
            let proposed = from_file(&file)?;
            let actor = Actor::new(by, Role::Admin);
            report(recorded::apply(store.as_ref(), proposed, &actor).await?);
        }
    }
    Ok(())
}

/// Puts the configured policy in force, if it is not already, and returns
/// the handlers' view of it.
pub async fn put_in_force(
    store: &dyn EventStore,
    policy: Policy,
    actor: &Actor,
) -> anyhow::Result<Arc<Policies>> {
    let applied = recorded::apply(store, policy, actor)
        .await
        .context("putting the configured policy in force")?;
    if let Some(position) = applied.position {
        tracing::info!(digest = %applied.digest, position, "the configured policy is now in force");
    }
    Ok(Policies::load(store).await?)
}

/// Who `serve` records as having put its configured policy in force.
pub fn serve_actor() -> Actor {
    Actor::new("configuration", Role::Admin)
}

async fn newest(store: &dyn EventStore) -> anyhow::Result<RecordedPolicy> {
    recorded::history(store)
        .await?
        .pop()
        .ok_or_else(|| recorded::PolicyStoreError::NoPolicy.into())
}

fn report(applied: Applied) {
    match applied.position {
        Some(position) => println!(
            "policy {} in force from position {position}",
            applied.digest
        ),
        None => println!(
            "policy {} was already in force: nothing recorded",
            applied.digest
        ),
    }
}

/// The policy a configuration file holds, read as `serve` reads it.
fn from_file(file: &Path) -> anyhow::Result<Policy> {
    Ok(crate::config::load(Some(file), &[])?.policy)
}

fn as_toml(policy: &Policy) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Wrapper<'a> {
        policy: &'a Policy,
    }
    Ok(toml::to_string(&Wrapper { policy })?)
}

/// `key: old -> new` for every leaf that differs.
fn differences(current: &Policy, proposed: &Policy) -> Vec<String> {
    let mut lines = Vec::new();
    let (Ok(a), Ok(b)) = (
        serde_json::to_value(current),
        serde_json::to_value(proposed),
    ) else {
        return lines;
    };
    diff_values("policy", &a, &b, &mut lines);
    lines
}

fn diff_values(key: &str, a: &Value, b: &Value, lines: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let null = Value::Null;
                let (x, y) = (a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null));
                diff_values(&format!("{key}.{k}"), x, y, lines);
            }
        }
        _ if a != b => lines.push(format!("{key}: {a} -> {b}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_names_the_key() {
        let mut proposed = Policy::default();
        proposed.sla.p1.first_response_hours = 1;
        assert_eq!(
            differences(&Policy::default(), &proposed),
            ["policy.sla.p1.first_response_hours: 2 -> 1"]
        );
    }

    #[test]
    fn what_show_prints_reads_back_as_the_same_policy() {
        let text = as_toml(&Policy::default()).unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        assert_eq!(from_file(file.path()).unwrap(), Policy::default());
    }
}
