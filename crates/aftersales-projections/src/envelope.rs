//! A stored event decoded once for every projection that reads it.

use aftersales_domain::audit::{AuditEvent, SamplingAudit};
use aftersales_domain::case::{Case, CaseEvent};
use aftersales_domain::grant::{AccessGrant, GrantEvent};
use aftersales_domain::reminder::{ReminderEvent, UnpaidOrder};
use aftersales_domain::repair::{RepairEvent, RepairOrder};
use aftersales_domain::{Aggregate, DomainEvent};
use aftersales_store::{EventMetadata, Position, RecordedEvent, Revision};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::ProjectionError;

/// The stream categories the read models follow: the aggregates'.
pub const CATEGORIES: &[&str] = &[
    Case::CATEGORY,
    UnpaidOrder::CATEGORY,
    SamplingAudit::CATEGORY,
    RepairOrder::CATEGORY,
    AccessGrant::CATEGORY,
];

/// A domain event of any aggregate.
// Case events are most of the log: boxing them would cost an allocation
// for nearly every event to save memory on the few others.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AnyEvent {
    Case(CaseEvent),
    Reminder(ReminderEvent),
    Audit(AuditEvent),
    Repair(RepairEvent),
    Grant(GrantEvent),
}

impl AnyEvent {
    /// The stored type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Case(event) => event.event_type(),
            Self::Reminder(event) => event.event_type(),
            Self::Audit(event) => event.event_type(),
            Self::Repair(event) => event.event_type(),
            Self::Grant(event) => event.event_type(),
        }
    }
}

/// A decoded event with where and by whom it was recorded.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub position: Position,
    pub revision: Revision,
    pub event_id: Uuid,
    /// The aggregate's id: the part of the stream name after the category.
    pub aggregate_id: Uuid,
    pub stream: String,
    pub recorded_at: DateTime<Utc>,
    /// When it happened in the business's time: the event's own `at`
    /// (or registration, call or order time), else when it was recorded.
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub event: AnyEvent,
}

impl Envelope {
    /// Decodes an event of a followed category; `None` for streams the read
    /// models do not follow (for example events appended by hand with the CLI).
    pub fn decode(recorded: &RecordedEvent) -> Result<Option<Self>, ProjectionError> {
        let category = recorded.category();
        if !CATEGORIES.contains(&category) {
            return Ok(None);
        }
        let fail = |reason: String| ProjectionError::Undecodable {
            position: recorded.position,
            event_type: recorded.event_type.clone(),
            reason,
        };
        let id = recorded
            .stream
            .split_once('-')
            .map(|(_, id)| id)
            .unwrap_or_default();
        let aggregate_id = Uuid::parse_str(id).map_err(|e| fail(format!("stream id: {e}")))?;
        let data = recorded.data.get();
        let kind = recorded.event_type.as_str();
        let event = match category {
            "case" => CaseEvent::decode(kind, data).map(AnyEvent::Case),
            "unpaid" => ReminderEvent::decode(kind, data).map(AnyEvent::Reminder),
            "audit" => AuditEvent::decode(kind, data).map(AnyEvent::Audit),
            "repair" => RepairEvent::decode(kind, data).map(AnyEvent::Repair),
            _ => GrantEvent::decode(kind, data).map(AnyEvent::Grant),
        }
        .map_err(|e| fail(e.to_string()))?;
        // Metadata is advisory for read models: a missing actor shows as unknown.
        let times: EventTimes = serde_json::from_str(data).map_err(|e| fail(e.to_string()))?;
        let occurred_at = times
            .at
            .or(times.registered_at)
            .or(times.called_at)
            .or(times.ordered_at)
            .unwrap_or(recorded.recorded_at);
        let metadata: EventMetadata =
            serde_json::from_str(recorded.metadata.get()).unwrap_or_default();
        Ok(Some(Self {
            position: recorded.position,
            revision: recorded.revision,
            event_id: recorded.id,
            aggregate_id,
            stream: recorded.stream.clone(),
            recorded_at: recorded.recorded_at,
            occurred_at,
            actor_id: metadata.actor_id,
            actor_role: metadata.actor_role,
            event,
        }))
    }

    /// Who did it, as the reports name them.
    pub fn actor(&self) -> &str {
        self.actor_id.as_deref().unwrap_or("unknown")
    }
}

/// The time fields events carry, read without knowing the event's type.
#[derive(Debug, serde::Deserialize)]
struct EventTimes {
    at: Option<DateTime<Utc>>,
    registered_at: Option<DateTime<Utc>>,
    called_at: Option<DateTime<Utc>>,
    ordered_at: Option<DateTime<Utc>>,
}
