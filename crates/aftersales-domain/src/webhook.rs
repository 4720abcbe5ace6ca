//! Webhook subscriptions (`webhook-<id>`): an integration that asks to be
//! called with the events it cares about. Every change to a subscription
//! is an event of its stream, so who created, paused, re-pointed or
//! replayed it, and when, is as much part of the log as the cases are.
//!
//! A subscription's signing secrets are not in the log: the log is kept
//! forever and read by auditors, a secret must be removable for good. The
//! events name a secret by its id alone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The category of the subscriptions' streams.
pub const CATEGORY: &str = "webhook";

crate::domain_events! {
    /// What happens to a webhook subscription.
    pub enum WebhookEvent {
        WebhookCreated = "WebhookCreated",
        WebhookChanged = "WebhookChanged",
        WebhookPaused = "WebhookPaused",
        WebhookResumed = "WebhookResumed",
        WebhookSecretAdded = "WebhookSecretAdded",
        WebhookSecretRemoved = "WebhookSecretRemoved",
        WebhookReplayRequested = "WebhookReplayRequested",
        WebhookDisabled = "WebhookDisabled",
        WebhookDeleted = "WebhookDeleted",
    }
}

impl WebhookEvent {
    /// The version of the events' data layout, written into their metadata.
    pub const SCHEMA_VERSION: u32 = 1;
}

/// Which events a subscription is sent. An empty list does not narrow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookFilter {
    /// Stream categories (`case`, `unpaid`, `repair` …).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Event types (`CaseRegistered`, `RefundPaid` …).
    #[serde(default)]
    pub event_types: Vec<String>,
}

impl WebhookFilter {
    pub fn matches(&self, category: &str, event_type: &str) -> bool {
        (self.categories.is_empty() || self.categories.iter().any(|c| c == category))
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
    }
}

/// A subscription was made: events after `start_after` that pass the
/// filter are sent to `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreated {
    pub url: String,
    pub filter: WebhookFilter,
    /// The API key that owns it; an integration key manages only its own.
    pub owner_key: String,
    pub description: Option<String>,
    /// The log position it starts after: the head when it was made, or an
    /// earlier one when the subscriber asked for the past too.
    pub start_after: u64,
    pub secret_id: Uuid,
    pub at: DateTime<Utc>,
}

/// Its target or its filter changed; absent fields stay as they were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChanged {
    pub url: Option<String>,
    pub filter: Option<WebhookFilter>,
    pub description: Option<String>,
    pub at: DateTime<Utc>,
}

/// Nothing is sent until it is resumed; what happens meanwhile is sent then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookPaused {
    pub at: DateTime<Utc>,
}

/// Sending goes on from where it stopped (also after a disable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookResumed {
    pub at: DateTime<Utc>,
}

/// A further secret signs every message, beside those already there: the
/// receiver can move to it before the old one is removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSecretAdded {
    pub secret_id: Uuid,
    pub at: DateTime<Utc>,
}

/// A secret no longer signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSecretRemoved {
    pub secret_id: Uuid,
    pub at: DateTime<Utc>,
}

/// Everything matching after `after` is sent again, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookReplayRequested {
    pub after: u64,
    pub at: DateTime<Utc>,
}

/// Sending stopped on its own: the target said it is gone (410), or it
/// kept failing for longer than the retry period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDisabled {
    pub reason: String,
    /// The first position it could not deliver.
    pub position: u64,
    pub at: DateTime<Utc>,
}

/// Gone for good: nothing more is sent, and it cannot be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDeleted {
    pub at: DateTime<Utc>,
}

/// Where a subscription stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum WebhookState {
    Active,
    Paused,
    Disabled { reason: String, position: u64 },
    Deleted,
}

/// A subscription as its stream tells it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub filter: WebhookFilter,
    pub owner_key: String,
    pub description: Option<String>,
    pub state: WebhookState,
    /// The secrets that sign, oldest first.
    pub secret_ids: Vec<Uuid>,
    pub start_after: u64,
    /// The latest replay asked for: its stream revision (which names a
    /// fresh delivery checkpoint) and the position it replays after.
    pub replay: Option<(u64, u64)>,
    pub created_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
    /// The revision of its stream this state folds.
    pub revision: u64,
}

impl Webhook {
    /// Folds a subscription's events, oldest first; `None` if the first is
    /// not its creation.
    pub fn fold<'a>(
        id: Uuid,
        events: impl IntoIterator<Item = &'a WebhookEvent>,
    ) -> Option<Webhook> {
        let mut events = events.into_iter();
        let WebhookEvent::WebhookCreated(created) = events.next()? else {
            return None;
        };
        let mut webhook = Webhook {
            id,
            url: created.url.clone(),
            filter: created.filter.clone(),
            owner_key: created.owner_key.clone(),
            description: created.description.clone(),
            state: WebhookState::Active,
            secret_ids: vec![created.secret_id],
            start_after: created.start_after,
            replay: None,
            created_at: created.at,
            changed_at: created.at,
            revision: 0,
        };
        for event in events {
            webhook.evolve(event);
        }
        Some(webhook)
    }

    /// Applies the next event of the stream.
    pub fn evolve(&mut self, event: &WebhookEvent) {
        self.revision += 1;
        match event {
            WebhookEvent::WebhookCreated(_) => {}
            WebhookEvent::WebhookChanged(changed) => {
                if let Some(url) = &changed.url {
                    self.url = url.clone();
                }
                if let Some(filter) = &changed.filter {
                    self.filter = filter.clone();
                }
                if changed.description.is_some() {
                    self.description = changed.description.clone();
                }
            }
            WebhookEvent::WebhookPaused(_) => self.state = WebhookState::Paused,
            WebhookEvent::WebhookResumed(_) => self.state = WebhookState::Active,
            WebhookEvent::WebhookSecretAdded(added) => self.secret_ids.push(added.secret_id),
            WebhookEvent::WebhookSecretRemoved(removed) => {
                self.secret_ids.retain(|id| *id != removed.secret_id);
            }
            WebhookEvent::WebhookReplayRequested(replay) => {
                self.replay = Some((self.revision, replay.after));
            }
            WebhookEvent::WebhookDisabled(disabled) => {
                self.state = WebhookState::Disabled {
                    reason: disabled.reason.clone(),
                    position: disabled.position,
                };
            }
            WebhookEvent::WebhookDeleted(_) => self.state = WebhookState::Deleted,
        }
        self.changed_at = event_time(event);
    }

    /// The name its delivery checkpoint is kept under: a replay starts a
    /// new one, so a delivery still running on the old one cannot move the
    /// replay's starting point.
    pub fn checkpoint_name(&self) -> String {
        match self.replay {
            Some((revision, _)) => format!("{CATEGORY}-{}/{revision}", self.id),
            None => format!("{CATEGORY}-{}", self.id),
        }
    }

    /// Where delivery starts when its checkpoint has never been saved.
    pub fn first_after(&self) -> u64 {
        self.replay.map_or(self.start_after, |(_, after)| after)
    }
}

fn event_time(event: &WebhookEvent) -> DateTime<Utc> {
    match event {
        WebhookEvent::WebhookCreated(e) => e.at,
        WebhookEvent::WebhookChanged(e) => e.at,
        WebhookEvent::WebhookPaused(e) => e.at,
        WebhookEvent::WebhookResumed(e) => e.at,
        WebhookEvent::WebhookSecretAdded(e) => e.at,
        WebhookEvent::WebhookSecretRemoved(e) => e.at,
        WebhookEvent::WebhookReplayRequested(e) => e.at,
        WebhookEvent::WebhookDisabled(e) => e.at,
        WebhookEvent::WebhookDeleted(e) => e.at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn created() -> WebhookEvent {
        WebhookCreated {
            url: "https://erp.example.com/hooks".into(),
            filter: WebhookFilter::default(),
            owner_key: "key-1".into(),
            description: None,
            start_after: 10,
            secret_id: Uuid::from_u128(1),
            at: at(),
        }
        .into()
    }

    #[test]
    fn a_replay_delivers_from_its_own_checkpoint() {
        let id = Uuid::from_u128(7);
        let events = [
            created(),
            WebhookReplayRequested { after: 3, at: at() }.into(),
        ];
        let webhook = Webhook::fold(id, &events).expect("created first");
        assert_eq!(webhook.first_after(), 3);
        assert_eq!(webhook.checkpoint_name(), format!("webhook-{id}/1"));
        let fresh = Webhook::fold(id, &events[..1]).expect("created first");
        assert_eq!(fresh.first_after(), 10);
        assert_eq!(fresh.checkpoint_name(), format!("webhook-{id}"));
    }

    #[test]
    fn secrets_rotate_and_a_disable_says_why() {
        let events = [
            created(),
            WebhookSecretAdded {
                secret_id: Uuid::from_u128(2),
                at: at(),
            }
            .into(),
            WebhookSecretRemoved {
                secret_id: Uuid::from_u128(1),
                at: at(),
            }
            .into(),
            WebhookDisabled {
                reason: "the target answered 410 Gone".into(),
                position: 12,
                at: at(),
            }
            .into(),
        ];
        let webhook = Webhook::fold(Uuid::nil(), &events).expect("created first");
        assert_eq!(webhook.secret_ids, vec![Uuid::from_u128(2)]);
        assert!(matches!(
            webhook.state,
            WebhookState::Disabled { position: 12, .. }
        ));
        assert_eq!(webhook.revision, 3);
    }

    #[test]
    fn a_stream_that_does_not_start_with_its_creation_is_no_subscription() {
        let events = [WebhookEvent::from(WebhookPaused { at: at() })];
        assert!(Webhook::fold(Uuid::nil(), &events).is_none());
    }

    #[test]
    fn an_empty_filter_passes_everything() {
        let filter = WebhookFilter {
            categories: vec!["case".into()],
            event_types: vec![],
        };
        assert!(filter.matches("case", "CaseRegistered"));
        assert!(!filter.matches("repair", "RepairOrdered"));
        assert!(WebhookFilter::default().matches("repair", "RepairOrdered"));
    }
}
