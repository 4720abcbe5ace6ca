//! The SOPs of `docs/domain.md`, end to end. Each runs on a [`Desk`], so the same
//! script goes straight through the command handlers (the `commands` tests)
//! and through the JSON API over HTTP (the `api` tests). Time-driven steps
//! run the scheduler on the desk's store and clock, as `aftersales serve`
//! runs it beside the API.

#![allow(clippy::unwrap_used)] // a scenario that cannot unwrap has failed

use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::Money;
use chrono::Duration;
use uuid::Uuid;

use crate::desk::{agent, finance, monday_10am, supervisor, warehouse, Desk};
use crate::TestDb;

/// Runs each scenario named on a desk made by `$desk` (an async fn from
/// `&TestDb` to `Desk`), on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! sop_scenarios {
    ($desk:path) => {
        mod sop {
            use $crate::scenarios;
            $crate::sop_scenarios!(@each $desk;
                damaged_parcel_photos_reship_and_courier_claim,
                customer_cause_return_to_restock,
                exchange_with_postage_advanced_by_the_customer,
                refund_auto_accepted_then_paid_by_finance,
                price_difference_refund_after_approval,
                payment_reminder_to_paid_and_unpaid_order_closed_by_the_platform,
                sampling_audit_of_50,
                repair_in_warranty,
            );
        }
    };
    (@each $desk:path; $($scenario:ident),* $(,)?) => {
        $(
            async fn $scenario(db: $crate::TestDb) {
                let desk = $desk(&db).await;
                scenarios::$scenario(&desk, &db).await
            }
        )*
        $crate::on_both_backends!($($scenario),*);
    };
}

/// The money ledger built from the scenario's events balances and agrees
/// with the case views.
pub async fn ledger_balances(db: &TestDb) {
    let store = db.open().await;
    let read = aftersales_projections::ReadDb::open(&db.url, None, false)
        .await
        .unwrap();
    let failed = aftersales_projections::admin::catch_up(store, &read)
        .await
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let check = aftersales_projections::ledger::check(&read).await.unwrap();
    assert!(check.is_ok(), "{check:?}");
}

pub async fn damaged_parcel_photos_reship_and_courier_claim(desk: &Desk, db: &TestDb) {
    let case = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    desk.run(
        case,
        &agent(),
        ReportParcelProblem {
            tracking_no: "YT9988776655".into(),
            carrier: "圆通".into(),
            class: ParcelClass::Damaged,
            note: Some("外箱压坏".into()),
        },
    )
    .await;
    let reship = ReshipParcel {
        reship_id: Uuid::new_v4(),
        tracking_no: "SF1122334455".into(),
        carrier: "顺丰".into(),
        items: "空气净化器 AP-300 x1".into(),
        reason: "运输破损".into(),
    };
    assert!(
        desk.try_run(case, &agent(), reship.clone()).await.is_err(),
        "no reship without photos"
    );
    desk.run(
        case,
        &agent(),
        AddParcelPhotos {
            photos: vec!["box.jpg".into(), "crack.jpg".into()],
        },
    )
    .await;
    desk.run(case, &agent(), reship).await;
    let claim_id = Uuid::new_v4();
    desk.run(
        case,
        &agent(),
        FileCourierClaim {
            claim_id,
            amount: Money::cny(29_900),
        },
    )
    .await;
    desk.run(
        case,
        &finance(),
        SettleCourierClaim {
            claim_id,
            amount: Money::cny(29_900),
        },
    )
    .await;
    let (_, state) = desk.cases.load(case).await.unwrap();
    assert!(state.claims[&claim_id].settled);
    assert!(state.parcel.as_ref().unwrap().reshipped);
    ledger_balances(db).await;
}

pub async fn customer_cause_return_to_restock(desk: &Desk, db: &TestDb) {
    let case = desk
        .register(
            Priority::P3,
            Category::ProductQuality,
            PlatformState::TradeSucceeded,
        )
        .await;
    let events = desk
        .run(
            case,
            &agent(),
            RequestReturn {
                cause: ReturnCause::Customer,
                sub_reason: "买到更便宜的".into(),
                goods_shipped: true,
                no_reason: true,
                resellable: true,
            },
        )
        .await;
    assert!(
        matches!(&events[0], CaseEvent::ReturnRequested(r) if r.postage_bearer == PostageBearer::Customer)
    );
    desk.run(
        case,
        &agent(),
        AuthoriseReturn {
            return_address: "杭州市余杭区仓储中心 A3".into(),
        },
    )
    .await;
    desk.run(
        case,
        &warehouse(),
        ReceiveReturnParcel {
            tracking_no: "ZT5566".into(),
            quantity: 1,
            lines: Vec::new(),
        },
    )
    .await;
    desk.run(
        case,
        &warehouse(),
        InspectReturn {
            resellable: true,
            photos: vec![],
            note: None,
        },
    )
    .await;
    desk.run(case, &warehouse(), RestockReturn { quantity: 1 })
        .await;
    let refund_id = Uuid::new_v4();
    desk.run(
        case,
        &agent(),
        RequestRefund {
            refund_id,
            kind: RefundKind::DirectTransfer,
            amount: Money::cny(29_900),
            reason: "七天无理由退货".into(),
            payee_account: Some("alipay:li***@qq.com".into()),
        },
    )
    .await;
    desk.run(case, &agent(), ApproveRefund { refund_id }).await;
    desk.run(
        case,
        &finance(),
        ExecuteRefund {
            refund_id,
            channel: PayoutChannel::Alipay,
            reference: "ALI-778".into(),
        },
    )
    .await;
    let (_, state) = desk.cases.load(case).await.unwrap();
    assert_eq!(state.refundable().unwrap(), Money::cny(0));
    ledger_balances(db).await;
}

pub async fn exchange_with_postage_advanced_by_the_customer(desk: &Desk, db: &TestDb) {
    let case = desk
        .register(
            Priority::P2,
            Category::ProductQuality,
            PlatformState::TradeSucceeded,
        )
        .await;
    desk.run(
        case,
        &agent(),
        RequestExchange {
            cause: ReturnCause::Quality,
            reason: "滤网异响".into(),
            resellable: true,
        },
    )
    .await;
    desk.run(
        case,
        &agent(),
        RecordAdvancedPostage {
            amount: Money::cny(1_500),
        },
    )
    .await;
    let order = Uuid::new_v4();
    desk.run(
        case,
        &agent(),
        CreateReshipOrder {
            reship_order_id: order,
            stock_name: "AP-300 整机".into(),
            quantity: 1,
            reason: "质量问题换货".into(),
            verified_by_weight: None,
            approval_id: None,
            lines: Vec::new(),
        },
    )
    .await;
    desk.run(
        case,
        &warehouse(),
        ShipReshipOrder {
            reship_order_id: order,
            tracking_no: "SF777".into(),
            carrier: "顺丰".into(),
        },
    )
    .await;
    desk.run(
        case,
        &finance(),
        ReimbursePostage {
            amount: Money::cny(1_500),
        },
    )
    .await;
    let (_, state) = desk.cases.load(case).await.unwrap();
    assert_eq!(state.postage_reimbursed, Some(Money::cny(1_500)));
    ledger_balances(db).await;
}

pub async fn refund_auto_accepted_then_paid_by_finance(desk: &Desk, db: &TestDb) {
    let case = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    let refund_id = Uuid::new_v4();
    desk.run(
        case,
        &agent(),
        RequestRefund {
            refund_id,
            kind: RefundKind::NotReceived,
            amount: Money::cny(29_900),
            reason: "物流显示签收但未收到".into(),
            payee_account: None,
        },
    )
    .await;
    desk.clock.set(monday_10am() + Duration::days(7));
    let mut scheduler = desk.scheduler().await;
    scheduler.run_once().await.unwrap();
    let events = desk
        .run(
            case,
            &finance(),
            ExecuteRefund {
                refund_id,
                channel: PayoutChannel::Platform,
                reference: "TB-R-1".into(),
            },
        )
        .await;
    assert!(matches!(&events[0], CaseEvent::RefundPaid(p) if p.amount == Money::cny(29_900)));
    ledger_balances(db).await;
}

pub async fn price_difference_refund_after_approval(desk: &Desk, db: &TestDb) {
    let case = desk
        .register(
            Priority::P3,
            Category::PriceDrop,
            PlatformState::TradeSucceeded,
        )
        .await;
    let (price_refund_id, approval_id) = (Uuid::new_v4(), Uuid::new_v4());
    desk.run(
        case,
        &supervisor(1),
        RequestPriceDifferenceRefund {
            price_refund_id,
            approval_id,
            amount: Money::cny(3_000),
            reason: "下单后三天内降价".into(),
        },
    )
    .await;
    let pay = PayPriceDifferenceRefund {
        price_refund_id,
        channel: PayoutChannel::Alipay,
        reference: "ALI-9".into(),
    };
    assert!(
        desk.try_run(case, &finance(), pay.clone()).await.is_err(),
        "not before approval"
    );
    assert!(
        desk.try_run(
            case,
            &supervisor(1),
            ApproveRequest {
                approval_id,
                note: None
            }
        )
        .await
        .is_err(),
        "not by the requester"
    );
    desk.run(
        case,
        &supervisor(2),
        ApproveRequest {
            approval_id,
            note: Some("符合价保".into()),
        },
    )
    .await;
    desk.run(case, &finance(), pay).await;
    ledger_balances(db).await;
}

pub async fn payment_reminder_to_paid_and_unpaid_order_closed_by_the_platform(
    desk: &Desk,
    db: &TestDb,
) {
    use aftersales_domain::reminder::*;
    let orders = desk.handler::<UnpaidOrder>();
    let clerk = agent();
    let run = |id, command: ReminderCommand| desk.execute::<UnpaidOrder>(Some(id), &clerk, command);
    let mut created = Vec::new();
    for order_no in ["TB-UNPAID-1", "TB-UNPAID-2"] {
        let (id, _) = desk
            .create::<UnpaidOrder>(
                &agent(),
                RegisterUnpaidOrder {
                    order_no: order_no.into(),
                    buyer_id: "tb_zhou".into(),
                    ordered_at: monday_10am() - Duration::hours(20),
                    amount: Money::cny(15_800),
                },
            )
            .await;
        created.push(id);
    }
    let (paid, forgotten) = (created[0], created[1]);
    run(
        paid,
        RecordReminder {
            channel: ReminderChannel::Phone,
            result: ReminderResult::WillPay,
            note: Some("今晚付款".into()),
        }
        .into(),
    )
    .await
    .unwrap();
    run(
        paid,
        RecordPayment {
            paid_at: monday_10am() + Duration::hours(8),
            amount: Money::cny(15_800),
        }
        .into(),
    )
    .await
    .unwrap();
    run(
        forgotten,
        RecordReminder {
            channel: ReminderChannel::Phone,
            result: ReminderResult::Annoyed,
            note: None,
        }
        .into(),
    )
    .await
    .unwrap();
    assert!(run(
        forgotten,
        RecordReminder {
            channel: ReminderChannel::Phone,
            result: ReminderResult::WillPay,
            note: None
        }
        .into()
    )
    .await
    .is_err());
    // Three days after the order the platform closes what is still unpaid.
    desk.clock.set(monday_10am() + Duration::hours(52));
    let mut scheduler = desk.scheduler().await;
    assert_eq!(scheduler.run_once().await.unwrap().issued, 1);
    assert_eq!(scheduler.run_once().await.unwrap().issued, 0);
    let (_, state) = orders.load(forgotten).await.unwrap();
    assert!(state.settled);
    ledger_balances(db).await;
}

pub async fn sampling_audit_of_50(desk: &Desk, db: &TestDb) {
    use aftersales_domain::audit::*;
    let population: Vec<String> = (0..80).map(|i| format!("buyer-{i}")).collect();
    let (audit, drawn) = desk
        .create::<SamplingAudit>(
            &supervisor(1),
            DrawSample {
                month: "2026-03".into(),
                seed: 20260327,
                population,
                size: 50,
            },
        )
        .await;
    let AuditEvent::AuditSampleDrawn(sample) = &drawn[0] else {
        panic!("a draw")
    };
    assert_eq!(sample.drawn.len(), 50);
    // Weekday mornings, 09:30 China time, one day per attempt.
    let call_at = |day: i64| monday_10am() - Duration::minutes(30) + Duration::days(day);
    for (i, customer) in sample.drawn.iter().enumerate() {
        let outcome = match i {
            0..=39 => AuditCallOutcome::Answered {
                score: 5,
                reason: None,
            },
            40..=44 => AuditCallOutcome::Answered {
                score: 3,
                reason: Some("物流太慢".into()),
            },
            45..=47 => AuditCallOutcome::Refused,
            _ => AuditCallOutcome::NoAnswer,
        };
        let attempts = if matches!(outcome, AuditCallOutcome::NoAnswer) {
            3
        } else {
            1
        };
        for day in 0..attempts {
            desk.execute::<SamplingAudit>(
                Some(audit),
                &agent(),
                RecordAuditCall {
                    customer: customer.clone(),
                    called_at: call_at(day),
                    outcome: outcome.clone(),
                    // Customers served by two agents, taking turns.
                    agent: Some(["agent-li", "agent-wu"][i % 2].to_owned()),
                    // One complaint the call could not settle.
                    complaint: (i == 40).then(|| "要求赔偿运费".to_owned()),
                }
                .into(),
            )
            .await
            .unwrap();
        }
    }
    desk.clock.set(monday_10am() + Duration::days(5));
    let (_, closed) = desk
        .execute::<SamplingAudit>(Some(audit), &supervisor(1), CloseAudit {}.into())
        .await
        .unwrap();
    let AuditEvent::AuditClosed(summary) = &closed[0] else {
        panic!("closed")
    };
    assert_eq!(
        (
            summary.sampled,
            summary.scored,
            summary.excluded,
            summary.refused
        ),
        (50, 48, 2, 3)
    );
    // (40 x 5 + 5 x 3 + 3 x 3) / 48 = 224 / 48 = 4.6666…, recorded as the
    // report shows it: 4.67.
    assert_eq!(summary.score_sum, 224);
    assert_eq!(summary.satisfaction_hundredths, Some(467));
    assert!(summary.target_met);
    ledger_balances(db).await;
}

/// A device received for `case_id` (tier 2), found a product fault in
/// warranty, repaired by the vendor and tested: ready to go back.
pub async fn repaired_in_warranty(desk: &Desk, case_id: Option<uuid::Uuid>) -> uuid::Uuid {
    use aftersales_domain::repair::*;
    let tech = technician();
    let (repair, _) = desk
        .create::<RepairOrder>(
            &tech,
            ReceiveDevice {
                case_id,
                serial_outside: "IMEI-8899".into(),
                tier: 2,
                accessories: vec!["充电线".into()],
            },
        )
        .await;
    let steps: Vec<RepairCommand> = vec![
        RecordIntakeCheck {
            serial_inside: "IMEI-8899".into(),
            seal_intact: true,
            liquid_damage: false,
            missing_parts: vec![],
            unauthorised_repair: false,
        }
        .into(),
        DecideWarranty {
            in_warranty: true,
            product_fault: true,
            cost_cap: None,
            customer_signed: false,
        }
        .into(),
        AcknowledgeDataLossDisclaimer {}.into(),
        SendToVendor {
            vendor: "厂家售后中心".into(),
        }
        .into(),
        ReceiveFromVendor {}.into(),
        RecordRepairTest {
            passed: true,
            note: None,
        }
        .into(),
    ];
    for step in steps {
        desk.execute::<RepairOrder>(Some(repair), &tech, step)
            .await
            .unwrap();
    }
    repair
}

fn technician() -> aftersales_domain::Actor {
    aftersales_domain::Actor::new("tech-1", aftersales_domain::Role::Technician)
}

pub async fn repair_in_warranty(desk: &Desk, db: &TestDb) {
    use aftersales_domain::repair::*;
    let tech = technician();
    let repair = repaired_in_warranty(desk, None).await;
    desk.clock.set(monday_10am() + Duration::days(6));
    let (_, returned) = desk
        .execute::<RepairOrder>(
            Some(repair),
            &tech,
            ReturnDevice {
                tracking_no: "SF-RET-1".into(),
            }
            .into(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&returned[0], RepairEvent::DeviceReturnedToCustomer(r) if r.on_time && r.turnaround_days == 6)
    );
    ledger_balances(db).await;
}
