//! The streams of the log that the product writes itself, and what their
//! events must look like.
//!
//! A stream of an owned category is written only through the product's own
//! paths (a command, the record of an unmasked read, an operator's decision
//! on a read model), which check the rules and name who acted. The doors
//! that append raw events (`aftersales events append`, the gRPC endpoint)
//! refuse these categories, and `events import` checks every event of them
//! with [`check_stored`]. Every other category is free for operators and
//! KurrentDB clients.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::actor::Role;
use crate::aggregate::{Aggregate, DecodeError, DomainEvent};
use crate::audit::{AuditEvent, SamplingAudit};
use crate::case::{Case, CaseEvent};
use crate::grant::{AccessGrant, GrantEvent};
use crate::policy::Policy;
use crate::reminder::{ReminderEvent, UnpaidOrder};
use crate::repair::{RepairEvent, RepairOrder};
use crate::webhook::{self, WebhookEvent};

/// `pdview-<case id>`: every unmasked read of a case's personal data
/// outside one's own cases (客户信息借阅记录).
pub const PERSONAL_DATA_VIEWS: &str = "pdview";

/// `readmodel-<name>`: operators' decisions on a read model, such as an
/// event skipped for good.
pub const READ_MODEL_RECORDS: &str = "readmodel";

/// `policy-shop`: each policy the shop put in force, in order.
pub const POLICY: &str = "policy";
/// The shop's one policy stream.
pub const POLICY_STREAM: &str = "policy-shop";

/// `clock-shop`: a sandbox store's clock. A store is a sandbox when the
/// first event of its log is `SandboxOpened`, so that the mark can only be
/// set on a new store, never added to one with a history.
pub const CLOCK: &str = "clock";
/// The sandbox's one clock stream.
pub const CLOCK_STREAM: &str = "clock-shop";

/// Every category the product owns, named once.
pub const OWNED_CATEGORIES: &[&str] = &[
    Case::CATEGORY,
    UnpaidOrder::CATEGORY,
    SamplingAudit::CATEGORY,
    RepairOrder::CATEGORY,
    AccessGrant::CATEGORY,
    PERSONAL_DATA_VIEWS,
    READ_MODEL_RECORDS,
    POLICY,
    CLOCK,
    webhook::CATEGORY,
];

/// Whether streams of `category` are written only through the product.
pub fn is_owned(category: &str) -> bool {
    OWNED_CATEGORIES.contains(&category)
}

/// The category of a stream name: the part before the first `-`.
fn category_of(stream: &str) -> &str {
    stream
        .split_once('-')
        .map_or(stream, |(category, _)| category)
}

crate::domain_events! {
    /// The record of unmasked reads.
    pub enum PrivacyEvent {
        PersonalDataViewed = "PersonalDataViewed",
    }
}

/// One unmasked read of a case's personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalDataViewed {
    pub case_id: Uuid,
    /// The customer, masked: the record itself must not spread the data.
    pub customer: String,
    /// The access grant it was read under, if any.
    pub grant_id: Option<Uuid>,
    /// What was read: `case` or `history`.
    pub read: String,
    pub at: DateTime<Utc>,
}

crate::domain_events! {
    /// Operators' decisions on a read model.
    pub enum ReadModelEvent {
        ParkedEventSkipped = "ParkedEventSkipped",
    }
}

/// An event a read model could not apply, skipped for good: rebuilds pass
/// over it too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParkedEventSkipped {
    pub projection: String,
    /// The skipped event's global position and id.
    pub position: u64,
    pub event_id: Uuid,
    pub reason: String,
    pub at: DateTime<Utc>,
}

crate::domain_events! {
    /// The shop's policy, as it changed.
    pub enum PolicyEvent {
        PolicyChanged = "PolicyChanged",
    }
}

/// A policy put in force: from this event's position on, decisions are
/// taken under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyChanged {
    /// The whole policy, not a difference: one event says what was in force.
    pub policy: Policy,
    /// [`Policy::digest`], which the events decided under it name.
    pub digest: String,
    /// The digest of the policy it replaced, if any.
    pub previous: Option<String>,
    pub at: DateTime<Utc>,
}

crate::domain_events! {
    /// A sandbox store's clock, as an administrator set it.
    pub enum ClockEvent {
        SandboxOpened = "SandboxOpened",
        ClockSet = "ClockSet",
    }
}

/// The store was made a sandbox: its clock may be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxOpened {
    pub at: DateTime<Utc>,
}

/// The sandbox's clock reads `to` from the moment `at` (wall-clock time),
/// and runs on from there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSet {
    pub to: DateTime<Utc>,
    /// What it read just before: never later than `to`.
    pub previous: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// Why an event cannot stand in an owned stream.
#[derive(Debug, thiserror::Error)]
pub enum StoredEventError {
    #[error("stream {0:?} is not named <category>-<uuid>")]
    StreamId(String),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("its policy cannot be put in force: {0}")]
    Policy(String),
    #[error("its metadata names no actor (actor_id)")]
    NoActor,
    #[error("its metadata names no known role (actor_role): {0:?}")]
    NoRole(Option<String>),
}

/// Checks an event recorded elsewhere (an import) against what the product
/// itself would have written in `stream`: a known event type of the
/// stream's category whose data decodes, and an actor with a role. Events
/// of categories the product does not own pass unchecked.
pub fn check_stored(
    stream: &str,
    event_type: &str,
    data: &str,
    actor_id: Option<&str>,
    actor_role: Option<&str>,
) -> Result<(), StoredEventError> {
    let category = category_of(stream);
    if !is_owned(category) {
        return Ok(());
    }
    let id = stream.split_once('-').map_or("", |(_, id)| id);
    let named = category == READ_MODEL_RECORDS || stream == POLICY_STREAM || stream == CLOCK_STREAM;
    if !named && Uuid::parse_str(id).is_err() {
        return Err(StoredEventError::StreamId(stream.to_owned()));
    }
    match category {
        "case" => CaseEvent::decode(event_type, data).map(drop)?,
        "unpaid" => ReminderEvent::decode(event_type, data).map(drop)?,
        "audit" => AuditEvent::decode(event_type, data).map(drop)?,
        "repair" => RepairEvent::decode(event_type, data).map(drop)?,
        "grant" => GrantEvent::decode(event_type, data).map(drop)?,
        PERSONAL_DATA_VIEWS => PrivacyEvent::decode(event_type, data).map(drop)?,
        CLOCK => ClockEvent::decode(event_type, data).map(drop)?,
        webhook::CATEGORY => WebhookEvent::decode(event_type, data).map(drop)?,
        POLICY => {
            let PolicyEvent::PolicyChanged(changed) = PolicyEvent::decode(event_type, data)?;
            check_policy(&changed).map_err(StoredEventError::Policy)?;
        }
        _ => ReadModelEvent::decode(event_type, data).map(drop)?,
    }
    if actor_id.is_none_or(|id| id.trim().is_empty()) {
        return Err(StoredEventError::NoActor);
    }
    match actor_role.map(str::parse::<Role>) {
        Some(Ok(_)) => Ok(()),
        _ => Err(StoredEventError::NoRole(actor_role.map(str::to_owned))),
    }
}

/// A recorded policy must be one the product would have put in force: valid,
/// and named by its own digest.
fn check_policy(changed: &PolicyChanged) -> Result<(), String> {
    changed.policy.validate().map_err(|e| e.to_string())?;
    if changed.policy.digest() != changed.digest {
        return Err("its digest is not the policy's".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aggregate_category_is_owned() {
        for category in ["case", "unpaid", "audit", "repair", "grant", "pdview"] {
            assert!(is_owned(category), "{category}");
        }
        assert!(!is_owned("parcel"));
        assert!(!is_owned("caseload"));
    }

    #[test]
    fn an_event_of_another_category_passes_unchecked() {
        check_stored("parcel-1", "Anything", "not json", None, None).unwrap();
    }

    #[test]
    fn a_case_event_that_does_not_decode_is_refused() {
        let stream = format!("case-{}", Uuid::nil());
        let error = check_stored(
            &stream,
            "CaseRegistered",
            r#"{"customer":"张三"}"#,
            Some("a"),
            Some("agent"),
        )
        .unwrap_err();
        assert!(matches!(error, StoredEventError::Decode(_)), "{error}");
        let error =
            check_stored(&stream, "NoSuchEvent", "{}", Some("a"), Some("agent")).unwrap_err();
        assert!(matches!(
            error,
            StoredEventError::Decode(DecodeError::UnknownType(_))
        ));
    }

    #[test]
    fn an_owned_stream_needs_an_aggregate_id_an_actor_and_a_role() {
        let viewed = serde_json::json!({
            "case_id": Uuid::nil(), "customer": "138****5678", "grant_id": null,
            "read": "case", "at": "2026-11-30T08:00:00Z"
        })
        .to_string();
        let stream = format!("pdview-{}", Uuid::nil());
        check_stored(
            &stream,
            "PersonalDataViewed",
            &viewed,
            Some("sup-1"),
            Some("supervisor"),
        )
        .unwrap();
        assert!(matches!(
            check_stored(
                "pdview-42",
                "PersonalDataViewed",
                &viewed,
                Some("s"),
                Some("supervisor")
            ),
            Err(StoredEventError::StreamId(_))
        ));
        assert!(matches!(
            check_stored(
                &stream,
                "PersonalDataViewed",
                &viewed,
                None,
                Some("supervisor")
            ),
            Err(StoredEventError::NoActor)
        ));
        assert!(matches!(
            check_stored(
                &stream,
                "PersonalDataViewed",
                &viewed,
                Some("s"),
                Some("boss")
            ),
            Err(StoredEventError::NoRole(_))
        ));
    }
}
