//! The monthly revisit sampling audit (回访抽查 SOP). Stream `audit-<id>`.
//!
//! The sample is drawn from a seed with a generator defined here, so that
//! anyone can draw it again from the recorded seed and population and get
//! the same customers: the audit itself can be audited.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context};
use crate::calendar::{in_windows, minute_of_day};
use crate::error::DomainError;
use crate::model::{check_optional, require_short};
use crate::policy::Policy;

/// Unanswered attempts, in different time slots, before a customer is left out.
const ATTEMPTS_BEFORE_EXCLUSION: usize = 3;
/// The score of a customer who answers and refuses.
const REFUSED_SCORE: u8 = 3;
/// The largest population a draw takes.
const MAX_POPULATION: usize = 100_000;
/// The SOP's target, 4.0, for audits drawn before the log recorded each policy.
const SOP_TARGET_TENTHS: u32 = 40;

/// `sum / count` in hundredths, rounded half up: 4.125 is 4.13, as a
/// person rounds and as the reports print it.
pub fn hundredths_half_up(sum: u64, count: u64) -> u64 {
    (sum * 200 + count) / (2 * count)
}

crate::domain_commands! {
    pub enum AuditCommand {
        DrawSample => [Supervisor],
        RecordAuditCall => [Agent, Supervisor],
        CloseAudit => [Supervisor],
    }
}

crate::domain_events! {
    pub enum AuditEvent {
        AuditSampleDrawn = "AuditSampleDrawn",
        AuditCallRecorded = "AuditCallRecorded",
        AuditCustomerScored = "AuditCustomerScored",
        AuditCustomerExcluded = "AuditCustomerExcluded",
        AuditClosed = "AuditClosed",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawSample {
    /// `YYYY-MM`
    pub month: String,
    pub seed: u64,
    /// Customers to draw from (issue register, parcel register, reviewers,
    /// VIPs), by a stable key such as the buyer id.
    pub population: Vec<String>,
    pub size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AuditCallOutcome {
    Answered {
        score: u8,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Answered but would not take part: scored 3.
    Refused,
    NoAnswer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordAuditCall {
    pub customer: String,
    pub called_at: DateTime<Utc>,
    pub outcome: AuditCallOutcome,
    /// The agent whose service the customer rates (the audit's scores
    /// count for them: 作为奖惩依据).
    #[serde(default)]
    pub agent: Option<String>,
    /// A complaint the customer made that could not be settled on the
    /// call (如遇用户投诉,无法当场处理): it goes on the month's complaint
    /// table, to be taken up as a case.
    #[serde(default)]
    pub complaint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseAudit {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditSampleDrawn {
    pub month: String,
    pub seed: u64,
    pub population: Vec<String>,
    pub drawn: Vec<String>,
    pub at: DateTime<Utc>,
    /// The month's satisfaction target in tenths, by the policy in force
    /// when the sample was drawn. Absent in events recorded before policies
    /// were: those ran under the SOP's 4.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_tenths: Option<u32>,
}

impl AuditSampleDrawn {
    /// The month's target in tenths.
    pub fn target(&self) -> u32 {
        self.target_tenths.unwrap_or(SOP_TARGET_TENTHS)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditCallRecorded {
    pub customer: String,
    pub called_at: DateTime<Utc>,
    /// `YYYY-MM-DD morning|afternoon|evening` in the team's local time.
    pub slot: String,
    pub outcome: AuditCallOutcome,
    pub caller: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complaint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditCustomerScored {
    pub customer: String,
    pub score: u8,
    pub refused: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditCustomerExcluded {
    pub customer: String,
    pub attempts: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditClosed {
    pub sampled: usize,
    pub scored: usize,
    pub excluded: usize,
    pub refused: usize,
    pub score_sum: u32,
    /// Satisfaction = sum / scored, in hundredths rounded half up (412 = 4.12),
    /// as the reports show it.
    pub satisfaction_hundredths: Option<u32>,
    pub target_met: bool,
    pub at: DateTime<Utc>,
}

/// One month's sampling audit.
#[derive(Debug, Clone, Default)]
pub struct SamplingAudit {
    pub drawn: BTreeSet<String>,
    pub scores: BTreeMap<String, (u8, bool)>,
    pub excluded: BTreeSet<String>,
    pub unanswered_slots: BTreeMap<String, BTreeSet<String>>,
    /// The month's target in tenths, set when the sample was drawn.
    pub target_tenths: u32,
    pub closed: bool,
}

impl Aggregate for SamplingAudit {
    const CATEGORY: &'static str = "audit";
    type Command = AuditCommand;
    type Event = AuditEvent;

    fn decide(
        &self,
        command: &AuditCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<AuditEvent>, DomainError> {
        if self.closed {
            return Err(DomainError::AuditClosed);
        }
        match command {
            AuditCommand::DrawSample(c) => {
                if !self.drawn.is_empty() {
                    return Err(DomainError::SampleAlreadyDrawn);
                }
                check_month(&c.month)?;
                let min = ctx.policy.audit.min_sample;
                if c.size < min {
                    return Err(DomainError::SampleTooSmall { size: c.size, min });
                }
                if c.population.len() > MAX_POPULATION {
                    return Err(DomainError::invalid(
                        "population",
                        format!("at most {MAX_POPULATION} customers"),
                    ));
                }
                for key in &c.population {
                    require_short("population", key)?;
                }
                // Never the same customer twice.
                let population: Vec<String> = c
                    .population
                    .iter()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if population.len() < c.size {
                    return Err(DomainError::PopulationTooSmall {
                        size: c.size,
                        available: population.len(),
                    });
                }
                let drawn = draw(&population, c.seed, c.size);
                Ok(vec![AuditSampleDrawn {
                    month: c.month.clone(),
                    seed: c.seed,
                    population,
                    drawn,
                    at: ctx.now,
                    target_tenths: Some(ctx.policy.audit.target_tenths),
                }
                .into()])
            }
            AuditCommand::RecordAuditCall(c) => {
                if self.drawn.is_empty() {
                    return Err(DomainError::SampleNotDrawn);
                }
                if !self.drawn.contains(&c.customer) {
                    return Err(DomainError::NotInSample);
                }
                if self.scores.contains_key(&c.customer) || self.excluded.contains(&c.customer) {
                    return Err(DomainError::AlreadyScored);
                }
                let slot =
                    call_slot(ctx.policy, c.called_at).ok_or(DomainError::OutsideCallWindow)?;
                if let Some(agent) = &c.agent {
                    require_short("agent", agent)?;
                }
                check_optional("complaint", &c.complaint)?;
                if c.complaint.is_some() && matches!(c.outcome, AuditCallOutcome::NoAnswer) {
                    return Err(DomainError::invalid(
                        "complaint",
                        "a call nobody answered raises no complaint",
                    ));
                }
                let complaint = c.complaint.clone().filter(|text| !text.trim().is_empty());
                let mut events = vec![AuditEvent::from(AuditCallRecorded {
                    customer: c.customer.clone(),
                    called_at: c.called_at,
                    slot: slot.clone(),
                    outcome: c.outcome.clone(),
                    caller: ctx.actor.id.clone(),
                    agent: c.agent.clone(),
                    complaint,
                })];
                match &c.outcome {
                    AuditCallOutcome::Answered { score, reason } => {
                        if !(1..=5).contains(score) {
                            return Err(DomainError::ScoreOutOfRange { score: *score });
                        }
                        check_optional("outcome.reason", reason)?;
                        if *score < 5 && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                            return Err(DomainError::LowScoreNeedsReason);
                        }
                        events.push(
                            AuditCustomerScored {
                                customer: c.customer.clone(),
                                score: *score,
                                refused: false,
                                reason: reason.clone(),
                            }
                            .into(),
                        );
                    }
                    AuditCallOutcome::Refused => {
                        events.push(
                            AuditCustomerScored {
                                customer: c.customer.clone(),
                                score: REFUSED_SCORE,
                                refused: true,
                                reason: None,
                            }
                            .into(),
                        );
                    }
                    AuditCallOutcome::NoAnswer => {
                        let mut slots = self
                            .unanswered_slots
                            .get(&c.customer)
                            .cloned()
                            .unwrap_or_default();
                        slots.insert(slot);
                        if slots.len() >= ATTEMPTS_BEFORE_EXCLUSION {
                            events.push(
                                AuditCustomerExcluded {
                                    customer: c.customer.clone(),
                                    attempts: slots.len(),
                                }
                                .into(),
                            );
                        }
                    }
                }
                Ok(events)
            }
            AuditCommand::CloseAudit(_) => {
                if self.drawn.is_empty() {
                    return Err(DomainError::SampleNotDrawn);
                }
                let scored = self.scores.len();
                let score_sum: u32 = self.scores.values().map(|(s, _)| u32::from(*s)).sum();
                let satisfaction_hundredths = (scored > 0).then(|| {
                    // At most 5 × 100,000 × 100: well inside a u32.
                    hundredths_half_up(u64::from(score_sum), scored as u64) as u32
                });
                Ok(vec![AuditClosed {
                    sampled: self.drawn.len(),
                    scored,
                    excluded: self.excluded.len(),
                    refused: self.scores.values().filter(|(_, refused)| *refused).count(),
                    score_sum,
                    satisfaction_hundredths,
                    target_met: satisfaction_hundredths
                        .is_some_and(|s| s >= self.target_tenths * 10),
                    at: ctx.now,
                }
                .into()])
            }
        }
    }

    fn evolve(&mut self, event: &AuditEvent) {
        match event {
            AuditEvent::AuditSampleDrawn(e) => {
                self.drawn = e.drawn.iter().cloned().collect();
                self.target_tenths = e.target();
            }
            AuditEvent::AuditCallRecorded(e) => {
                if e.outcome == AuditCallOutcome::NoAnswer {
                    self.unanswered_slots
                        .entry(e.customer.clone())
                        .or_default()
                        .insert(e.slot.clone());
                }
            }
            AuditEvent::AuditCustomerScored(e) => {
                self.scores.insert(e.customer.clone(), (e.score, e.refused));
            }
            AuditEvent::AuditCustomerExcluded(e) => {
                self.excluded.insert(e.customer.clone());
            }
            AuditEvent::AuditClosed(_) => self.closed = true,
        }
    }
}

fn check_month(month: &str) -> Result<(), DomainError> {
    let ok = month.len() == 7
        && chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_ok();
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid("month", "is YYYY-MM"))
    }
}

/// Draws `size` keys from the sorted, distinct `population`: a Fisher-Yates
/// shuffle driven by SplitMix64 from `seed`. Both are fixed here, so the draw
/// never changes with a library version.
pub fn draw(population: &[String], seed: u64, size: usize) -> Vec<String> {
    let mut keys: Vec<String> = population.to_vec();
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let n = keys.len();
    for i in 0..size.min(n) {
        let j = i + (next() % (n - i) as u64) as usize;
        keys.swap(i, j);
    }
    keys.truncate(size.min(n));
    keys
}

/// The time slot of an audit call, or `None` outside the windows the
/// policy allows (by default weekdays 09:00-12:00 and 13:00-20:00, days of
/// rest 10:00-12:00 and 13:00-20:00, local time). Slots are the morning,
/// the afternoon (from 12:00) and the evening (from 17:00) of a local day.
pub fn call_slot(policy: &Policy, at: DateTime<Utc>) -> Option<String> {
    let calendar = &policy.calendar;
    let local = at.with_timezone(&calendar.time_zone);
    let day = local.date_naive();
    let windows = if calendar.is_rest_day(day) {
        &policy.audit.rest_day_windows
    } else {
        &policy.audit.working_day_windows
    };
    if !in_windows(windows, &local) {
        return None;
    }
    let slot = match minute_of_day(&local) {
        ..720 => "morning",
        720..1020 => "afternoon",
        _ => "evening",
    };
    Some(format!("{day} {slot}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{apply, t, when};
    use crate::Role;

    const LEAD: (&str, Role) = ("sup-1", Role::Supervisor);
    const AGENT: (&str, Role) = ("agent-2", Role::Agent);

    fn population(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("buyer-{i:03}")).collect()
    }

    fn drawn(size: usize) -> (Vec<AuditEvent>, Vec<String>) {
        let mut history = Vec::new();
        let events = apply::<SamplingAudit>(
            &mut history,
            DrawSample {
                month: "2026-03".into(),
                seed: 42,
                population: population(120),
                size,
            },
            LEAD,
            t("2026-03-20T02:00:00Z"),
        );
        let AuditEvent::AuditSampleDrawn(sample) = &events[0] else {
            panic!("a draw")
        };
        (history, sample.drawn.clone())
    }

    #[test]
    fn the_sample_is_at_least_50_distinct_customers_and_drawn_reproducibly() {
        let too_small = DrawSample {
            month: "2026-03".into(),
            seed: 1,
            population: population(120),
            size: 49,
        };
        assert_eq!(
            when::<SamplingAudit>(&[], too_small, LEAD, t("2026-03-20T02:00:00Z")),
            Err(DomainError::SampleTooSmall { size: 49, min: 50 })
        );
        let mut twice = population(30);
        twice.extend(population(30));
        let duplicates = DrawSample {
            month: "2026-03".into(),
            seed: 1,
            population: twice,
            size: 50,
        };
        assert_eq!(
            when::<SamplingAudit>(&[], duplicates, LEAD, t("2026-03-20T02:00:00Z")),
            Err(DomainError::PopulationTooSmall {
                size: 50,
                available: 30
            })
        );
        let (_, first) = drawn(50);
        let (_, again) = drawn(50);
        assert_eq!(first, again);
        assert_eq!(first.iter().collect::<BTreeSet<_>>().len(), 50);
        assert_ne!(first, draw(&population(120), 43, 50));
    }

    #[test]
    fn satisfaction_is_rounded_half_up_as_a_person_rounds() {
        assert_eq!(hundredths_half_up(33, 8), 413); // 4.125
        assert_eq!(hundredths_half_up(2, 3), 67); // 0.666…
        assert_eq!(hundredths_half_up(13, 3), 433); // 4.333…
        assert_eq!(hundredths_half_up(4, 1), 400);
    }

    #[test]
    fn calls_are_made_only_in_the_allowed_windows() {
        let (history, sample) = drawn(50);
        let call = |at| RecordAuditCall {
            customer: sample[0].clone(),
            called_at: t(at),
            outcome: AuditCallOutcome::Answered {
                score: 5,
                reason: None,
            },
            agent: None,
            complaint: None,
        };
        // Friday 2026-03-20 12:30 China time: lunch break.
        assert_eq!(
            when::<SamplingAudit>(
                &history,
                call("2026-03-20T04:30:00Z"),
                AGENT,
                t("2026-03-20T12:00:00Z")
            ),
            Err(DomainError::OutsideCallWindow)
        );
        // Saturday 09:30: before the holiday window opens.
        assert_eq!(
            when::<SamplingAudit>(
                &history,
                call("2026-03-21T01:30:00Z"),
                AGENT,
                t("2026-03-21T12:00:00Z")
            ),
            Err(DomainError::OutsideCallWindow)
        );
        // Friday 09:30 is fine.
        assert!(when::<SamplingAudit>(
            &history,
            call("2026-03-20T01:30:00Z"),
            AGENT,
            t("2026-03-20T12:00:00Z")
        )
        .is_ok());
    }

    #[test]
    fn three_unanswered_attempts_in_different_slots_exclude_a_customer() {
        let (mut history, sample) = drawn(50);
        let no_answer = |at: &str| RecordAuditCall {
            customer: sample[1].clone(),
            called_at: t(at),
            outcome: AuditCallOutcome::NoAnswer,
            agent: None,
            complaint: None,
        };
        let now = t("2026-03-25T12:00:00Z");
        apply::<SamplingAudit>(&mut history, no_answer("2026-03-20T01:30:00Z"), AGENT, now);
        // The same slot again does not count twice.
        let same_slot =
            apply::<SamplingAudit>(&mut history, no_answer("2026-03-20T02:30:00Z"), AGENT, now);
        assert_eq!(same_slot.len(), 1);
        apply::<SamplingAudit>(&mut history, no_answer("2026-03-20T06:00:00Z"), AGENT, now);
        let third =
            apply::<SamplingAudit>(&mut history, no_answer("2026-03-20T10:00:00Z"), AGENT, now);
        assert!(matches!(&third[1], AuditEvent::AuditCustomerExcluded(e) if e.attempts == 3));
        assert_eq!(
            when::<SamplingAudit>(&history, no_answer("2026-03-23T01:30:00Z"), AGENT, now),
            Err(DomainError::AlreadyScored)
        );
    }

    #[test]
    fn a_refusal_scores_3_a_low_score_needs_a_reason_and_satisfaction_is_sum_over_scored() {
        let (mut history, sample) = drawn(50);
        let now = t("2026-03-25T12:00:00Z");
        let at = "2026-03-20T01:30:00Z";
        let call = |i: usize, outcome| RecordAuditCall {
            customer: sample[i].clone(),
            called_at: t(at),
            outcome,
            agent: None,
            complaint: None,
        };
        assert_eq!(
            when::<SamplingAudit>(
                &history,
                call(
                    0,
                    AuditCallOutcome::Answered {
                        score: 4,
                        reason: None
                    }
                ),
                AGENT,
                now
            ),
            Err(DomainError::LowScoreNeedsReason)
        );
        apply::<SamplingAudit>(
            &mut history,
            call(
                0,
                AuditCallOutcome::Answered {
                    score: 4,
                    reason: Some("发货慢".into()),
                },
            ),
            AGENT,
            now,
        );
        apply::<SamplingAudit>(&mut history, call(1, AuditCallOutcome::Refused), AGENT, now);
        apply::<SamplingAudit>(
            &mut history,
            call(
                2,
                AuditCallOutcome::Answered {
                    score: 5,
                    reason: None,
                },
            ),
            AGENT,
            now,
        );
        assert_eq!(
            when::<SamplingAudit>(
                &history,
                RecordAuditCall {
                    customer: "stranger".into(),
                    called_at: t(at),
                    outcome: AuditCallOutcome::Refused,
                    agent: None,
                    complaint: None,
                },
                AGENT,
                now
            ),
            Err(DomainError::NotInSample)
        );
        let closed = apply::<SamplingAudit>(&mut history, CloseAudit {}, LEAD, now);
        let AuditEvent::AuditClosed(summary) = &closed[0] else {
            panic!("closed")
        };
        assert_eq!(
            (summary.scored, summary.refused, summary.score_sum),
            (3, 1, 12)
        );
        assert_eq!(summary.satisfaction_hundredths, Some(400));
        assert!(summary.target_met);
    }

    /// 如遇用户投诉,无法当场处理: a complaint the call raised is recorded with
    /// the agent whose service was rated; a call nobody answered raises none.
    #[test]
    fn an_audit_call_records_the_rated_agent_and_a_complaint_it_could_not_settle() {
        let (history, sample) = drawn(50);
        let now = t("2026-03-25T12:00:00Z");
        let call = |outcome, complaint: Option<&str>| RecordAuditCall {
            customer: sample[0].clone(),
            called_at: t("2026-03-20T01:30:00Z"),
            outcome,
            agent: Some("agent-li".into()),
            complaint: complaint.map(Into::into),
        };
        assert!(matches!(
            when::<SamplingAudit>(
                &history,
                call(AuditCallOutcome::NoAnswer, Some("没人接")),
                AGENT,
                now
            ),
            Err(DomainError::Invalid {
                field: "complaint",
                ..
            })
        ));
        let answered = AuditCallOutcome::Answered {
            score: 2,
            reason: Some("客服态度差".into()),
        };
        let events =
            when::<SamplingAudit>(&history, call(answered, Some("要求主管回电")), AGENT, now)
                .unwrap();
        let AuditEvent::AuditCallRecorded(recorded) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(recorded.agent.as_deref(), Some("agent-li"));
        assert_eq!(recorded.complaint.as_deref(), Some("要求主管回电"));
    }
}
