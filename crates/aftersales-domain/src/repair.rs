//! Repairs of returned devices (返修 / 接返机流程). Stream `repair-<id>`:
//! a repair order outlives the case it came from.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Aggregate, Context, Scheduled, Timer};
use crate::error::DomainError;
use crate::model::{check_list, check_optional, require_short, MAX_LIST_ITEMS};
use crate::money::Money;

crate::domain_commands! {
    pub enum RepairCommand {
        ReceiveDevice => [Technician, Warehouse],
        RecordIntakeCheck => [Technician],
        DecideWarranty => [Technician, Supervisor],
        QuoteRepair => [Technician],
        AgreeCostCap => [Technician, Agent, Supervisor],
        AcknowledgeDataLossDisclaimer => [Technician, Agent],
        SendToVendor => [Technician],
        ReceiveFromVendor => [Technician, Warehouse],
        RecordRepairTest => [Technician],
        ReturnDevice => [Technician, Warehouse],
        ArrangeRevisit => [System],
    }
}

crate::domain_events! {
    pub enum RepairEvent {
        DeviceReceivedForRepair = "DeviceReceivedForRepair",
        IntakeChecked = "IntakeChecked",
        WarrantyDecided = "WarrantyDecided",
        RepairQuoted = "RepairQuoted",
        CostCapAgreed = "CostCapAgreed",
        DataLossDisclaimerAcknowledged = "DataLossDisclaimerAcknowledged",
        DeviceSentToVendor = "DeviceSentToVendor",
        DeviceReturnedFromVendor = "DeviceReturnedFromVendor",
        RepairTested = "RepairTested",
        DeviceReturnedToCustomer = "DeviceReturnedToCustomer",
        RevisitArranged = "RevisitArranged",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveDevice {
    #[serde(default)]
    pub case_id: Option<Uuid>,
    pub serial_outside: String,
    /// Turnaround tier 1, 2 or 3: 4, 8 or 16 days by default.
    pub tier: u8,
    #[serde(default)]
    pub accessories: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordIntakeCheck {
    /// Serial/IMEI read inside the device.
    pub serial_inside: String,
    pub seal_intact: bool,
    pub liquid_damage: bool,
    #[serde(default)]
    pub missing_parts: Vec<String>,
    pub unauthorised_repair: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideWarranty {
    pub in_warranty: bool,
    /// A fault of the product, not of its use.
    pub product_fault: bool,
    /// For a paid repair: the most the customer agreed to pay.
    #[serde(default)]
    pub cost_cap: Option<Money>,
    #[serde(default)]
    pub customer_signed: bool,
}

/// The technician's quote for a paid repair (维修报价): at most the cost cap
/// the customer agreed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRepair {
    pub cost: Money,
}

/// The customer agrees to a new cost cap, e.g. when the repair costs more
/// than first thought: who agreed, and when, as the customer said it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreeCostCap {
    pub cost_cap: Money,
    /// Who agreed and how, e.g. "张三 by phone".
    pub agreed_by: String,
    pub agreed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeDataLossDisclaimer {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendToVendor {
    pub vendor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveFromVendor {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRepairTest {
    pub passed: bool,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnDevice {
    pub tracking_no: String,
}

/// Issued by the scheduler once the repaired device is back with the
/// customer: the revisit it is due goes on the repair's case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrangeRevisit {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeviceReceivedForRepair {
    pub case_id: Option<Uuid>,
    pub serial_outside: String,
    pub tier: u8,
    pub accessories: Vec<String>,
    pub due_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IntakeChecked {
    pub serial_inside: String,
    pub serial_matches: bool,
    pub seal_intact: bool,
    pub liquid_damage: bool,
    pub missing_parts: Vec<String>,
    pub unauthorised_repair: bool,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WarrantyDecided {
    pub free: bool,
    pub cost_cap: Option<Money>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RepairQuoted {
    pub cost: Money,
    /// The cap in force when it was quoted.
    pub cost_cap: Money,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CostCapAgreed {
    pub cost_cap: Money,
    pub previous: Money,
    pub agreed_by: String,
    pub agreed_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DataLossDisclaimerAcknowledged {
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeviceSentToVendor {
    pub vendor: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeviceReturnedFromVendor {
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RepairTested {
    pub passed: bool,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeviceReturnedToCustomer {
    pub tracking_no: String,
    pub turnaround_days: i64,
    pub on_time: bool,
    pub at: DateTime<Utc>,
    /// When the customer is revisited (维修后3天内回访), on the repair's
    /// case; none for a repair without a case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revisit_due: Option<DateTime<Utc>>,
}

/// The after-repair revisit is scheduled on the case (as
/// `RevisitScheduled`, kind after_repair, with this id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RevisitArranged {
    pub case_id: Uuid,
    pub revisit_id: Uuid,
    pub due_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Step {
    #[default]
    New,
    Received,
    Checked,
    Decided,
    AtVendor,
    BackFromVendor,
    TestFailed,
    TestPassed,
    Returned,
}

/// A repair order.
#[derive(Debug, Clone, Default)]
pub struct RepairOrder {
    pub step: Step,
    pub received_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub serial_outside: String,
    /// Customer-caused signs found at intake: no free repair.
    pub customer_caused: bool,
    pub disclaimer: bool,
    /// A paid repair's cap, as the customer last agreed it.
    pub cost_cap: Option<Money>,
    pub case_id: Option<Uuid>,
    pub returned_at: Option<DateTime<Utc>>,
    pub revisit_due: Option<DateTime<Utc>>,
    pub revisit_arranged: bool,
}

impl RepairOrder {
    fn at(&self, step: Step, expected: &'static str) -> Result<(), DomainError> {
        if self.step == Step::Returned {
            return Err(DomainError::RepairNotOpen);
        }
        if self.step != step {
            return Err(DomainError::RepairStep { expected });
        }
        Ok(())
    }

    /// The cap of a paid repair that has been decided and is not returned.
    fn paid_cap(&self) -> Result<Money, DomainError> {
        if matches!(self.step, Step::New | Step::Received | Step::Checked) {
            return Err(DomainError::RepairStep {
                expected: "decided: paid or free",
            });
        }
        if self.step == Step::Returned {
            return Err(DomainError::RepairNotOpen);
        }
        self.cost_cap.ok_or(DomainError::FreeRepair)
    }

    /// The after-repair revisit still to be put on the case: the case,
    /// the revisit's id (one per repair, so that arranging it twice
    /// schedules it once) and when it is due.
    pub fn revisit_to_arrange(&self, repair_id: Uuid) -> Option<(Uuid, Uuid, DateTime<Utc>)> {
        if self.revisit_arranged {
            return None;
        }
        let case_id = self.case_id?;
        let due = self.revisit_due?;
        Some((case_id, Uuid::new_v5(&repair_id, b"revisit"), due))
    }
}

impl Scheduled for RepairOrder {
    fn timers(&self) -> Vec<Timer<RepairCommand>> {
        match (self.returned_at, self.revisit_due) {
            (Some(at), Some(_)) if !self.revisit_arranged && self.case_id.is_some() => {
                vec![Timer {
                    at,
                    command: ArrangeRevisit {}.into(),
                }]
            }
            _ => Vec::new(),
        }
    }
}

impl Aggregate for RepairOrder {
    const CATEGORY: &'static str = "repair";
    type Command = RepairCommand;
    type Event = RepairEvent;

    fn decide(
        &self,
        command: &RepairCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<RepairEvent>, DomainError> {
        let now = ctx.now;
        match command {
            RepairCommand::ReceiveDevice(c) => {
                if self.step != Step::New {
                    return Err(DomainError::AlreadyDone {
                        what: "the device was received",
                    });
                }
                require_short("serial_outside", &c.serial_outside)?;
                let days = match c.tier {
                    1..=3 => ctx.policy.repair_turnaround_days[usize::from(c.tier - 1)],
                    _ => return Err(DomainError::invalid("tier", "is 1, 2 or 3")),
                };
                check_list("accessories", &c.accessories, MAX_LIST_ITEMS)?;
                Ok(vec![DeviceReceivedForRepair {
                    case_id: c.case_id,
                    serial_outside: c.serial_outside.clone(),
                    tier: c.tier,
                    accessories: c.accessories.clone(),
                    due_at: now + Duration::days(i64::from(days)),
                    at: now,
                }
                .into()])
            }
            RepairCommand::RecordIntakeCheck(c) => {
                self.at(Step::Received, "received, waiting for the intake check")?;
                require_short("serial_inside", &c.serial_inside)?;
                check_list("missing_parts", &c.missing_parts, MAX_LIST_ITEMS)?;
                Ok(vec![IntakeChecked {
                    serial_inside: c.serial_inside.clone(),
                    serial_matches: c.serial_inside.trim() == self.serial_outside.trim(),
                    seal_intact: c.seal_intact,
                    liquid_damage: c.liquid_damage,
                    missing_parts: c.missing_parts.clone(),
                    unauthorised_repair: c.unauthorised_repair,
                    at: now,
                }
                .into()])
            }
            RepairCommand::DecideWarranty(c) => {
                self.at(Step::Checked, "checked, waiting for the warranty decision")?;
                let free = c.in_warranty && c.product_fault && !self.customer_caused;
                if !free {
                    let cap_ok = c
                        .cost_cap
                        .is_some_and(|cap| cap.check_positive("cost_cap").is_ok());
                    if !cap_ok || !c.customer_signed {
                        return Err(DomainError::PaidRepairNeedsConsent);
                    }
                }
                Ok(vec![WarrantyDecided {
                    free,
                    cost_cap: if free { None } else { c.cost_cap },
                    at: now,
                }
                .into()])
            }
            RepairCommand::QuoteRepair(c) => {
                let cap = self.paid_cap()?;
                c.cost.check_positive("cost")?;
                if c.cost.currency != cap.currency {
                    return Err(DomainError::invalid("cost", "is not in the cap's currency"));
                }
                if c.cost.minor > cap.minor {
                    return Err(DomainError::QuoteAboveCap {
                        quote: c.cost.minor,
                        cap: cap.minor,
                    });
                }
                Ok(vec![RepairQuoted {
                    cost: c.cost,
                    cost_cap: cap,
                    at: now,
                }
                .into()])
            }
            RepairCommand::AgreeCostCap(c) => {
                let previous = self.paid_cap()?;
                c.cost_cap.check_positive("cost_cap")?;
                if c.cost_cap.currency != previous.currency {
                    return Err(DomainError::invalid(
                        "cost_cap",
                        "is not in the first cap's currency",
                    ));
                }
                if c.cost_cap == previous {
                    return Err(DomainError::AlreadyDone {
                        what: "the customer agreed to this cap",
                    });
                }
                require_short("agreed_by", &c.agreed_by)?;
                if c.agreed_at > now + Duration::minutes(5) {
                    return Err(DomainError::invalid("agreed_at", "lies in the future"));
                }
                Ok(vec![CostCapAgreed {
                    cost_cap: c.cost_cap,
                    previous,
                    agreed_by: c.agreed_by.clone(),
                    agreed_at: c.agreed_at,
                    at: now,
                }
                .into()])
            }
            RepairCommand::AcknowledgeDataLossDisclaimer(_) => {
                if self.disclaimer {
                    return Err(DomainError::AlreadyDone {
                        what: "the disclaimer was acknowledged",
                    });
                }
                if matches!(self.step, Step::New | Step::Returned) {
                    return Err(DomainError::RepairNotOpen);
                }
                Ok(vec![DataLossDisclaimerAcknowledged { at: now }.into()])
            }
            RepairCommand::SendToVendor(c) => {
                if self.step != Step::TestFailed {
                    self.at(Step::Decided, "decided, ready for the vendor")?;
                }
                if !self.disclaimer {
                    return Err(DomainError::DisclaimerNotAcknowledged);
                }
                require_short("vendor", &c.vendor)?;
                Ok(vec![DeviceSentToVendor {
                    vendor: c.vendor.clone(),
                    at: now,
                }
                .into()])
            }
            RepairCommand::ReceiveFromVendor(_) => {
                self.at(Step::AtVendor, "at the vendor")?;
                Ok(vec![DeviceReturnedFromVendor { at: now }.into()])
            }
            RepairCommand::RecordRepairTest(c) => {
                self.at(
                    Step::BackFromVendor,
                    "back from the vendor, waiting for its test",
                )?;
                check_optional("note", &c.note)?;
                Ok(vec![RepairTested {
                    passed: c.passed,
                    note: c.note.clone(),
                    at: now,
                }
                .into()])
            }
            RepairCommand::ReturnDevice(c) => {
                if self.step == Step::TestFailed {
                    return Err(DomainError::RepairTestFailed);
                }
                self.at(Step::TestPassed, "tested and passed")?;
                require_short("tracking_no", &c.tracking_no)?;
                let received = self.received_at.unwrap_or(now);
                let within = Duration::days(i64::from(ctx.policy.repair_revisit_days));
                Ok(vec![DeviceReturnedToCustomer {
                    tracking_no: c.tracking_no.clone(),
                    turnaround_days: (now - received).num_days(),
                    on_time: self.due_at.is_none_or(|due| now <= due),
                    at: now,
                    revisit_due: self.case_id.map(|_| now + within),
                }
                .into()])
            }
            RepairCommand::ArrangeRevisit(_) => {
                if self.step != Step::Returned {
                    return Err(DomainError::NotDueYet { due: None });
                }
                let (case_id, revisit_id, due_at) = self
                    .revisit_to_arrange(ctx.aggregate_id)
                    .ok_or(DomainError::AlreadyDone {
                        what: "the revisit was arranged, or the repair has no case",
                    })?;
                Ok(vec![RevisitArranged {
                    case_id,
                    revisit_id,
                    due_at,
                    at: now,
                }
                .into()])
            }
        }
    }

    fn evolve(&mut self, event: &RepairEvent) {
        match event {
            RepairEvent::DeviceReceivedForRepair(e) => {
                self.step = Step::Received;
                self.case_id = e.case_id;
                self.received_at = Some(e.at);
                self.due_at = Some(e.due_at);
                self.serial_outside = e.serial_outside.clone();
            }
            RepairEvent::IntakeChecked(e) => {
                self.step = Step::Checked;
                self.customer_caused =
                    !e.serial_matches || !e.seal_intact || e.liquid_damage || e.unauthorised_repair;
            }
            RepairEvent::WarrantyDecided(e) => {
                self.step = Step::Decided;
                self.cost_cap = e.cost_cap;
            }
            RepairEvent::RepairQuoted(_) => {}
            RepairEvent::CostCapAgreed(e) => self.cost_cap = Some(e.cost_cap),
            RepairEvent::DataLossDisclaimerAcknowledged(_) => self.disclaimer = true,
            RepairEvent::DeviceSentToVendor(_) => self.step = Step::AtVendor,
            RepairEvent::DeviceReturnedFromVendor(_) => self.step = Step::BackFromVendor,
            RepairEvent::RepairTested(e) => {
                self.step = if e.passed {
                    Step::TestPassed
                } else {
                    Step::TestFailed
                }
            }
            RepairEvent::DeviceReturnedToCustomer(e) => {
                self.step = Step::Returned;
                self.returned_at = Some(e.at);
                self.revisit_due = e.revisit_due;
            }
            RepairEvent::RevisitArranged(_) => self.revisit_arranged = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{apply, t, when};
    use crate::Role;

    const TECH: (&str, Role) = ("tech-1", Role::Technician);

    fn checked(serial_inside: &str, liquid_damage: bool) -> Vec<RepairEvent> {
        checked_for(None, serial_inside, liquid_damage)
    }

    /// A device received for `case_id` and checked at intake.
    fn checked_for(
        case_id: Option<Uuid>,
        serial_inside: &str,
        liquid_damage: bool,
    ) -> Vec<RepairEvent> {
        let mut history = Vec::new();
        let now = t("2026-03-02T02:00:00Z");
        apply::<RepairOrder>(
            &mut history,
            ReceiveDevice {
                case_id,
                serial_outside: "IMEI-1".into(),
                tier: 1,
                accessories: vec!["充电器".into()],
            },
            TECH,
            now,
        );
        apply::<RepairOrder>(
            &mut history,
            RecordIntakeCheck {
                serial_inside: serial_inside.into(),
                seal_intact: true,
                liquid_damage,
                missing_parts: vec![],
                unauthorised_repair: false,
            },
            TECH,
            now,
        );
        history
    }

    #[test]
    fn an_in_warranty_product_fault_is_repaired_free() {
        let decision = DecideWarranty {
            in_warranty: true,
            product_fault: true,
            cost_cap: None,
            customer_signed: false,
        };
        let events = when::<RepairOrder>(
            &checked("IMEI-1", false),
            decision,
            TECH,
            t("2026-03-02T03:00:00Z"),
        )
        .unwrap();
        assert!(matches!(&events[0], RepairEvent::WarrantyDecided(w) if w.free));
    }

    #[test]
    fn customer_caused_damage_is_a_paid_repair_with_a_cost_cap_and_signature() {
        let decision = |cap: Option<Money>, signed| DecideWarranty {
            in_warranty: true,
            product_fault: true,
            cost_cap: cap,
            customer_signed: signed,
        };
        for history in [checked("IMEI-1", true), checked("IMEI-OTHER", false)] {
            assert_eq!(
                when::<RepairOrder>(
                    &history,
                    decision(None, true),
                    TECH,
                    t("2026-03-02T03:00:00Z")
                ),
                Err(DomainError::PaidRepairNeedsConsent)
            );
            assert_eq!(
                when::<RepairOrder>(
                    &history,
                    decision(Some(Money::cny(30_000)), false),
                    TECH,
                    t("2026-03-02T03:00:00Z")
                ),
                Err(DomainError::PaidRepairNeedsConsent)
            );
            let events = when::<RepairOrder>(
                &history,
                decision(Some(Money::cny(30_000)), true),
                TECH,
                t("2026-03-02T03:00:00Z"),
            )
            .unwrap();
            assert!(matches!(&events[0], RepairEvent::WarrantyDecided(w) if !w.free));
        }
    }

    #[test]
    fn a_quote_above_the_agreed_cap_waits_for_the_customer_to_agree_a_new_one() {
        let now = t("2026-03-03T02:00:00Z");
        let quote = |minor| QuoteRepair {
            cost: Money::cny(minor),
        };
        // No quote before the warranty decision.
        assert!(matches!(
            when::<RepairOrder>(&checked("IMEI-1", true), quote(100), TECH, now),
            Err(DomainError::RepairStep { .. })
        ));
        let mut history = checked("IMEI-1", true);
        apply::<RepairOrder>(
            &mut history,
            DecideWarranty {
                in_warranty: true,
                product_fault: true,
                cost_cap: Some(Money::cny(30_000)),
                customer_signed: true,
            },
            TECH,
            now,
        );
        assert!(when::<RepairOrder>(&history, quote(30_000), TECH, now).is_ok());
        assert_eq!(
            when::<RepairOrder>(&history, quote(45_000), TECH, now),
            Err(DomainError::QuoteAboveCap {
                quote: 45_000,
                cap: 30_000
            })
        );
        let agree = |at| AgreeCostCap {
            cost_cap: Money::cny(50_000),
            agreed_by: "张三 by phone".into(),
            agreed_at: t(at),
        };
        assert!(matches!(
            when::<RepairOrder>(&history, agree("2026-03-04T02:00:00Z"), TECH, now),
            Err(DomainError::Invalid {
                field: "agreed_at",
                ..
            })
        ));
        let events = apply::<RepairOrder>(&mut history, agree("2026-03-03T01:30:00Z"), TECH, now);
        assert!(matches!(
            &events[0],
            RepairEvent::CostCapAgreed(e) if e.previous == Money::cny(30_000) && e.agreed_by == "张三 by phone"
        ));
        let events = apply::<RepairOrder>(&mut history, quote(45_000), TECH, now);
        assert!(matches!(
            &events[0],
            RepairEvent::RepairQuoted(e) if e.cost_cap == Money::cny(50_000)
        ));
    }

    #[test]
    fn a_free_repair_takes_no_quote() {
        let now = t("2026-03-03T02:00:00Z");
        let mut history = checked("IMEI-1", false);
        apply::<RepairOrder>(
            &mut history,
            DecideWarranty {
                in_warranty: true,
                product_fault: true,
                cost_cap: None,
                customer_signed: false,
            },
            TECH,
            now,
        );
        assert_eq!(
            when::<RepairOrder>(
                &history,
                QuoteRepair {
                    cost: Money::cny(100)
                },
                TECH,
                now
            ),
            Err(DomainError::FreeRepair)
        );
    }

    #[test]
    fn a_device_goes_to_the_vendor_only_after_the_disclaimer_and_back_only_after_a_passed_test() {
        let mut history = checked("IMEI-1", false);
        let now = t("2026-03-03T02:00:00Z");
        apply::<RepairOrder>(
            &mut history,
            DecideWarranty {
                in_warranty: true,
                product_fault: true,
                cost_cap: None,
                customer_signed: false,
            },
            TECH,
            now,
        );
        let send = SendToVendor {
            vendor: "华东维修中心".into(),
        };
        assert_eq!(
            when::<RepairOrder>(&history, send.clone(), TECH, now),
            Err(DomainError::DisclaimerNotAcknowledged)
        );
        apply::<RepairOrder>(&mut history, AcknowledgeDataLossDisclaimer {}, TECH, now);
        apply::<RepairOrder>(&mut history, send.clone(), TECH, now);
        apply::<RepairOrder>(&mut history, ReceiveFromVendor {}, TECH, now);
        apply::<RepairOrder>(
            &mut history,
            RecordRepairTest {
                passed: false,
                note: Some("仍不开机".into()),
            },
            TECH,
            now,
        );
        assert_eq!(
            when::<RepairOrder>(
                &history,
                ReturnDevice {
                    tracking_no: "SF1".into()
                },
                TECH,
                now
            ),
            Err(DomainError::RepairTestFailed)
        );
        apply::<RepairOrder>(&mut history, send, TECH, now);
        apply::<RepairOrder>(&mut history, ReceiveFromVendor {}, TECH, now);
        apply::<RepairOrder>(
            &mut history,
            RecordRepairTest {
                passed: true,
                note: None,
            },
            TECH,
            now,
        );
        // Tier 1: 4 days from 2026-03-02 10:00; returned on day 7 is late.
        let late = when::<RepairOrder>(
            &history,
            ReturnDevice {
                tracking_no: "SF1".into(),
            },
            TECH,
            t("2026-03-09T02:00:00Z"),
        )
        .unwrap();
        assert!(
            matches!(&late[0], RepairEvent::DeviceReturnedToCustomer(r) if !r.on_time && r.turnaround_days == 7)
        );
        let on_time = when::<RepairOrder>(
            &history,
            ReturnDevice {
                tracking_no: "SF1".into(),
            },
            TECH,
            t("2026-03-05T02:00:00Z"),
        )
        .unwrap();
        assert!(matches!(&on_time[0], RepairEvent::DeviceReturnedToCustomer(r) if r.on_time));
    }

    /// 维修后3天内回访: a repaired device's return makes a revisit due on
    /// the repair's case three days on, arranged once.
    #[test]
    fn a_returned_repair_arranges_its_customers_revisit_once() {
        use crate::aggregate::{Aggregate as _, Scheduled as _};
        let passed = |case_id: Option<Uuid>| {
            let now = t("2026-03-02T02:00:00Z");
            let mut history = checked_for(case_id, "IMEI-1", false);
            for command in [
                RepairCommand::from(DecideWarranty {
                    in_warranty: true,
                    product_fault: true,
                    cost_cap: None,
                    customer_signed: false,
                }),
                AcknowledgeDataLossDisclaimer {}.into(),
                SendToVendor {
                    vendor: "华东维修中心".into(),
                }
                .into(),
                ReceiveFromVendor {}.into(),
                RecordRepairTest {
                    passed: true,
                    note: None,
                }
                .into(),
                ReturnDevice {
                    tracking_no: "SF1".into(),
                }
                .into(),
            ] {
                apply::<RepairOrder>(&mut history, command, TECH, now);
            }
            history
        };
        let case_id = Uuid::from_u128(7);
        let history = passed(Some(case_id));
        let Some(RepairEvent::DeviceReturnedToCustomer(returned)) = history.last() else {
            panic!("{history:?}")
        };
        assert_eq!(returned.revisit_due, Some(t("2026-03-05T02:00:00Z")));
        let state = RepairOrder::replay(&history);
        assert_eq!(state.next_due(), Some(returned.at));
        const SYSTEM: (&str, Role) = ("scheduler", Role::System);
        let now = t("2026-03-02T02:00:00Z");
        let events = when::<RepairOrder>(&history, ArrangeRevisit {}, SYSTEM, now).unwrap();
        let [RepairEvent::RevisitArranged(arranged)] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(arranged.case_id, case_id);
        assert_eq!(arranged.due_at, t("2026-03-05T02:00:00Z"));
        let mut done = history.clone();
        apply::<RepairOrder>(&mut done, ArrangeRevisit {}, SYSTEM, now);
        assert_eq!(RepairOrder::replay(&done).next_due(), None);
        assert!(matches!(
            when::<RepairOrder>(&done, ArrangeRevisit {}, SYSTEM, now),
            Err(DomainError::AlreadyDone { .. })
        ));
        // Only the scheduler arranges it.
        assert!(matches!(
            when::<RepairOrder>(&history, ArrangeRevisit {}, TECH, now),
            Err(DomainError::RoleNotAllowed { .. })
        ));
        // A repair without a case has no one's case to revisit on.
        let without = passed(None);
        assert_eq!(RepairOrder::replay(&without).next_due(), None);
        assert!(matches!(
            when::<RepairOrder>(&without, ArrangeRevisit {}, SYSTEM, now),
            Err(DomainError::AlreadyDone { .. })
        ));
    }
}
