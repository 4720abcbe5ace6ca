//! `aftersales keys`: API keys for integrations and front ends.

use aftersales_api::{AccessDb, Naming};
use aftersales_domain::Role;
use aftersales_store::StoreOptions;
use anyhow::{bail, Context};

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Issue a key; its token is printed once, alone on the last line.
    Create {
        /// agent | supervisor | warehouse | finance | technician | auditor | integration | admin
        #[arg(long)]
        role: Role,
        /// The actor the key acts as: a person's staff id or a system's name.
        #[arg(long)]
        name: String,
        /// Limit the key to these case categories (comma-separated).
        #[arg(long, value_delimiter = ',')]
        categories: Option<Vec<String>>,
        /// The name was a revoked key's: give it again, to the same person
        /// or system (a rotated key). Names never pass to someone else.
        #[arg(long)]
        reissue: bool,
    },
    /// List the keys (never their tokens).
    List,
    /// Revoke a key at once.
    Revoke { id: String },
}

pub async fn run(db: &str, options: StoreOptions, command: KeysCommand) -> anyhow::Result<()> {
    // Opening the store applies the migrations the key tables come with.
    let unsafe_fast = options.unsafe_fast;
    aftersales_store::open(db, options).await?;
    let access = AccessDb::connect(db, unsafe_fast).await?;
    match command {
        KeysCommand::Create {
            role,
            name,
            categories,
            reissue,
        } => {
            if role == Role::System {
                bail!("the system role is the scheduler's own; issue another role");
            }
            if let Some(categories) = &categories {
                for category in categories {
                    serde_json::from_value::<aftersales_domain::model::Category>(
                        serde_json::Value::String(category.clone()),
                    )
                    .with_context(|| format!("unknown case category {category:?}"))?;
                }
            }
            let naming = if reissue {
                Naming::Reissue
            } else {
                Naming::New
            };
            let issued = access.create_key(&name, role, categories, naming).await?;
            eprintln!(
                "issued key {} for {} ({}); the token is shown only now:",
                issued.info.id, issued.info.name, issued.info.role
            );
            println!("{}", issued.token);
        }
        KeysCommand::List => {
            let mut table = comfy_table::Table::new();
            table.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
            table.set_header([
                "id",
                "name",
                "role",
                "categories",
                "created_at",
                "revoked_at",
            ]);
            for key in access.list_keys().await? {
                table.add_row([
                    key.id,
                    key.name,
                    key.role.to_string(),
                    key.categories
                        .map(|c| c.join(","))
                        .unwrap_or_else(|| "all".to_owned()),
                    key.created_at,
                    key.revoked_at.unwrap_or_default(),
                ]);
            }
            println!("{table}");
        }
        KeysCommand::Revoke { id } => {
            if !access.revoke_key(&id).await? {
                bail!("no active key {id}");
            }
            println!("revoked key {id}");
        }
    }
    Ok(())
}
