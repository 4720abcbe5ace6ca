//! Making and changing subscriptions: each change is checked, then
//! recorded as an event of the subscription's stream, appended onto the
//! revision it was decided on.

use std::sync::Arc;

use aftersales_domain::aggregate::DomainEvent;
use aftersales_domain::audit::{AuditEvent, SamplingAudit};
use aftersales_domain::case::{Case, CaseEvent};
use aftersales_domain::grant::{AccessGrant, GrantEvent};
use aftersales_domain::reminder::{ReminderEvent, UnpaidOrder};
use aftersales_domain::repair::{RepairEvent, RepairOrder};
use aftersales_domain::webhook::{
    self, Webhook, WebhookChanged, WebhookCreated, WebhookDeleted, WebhookDisabled, WebhookEvent,
    WebhookFilter, WebhookPaused, WebhookReplayRequested, WebhookResumed, WebhookSecretAdded,
    WebhookSecretRemoved, WebhookState,
};
use aftersales_domain::{Actor, Aggregate, Role};
use aftersales_store::{
    AllFilter, AllQuery, Direction, EventMetadata, EventStore, ExpectedRevision, NewEvent,
    Position, StoreError, StreamFrom, StreamName,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::{Delivery, WebhookDb};
use crate::error::WebhookError;
use crate::settings::Settings;
use crate::signing::Secret;

/// The categories whose events a subscription may be sent, with their
/// event types: the business of the shop. The product's own records
/// (policy, unmasked reads, the subscriptions themselves) are not sent.
pub const DELIVERED: &[(&str, &[&str])] = &[
    (Case::CATEGORY, CaseEvent::TYPES),
    (UnpaidOrder::CATEGORY, ReminderEvent::TYPES),
    (SamplingAudit::CATEGORY, AuditEvent::TYPES),
    (RepairOrder::CATEGORY, RepairEvent::TYPES),
    (AccessGrant::CATEGORY, GrantEvent::TYPES),
];

/// Most subscriptions one log may hold: each has a delivery task.
const MAX_SUBSCRIPTIONS: usize = 100;

/// What a subscriber asks for.
#[derive(Debug, Clone, Default)]
pub struct NewSubscription {
    pub url: String,
    pub filter: WebhookFilter,
    pub description: Option<String>,
    /// Start after this position instead of the head: the past too.
    pub start_after: Option<Position>,
}

/// A subscription made, with its first secret, shown this once.
#[derive(Debug)]
pub struct Created {
    pub webhook: Webhook,
    pub secret: String,
}

/// A change to a subscription's target or filter.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub url: Option<String>,
    pub filter: Option<WebhookFilter>,
    pub description: Option<String>,
}

/// One recorded change, for `history`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Recorded {
    pub revision: u64,
    pub position: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub at: DateTime<Utc>,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    /// The event's data as recorded (never a secret: events name secrets by id).
    pub data: serde_json::Value,
}

/// The subscriptions of one log.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    store: Arc<dyn EventStore>,
    db: WebhookDb,
    settings: Arc<Settings>,
}

impl Subscriptions {
    pub fn new(store: Arc<dyn EventStore>, db: WebhookDb, settings: Settings) -> Self {
        Self {
            store,
            db,
            settings: Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub(crate) fn db(&self) -> &WebhookDb {
        &self.db
    }

    /// Makes a subscription owned by the key `owner_key`.
    pub async fn create(
        &self,
        new: NewSubscription,
        owner_key: &str,
        actor: &Actor,
    ) -> Result<Created, WebhookError> {
        crate::target::check_url(&new.url, self.settings.allow_private_targets)?;
        check_filter(&new.filter)?;
        check_description(new.description.as_deref())?;
        let live = self.list().await?;
        if live.len() >= MAX_SUBSCRIPTIONS {
            return Err(WebhookError::Refused(format!(
                "a log holds at most {MAX_SUBSCRIPTIONS} subscriptions; delete one first"
            )));
        }
        let head = self.store.head().await?;
        let start_after = match new.start_after {
            Some(position) if position > head => {
                return Err(WebhookError::invalid(
                    "start_after",
                    &format!("is beyond the log's head ({head})"),
                ))
            }
            Some(position) => position,
            None => head,
        };
        let id = Uuid::now_v7();
        let (secret_id, secret) = (Uuid::new_v4(), Secret::generate());
        // The secret is stored before the event that names it: a crash in
        // between leaves an unused row, never a subscription without its secret.
        self.db.put_secret(id, secret_id, &secret).await?;
        let created = WebhookCreated {
            url: new.url,
            filter: new.filter,
            owner_key: owner_key.to_owned(),
            description: new.description,
            start_after,
            secret_id,
            at: Utc::now(),
        };
        let event = WebhookEvent::from(created);
        self.append(id, ExpectedRevision::NoStream, &event, actor)
            .await?;
        let webhook = Webhook::fold(id, [&event]).ok_or(WebhookError::NotFound(id))?;
        Ok(Created {
            webhook,
            secret: secret.expose(),
        })
    }

    /// A subscription as it stands (also a deleted one).
    pub async fn get(&self, id: Uuid) -> Result<Webhook, WebhookError> {
        let events = self.events(id).await?;
        Webhook::fold(id, events.iter().map(|(event, _)| event)).ok_or(WebhookError::NotFound(id))
    }

    /// Every subscription not deleted, oldest first.
    pub async fn list(&self) -> Result<Vec<Webhook>, WebhookError> {
        let mut streams: Vec<(Uuid, Vec<WebhookEvent>)> = Vec::new();
        let mut after = 0;
        loop {
            let query = AllQuery::forwards(after + 1, 1_000)
                .with_filter(AllFilter::category(webhook::CATEGORY));
            let page = self.store.read_all(&query).await?;
            for recorded in &page.events {
                let id = stream_id(&recorded.stream)?;
                let event = WebhookEvent::decode(&recorded.event_type, recorded.data.get())
                    .map_err(|e| WebhookError::Undecodable(e.to_string()))?;
                match streams.iter_mut().find(|(found, _)| *found == id) {
                    Some((_, events)) => events.push(event),
                    None => streams.push((id, vec![event])),
                }
            }
            after = page.scanned_to;
            if page.is_end {
                break;
            }
        }
        Ok(streams
            .iter()
            .filter_map(|(id, events)| Webhook::fold(*id, events))
            .filter(|webhook| webhook.state != WebhookState::Deleted)
            .collect())
    }

    /// Every change recorded, oldest first: who made it and when.
    pub async fn history(&self, id: Uuid) -> Result<Vec<Recorded>, WebhookError> {
        let events = self.events(id).await?;
        if events.is_empty() {
            return Err(WebhookError::NotFound(id));
        }
        Ok(events.into_iter().map(|(_, recorded)| recorded).collect())
    }

    pub async fn change(
        &self,
        id: Uuid,
        change: Change,
        actor: &Actor,
    ) -> Result<Webhook, WebhookError> {
        if let Some(url) = &change.url {
            crate::target::check_url(url, self.settings.allow_private_targets)?;
        }
        if let Some(filter) = &change.filter {
            check_filter(filter)?;
        }
        check_description(change.description.as_deref())?;
        if change.url.is_none() && change.filter.is_none() && change.description.is_none() {
            return Err(WebhookError::invalid(
                "body",
                "names nothing to change (url, filter, description, paused)",
            ));
        }
        self.decide(id, actor, |_| {
            Ok(WebhookChanged {
                url: change.url.clone(),
                filter: change.filter.clone(),
                description: change.description.clone(),
                at: Utc::now(),
            }
            .into())
        })
        .await
    }

    pub async fn pause(&self, id: Uuid, actor: &Actor) -> Result<Webhook, WebhookError> {
        self.decide(id, actor, |webhook| match webhook.state {
            WebhookState::Active => Ok(WebhookPaused { at: Utc::now() }.into()),
            _ => Err(refused(webhook, "paused")),
        })
        .await
    }

    /// Resumes a paused or disabled subscription where it stopped.
    pub async fn resume(&self, id: Uuid, actor: &Actor) -> Result<Webhook, WebhookError> {
        self.decide(id, actor, |webhook| match webhook.state {
            WebhookState::Paused | WebhookState::Disabled { .. } => {
                Ok(WebhookResumed { at: Utc::now() }.into())
            }
            _ => Err(refused(webhook, "resumed")),
        })
        .await
    }

    pub async fn delete(&self, id: Uuid, actor: &Actor) -> Result<Webhook, WebhookError> {
        let webhook = self
            .decide(id, actor, |_| Ok(WebhookDeleted { at: Utc::now() }.into()))
            .await?;
        for secret_id in &webhook.secret_ids {
            self.db.delete_secret(id, *secret_id).await?;
        }
        Ok(webhook)
    }

    /// Adds a secret for a rotation; returns its id and its text, shown once.
    pub async fn add_secret(
        &self,
        id: Uuid,
        actor: &Actor,
    ) -> Result<(Webhook, Uuid, String), WebhookError> {
        let (secret_id, secret) = (Uuid::new_v4(), Secret::generate());
        let current = self.get(id).await?;
        if current.secret_ids.len() >= 2 {
            return Err(WebhookError::Refused(
                "a subscription has at most two secrets: remove the old one first".into(),
            ));
        }
        self.db.put_secret(id, secret_id, &secret).await?;
        let webhook = self
            .decide(id, actor, |_| {
                Ok(WebhookSecretAdded {
                    secret_id,
                    at: Utc::now(),
                }
                .into())
            })
            .await?;
        Ok((webhook, secret_id, secret.expose()))
    }

    pub async fn remove_secret(
        &self,
        id: Uuid,
        secret_id: Uuid,
        actor: &Actor,
    ) -> Result<Webhook, WebhookError> {
        let webhook = self
            .decide(id, actor, |webhook| {
                if !webhook.secret_ids.contains(&secret_id) {
                    return Err(WebhookError::invalid(
                        "secret_id",
                        "is not one of the subscription's secrets",
                    ));
                }
                if webhook.secret_ids.len() == 1 {
                    return Err(WebhookError::Refused(
                        "the last secret cannot be removed: add its successor first".into(),
                    ));
                }
                Ok(WebhookSecretRemoved {
                    secret_id,
                    at: Utc::now(),
                }
                .into())
            })
            .await?;
        self.db.delete_secret(id, secret_id).await?;
        Ok(webhook)
    }

    /// Sends everything matching after `after` again.
    pub async fn replay(
        &self,
        id: Uuid,
        after: Position,
        actor: &Actor,
    ) -> Result<Webhook, WebhookError> {
        let head = self.store.head().await?;
        if after > head {
            return Err(WebhookError::invalid(
                "from_position",
                &format!("is beyond the log's head ({head})"),
            ));
        }
        self.decide(id, actor, |_| {
            Ok(WebhookReplayRequested {
                after,
                at: Utc::now(),
            }
            .into())
        })
        .await
    }

    /// The position after which events were recorded at or after `time`:
    /// a replay "since a time" starts there.
    pub async fn position_before(&self, time: DateTime<Utc>) -> Result<Position, WebhookError> {
        // Positions grow with recording time (and have no gaps): a binary
        // search finds the first event recorded at or after `time`.
        let (mut low, mut high) = (1, self.store.head().await? + 1);
        while low < high {
            let middle = low + (high - low) / 2;
            let page = self.store.read_all(&AllQuery::forwards(middle, 1)).await?;
            match page.events.first() {
                Some(event) if event.recorded_at < time => low = middle + 1,
                _ => high = middle,
            }
        }
        Ok(low - 1)
    }

    pub async fn deliveries(
        &self,
        id: Uuid,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Delivery>, WebhookError> {
        self.get(id).await?;
        self.db.deliveries(id, before, limit).await
    }

    /// The position up to which a subscription's events have been
    /// delivered (or passed over as not matching).
    pub async fn delivered_through(&self, webhook: &Webhook) -> Result<Position, WebhookError> {
        Ok(self
            .db
            .checkpoint(&webhook.checkpoint_name())
            .await?
            .unwrap_or_else(|| webhook.first_after()))
    }

    /// Stops a subscription on the dispatcher's behalf, saying why.
    pub(crate) async fn disable(
        &self,
        id: Uuid,
        reason: String,
        position: Position,
    ) -> Result<Webhook, WebhookError> {
        let actor = Actor::new("webhook-dispatcher", Role::System);
        self.decide(id, &actor, |webhook| match webhook.state {
            WebhookState::Active => Ok(WebhookDisabled {
                reason: reason.clone(),
                position,
                at: Utc::now(),
            }
            .into()),
            _ => Err(refused(webhook, "disabled")),
        })
        .await
    }

    /// Reads the subscription, decides the change on it and appends it
    /// onto the revision read.
    async fn decide(
        &self,
        id: Uuid,
        actor: &Actor,
        decide: impl Fn(&Webhook) -> Result<WebhookEvent, WebhookError>,
    ) -> Result<Webhook, WebhookError> {
        let mut webhook = self.get(id).await?;
        if webhook.state == WebhookState::Deleted {
            return Err(WebhookError::NotFound(id));
        }
        let event = decide(&webhook)?;
        self.append(id, ExpectedRevision::Exact(webhook.revision), &event, actor)
            .await?;
        webhook.evolve(&event);
        Ok(webhook)
    }

    async fn append(
        &self,
        id: Uuid,
        expected: ExpectedRevision,
        event: &WebhookEvent,
        actor: &Actor,
    ) -> Result<(), WebhookError> {
        let metadata = EventMetadata {
            actor_id: Some(actor.id.clone()),
            actor_role: Some(actor.role.as_str().to_owned()),
            schema_version: Some(WebhookEvent::SCHEMA_VERSION),
            ..EventMetadata::default()
        };
        let data = event
            .encode()
            .map_err(|e| WebhookError::Undecodable(e.to_string()))?;
        let data =
            serde_json::from_str(&data).map_err(|e| WebhookError::Undecodable(e.to_string()))?;
        let new = NewEvent::new(event.event_type(), data).with_metadata(metadata.to_value());
        match self.store.append(&stream(id)?, expected, vec![new]).await {
            Ok(_) => Ok(()),
            Err(StoreError::WrongExpectedRevision { .. }) => Err(WebhookError::Concurrent),
            Err(error) => Err(error.into()),
        }
    }

    async fn events(&self, id: Uuid) -> Result<Vec<(WebhookEvent, Recorded)>, WebhookError> {
        let stream = stream(id)?;
        let mut events = Vec::new();
        let mut from = StreamFrom::Start;
        loop {
            let page = self
                .store
                .read_stream(&stream, from, Direction::Forwards, 1_000)
                .await?;
            for recorded in &page {
                let event = WebhookEvent::decode(&recorded.event_type, recorded.data.get())
                    .map_err(|e| WebhookError::Undecodable(e.to_string()))?;
                let metadata: EventMetadata = recorded.metadata_as().unwrap_or_default();
                events.push((
                    event,
                    Recorded {
                        revision: recorded.revision,
                        position: recorded.position,
                        event_type: recorded.event_type.clone(),
                        at: recorded.recorded_at,
                        actor_id: metadata.actor_id,
                        actor_role: metadata.actor_role,
                        data: serde_json::from_str(recorded.data.get()).unwrap_or_default(),
                    },
                ));
            }
            match page.last() {
                Some(last) if page.len() == 1_000 => from = StreamFrom::Revision(last.revision + 1),
                _ => break,
            }
        }
        Ok(events)
    }
}

fn stream(id: Uuid) -> Result<StreamName, WebhookError> {
    StreamName::of(webhook::CATEGORY, id).map_err(|e| WebhookError::invalid("id", &e.to_string()))
}

fn stream_id(stream: &str) -> Result<Uuid, WebhookError> {
    stream
        .split_once('-')
        .and_then(|(_, id)| Uuid::parse_str(id).ok())
        .ok_or_else(|| {
            WebhookError::Undecodable(format!("stream {stream:?} names no subscription"))
        })
}

fn refused(webhook: &Webhook, what: &str) -> WebhookError {
    let state = match &webhook.state {
        WebhookState::Active => "active",
        WebhookState::Paused => "paused",
        WebhookState::Disabled { .. } => "disabled",
        WebhookState::Deleted => "deleted",
    };
    WebhookError::Refused(format!("a subscription that is {state} cannot be {what}"))
}

fn check_filter(filter: &WebhookFilter) -> Result<(), WebhookError> {
    if filter.categories.len() > 20 || filter.event_types.len() > 200 {
        return Err(WebhookError::invalid(
            "filter",
            "names too many categories or event types",
        ));
    }
    for category in &filter.categories {
        if !DELIVERED.iter().any(|(known, _)| known == category) {
            return Err(WebhookError::invalid(
                "filter.categories",
                &format!(
                    "{category:?} is not one of {}",
                    DELIVERED
                        .iter()
                        .map(|(c, _)| *c)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    for event_type in &filter.event_types {
        if !DELIVERED
            .iter()
            .any(|(_, types)| types.contains(&event_type.as_str()))
        {
            return Err(WebhookError::invalid(
                "filter.event_types",
                &format!("{event_type:?} is not an event type of the delivered categories"),
            ));
        }
    }
    Ok(())
}

fn check_description(description: Option<&str>) -> Result<(), WebhookError> {
    match description {
        Some(text) if text.chars().count() > 500 => Err(WebhookError::invalid(
            "description",
            "is longer than 500 characters",
        )),
        _ => Ok(()),
    }
}

/// The filter the dispatcher reads the log with: the subscription's own,
/// narrowed to the delivered categories.
pub(crate) fn log_filter(filter: &WebhookFilter) -> AllFilter {
    AllFilter {
        categories: if filter.categories.is_empty() {
            DELIVERED.iter().map(|(c, _)| (*c).to_owned()).collect()
        } else {
            filter.categories.clone()
        },
        event_types: filter.event_types.clone(),
    }
}
