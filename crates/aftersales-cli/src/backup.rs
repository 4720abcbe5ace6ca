//! `aftersales backup`: an online copy of the embedded store.

use std::path::PathBuf;

use aftersales_store::{sqlite_path, SqliteStore, StoreOptions};
use anyhow::{bail, Context};

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The file to write; it must not exist. Restore by pointing --db at it
    /// (or copying it into place) and rebuilding the read models.
    target: PathBuf,
}

pub async fn run(db: &str, options: StoreOptions, args: BackupArgs) -> anyhow::Result<()> {
    let Some(path) = sqlite_path(db) else {
        bail!(
            "aftersales backup copies the embedded SQLite store; back up PostgreSQL with \
             pg_dump --format=custom and restore with pg_restore (see docs/reliability.md)"
        );
    };
    // Opening a path that does not exist would create an empty store and
    // back that up.
    if !std::path::Path::new(path).exists() {
        bail!("there is no store at {path} to back up");
    }
    if args.target.exists() {
        bail!(
            "{} exists already; a backup never overwrites a file",
            args.target.display()
        );
    }
    let store = SqliteStore::open(path, options)
        .await
        .with_context(|| format!("opening the store at {path}"))?;
    let position = store
        .backup_to(&args.target)
        .await
        .with_context(|| format!("writing the backup to {}", args.target.display()))?;
    println!(
        "backed up {path} to {} at position {position}",
        args.target.display()
    );
    Ok(())
}
