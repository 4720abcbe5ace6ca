//! A stored event decoded once for every projection that reads it.

use aftersales_domain::audit::{AuditEvent, SamplingAudit};
use aftersales_domain::case::{Case, CaseEvent};
use aftersales_domain::grant::{AccessGrant, GrantEvent};
use aftersales_domain::reminder::{ReminderEvent, UnpaidOrder};
use aftersales_domain::repair::{RepairEvent, RepairOrder};
use aftersales_domain::streams::{PolicyEvent, POLICY, POLICY_STREAM};
use aftersales_domain::{Aggregate, DomainEvent};
use aftersales_store::{
    Direction, EventMetadata, EventStore, Position, RecordedEvent, Revision, StreamFrom,
    StreamName, MAX_READ_LIMIT,
};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
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
    /// The shop's time zone by the policy in force at this event: the one
    /// its business days are counted in.
    pub time_zone: Tz,
    pub event: AnyEvent,
}

impl Envelope {
    /// Decodes an event of a followed category; `None` for streams the read
    /// models do not follow (for example events appended by hand with the CLI).
    pub fn decode(
        recorded: &RecordedEvent,
        zones: &Zones,
    ) -> Result<Option<Self>, ProjectionError> {
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
            time_zone: zones.at(recorded.position),
            event,
        }))
    }

    /// The business day a moment of this event falls on, in the shop's time zone.
    pub fn local_day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone).date_naive()
    }

    /// Who did it, as the reports name them.
    pub fn actor(&self) -> &str {
        self.actor_id.as_deref().unwrap_or("unknown")
    }
}

/// The zone of events recorded before the log recorded the shop's policy:
/// they were decided under the SOP's calendar, in China time.
const SOP_TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// The shop's time zone at each position of the log, from the policies it
/// recorded. Before the first policy, the first one's zone applies.
#[derive(Debug, Clone, Default)]
pub struct Zones(Vec<(Position, Tz)>);

impl Zones {
    /// Every zone the policy stream recorded.
    pub async fn load(store: &dyn EventStore) -> Result<Self, ProjectionError> {
        let stream = StreamName::new(POLICY_STREAM).map_err(aftersales_store::StoreError::from)?;
        let mut zones = Zones::default();
        let mut from = StreamFrom::Start;
        loop {
            let page = store
                .read_stream(&stream, from, Direction::Forwards, MAX_READ_LIMIT)
                .await?;
            for event in &page {
                zones.observe(event)?;
            }
            match page.last() {
                Some(last) if page.len() == MAX_READ_LIMIT => {
                    from = StreamFrom::Revision(last.revision + 1);
                }
                _ => return Ok(zones),
            }
        }
    }

    /// Takes note of a policy event of the log; any other event is ignored.
    pub fn observe(&mut self, recorded: &RecordedEvent) -> Result<(), ProjectionError> {
        if recorded.category() != POLICY
            || self.0.last().is_some_and(|(p, _)| *p >= recorded.position)
        {
            return Ok(());
        }
        let PolicyEvent::PolicyChanged(changed) =
            PolicyEvent::decode(&recorded.event_type, recorded.data.get()).map_err(|e| {
                ProjectionError::Undecodable {
                    position: recorded.position,
                    event_type: recorded.event_type.clone(),
                    reason: e.to_string(),
                }
            })?;
        self.0
            .push((recorded.position, changed.policy.calendar.time_zone));
        Ok(())
    }

    fn at(&self, position: Position) -> Tz {
        let index = self.0.partition_point(|(p, _)| *p <= position);
        self.0
            .get(index.saturating_sub(1))
            .map_or(SOP_TIME_ZONE, |(_, zone)| *zone)
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
