//! `aftersales webhooks`: webhook subscriptions from the operator's shell,
//! recorded in the log as the administrator's changes, like those made
//! through the API.

use aftersales_domain::webhook::{Webhook, WebhookFilter, WebhookState};
use aftersales_domain::{Actor, Role};
use aftersales_store::StoreOptions;
use aftersales_webhooks::{NewSubscription, Subscriptions, WebhookDb};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::config::WebhooksConfig;

#[derive(Debug, clap::Subcommand)]
pub enum WebhooksCommand {
    /// Subscribe a URL; its signing secret is printed once, alone on the last line.
    Create {
        url: String,
        /// Only these categories (comma-separated: case, unpaid, audit, repair, grant).
        #[arg(long, value_delimiter = ',')]
        categories: Vec<String>,
        /// Only these event types (comma-separated).
        #[arg(long, value_delimiter = ',')]
        event_types: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        /// Send the events after this log position too.
        #[arg(long)]
        start_after: Option<u64>,
    },
    /// List the subscriptions (never their secrets).
    List,
    /// Stop sending until resumed.
    Pause { id: Uuid },
    /// Send again from where it stopped (also after a disable).
    Resume { id: Uuid },
    /// Delete a subscription for good, with its secrets.
    Delete { id: Uuid },
    /// The delivery log, newest first.
    Deliveries {
        id: Uuid,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Send every matching event again from a position or a time.
    Replay {
        id: Uuid,
        #[arg(long, conflicts_with = "since", required_unless_present = "since")]
        from_position: Option<u64>,
        /// RFC 3339.
        #[arg(long)]
        since: Option<DateTime<Utc>>,
    },
}

pub async fn run(
    db: &str,
    options: StoreOptions,
    config: &WebhooksConfig,
    command: WebhooksCommand,
) -> anyhow::Result<()> {
    let unsafe_fast = options.unsafe_fast;
    let store = aftersales_store::open(db, options).await?;
    let webhooks = Subscriptions::new(
        store,
        WebhookDb::connect(db, unsafe_fast).await?,
        config.settings()?,
    );
    let operator = Actor::new("operator", Role::Admin);
    match command {
        WebhooksCommand::Create {
            url,
            categories,
            event_types,
            description,
            start_after,
        } => {
            let new = NewSubscription {
                url,
                filter: WebhookFilter {
                    categories,
                    event_types,
                },
                description,
                start_after,
            };
            let created = webhooks.create(new, "operator", &operator).await?;
            eprintln!(
                "subscribed {} to {}; its secret is shown only now:",
                created.webhook.id, created.webhook.url
            );
            println!("{}", created.secret);
        }
        WebhooksCommand::List => {
            let mut table = comfy_table::Table::new();
            table.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
            table.set_header(["id", "url", "state", "filter", "delivered through", "owner"]);
            for webhook in webhooks.list().await? {
                let delivered = webhooks.delivered_through(&webhook).await?;
                table.add_row([
                    webhook.id.to_string(),
                    webhook.url.clone(),
                    state(&webhook),
                    filter(&webhook.filter),
                    delivered.to_string(),
                    webhook.owner_key,
                ]);
            }
            println!("{table}");
        }
        WebhooksCommand::Pause { id } => report(webhooks.pause(id, &operator).await?),
        WebhooksCommand::Resume { id } => report(webhooks.resume(id, &operator).await?),
        WebhooksCommand::Delete { id } => report(webhooks.delete(id, &operator).await?),
        WebhooksCommand::Deliveries { id, limit } => {
            let mut table = comfy_table::Table::new();
            table.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
            table.set_header([
                "at", "position", "type", "attempt", "outcome", "status", "ms", "error",
            ]);
            for delivery in webhooks.deliveries(id, None, limit).await? {
                table.add_row([
                    delivery.at.to_rfc3339(),
                    delivery.position.to_string(),
                    delivery.event_type,
                    delivery.attempt.to_string(),
                    delivery.outcome,
                    delivery
                        .http_status
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    format!("{:.1}", delivery.latency_ms),
                    delivery.error.unwrap_or_default(),
                ]);
            }
            println!("{table}");
        }
        WebhooksCommand::Replay {
            id,
            from_position,
            since,
        } => {
            let after = match (from_position, since) {
                (Some(position), _) => position.saturating_sub(1),
                (None, Some(time)) => webhooks.position_before(time).await?,
                (None, None) => anyhow::bail!("give --from-position or --since"),
            };
            report(webhooks.replay(id, after, &operator).await?);
            println!("every matching event after position {after} is sent again");
        }
    }
    Ok(())
}

fn report(webhook: Webhook) {
    println!("{} {} ({})", webhook.id, state(&webhook), webhook.url);
}

fn state(webhook: &Webhook) -> String {
    match &webhook.state {
        WebhookState::Active => "active".into(),
        WebhookState::Paused => "paused".into(),
        WebhookState::Disabled { reason, .. } => format!("disabled: {reason}"),
        WebhookState::Deleted => "deleted".into(),
    }
}

fn filter(filter: &WebhookFilter) -> String {
    let all = |list: &[String]| {
        if list.is_empty() {
            "all".to_owned()
        } else {
            list.join(",")
        }
    };
    format!(
        "categories {}; types {}",
        all(&filter.categories),
        all(&filter.event_types)
    )
}
