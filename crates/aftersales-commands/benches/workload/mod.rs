//! The command benchmark's workload, shared with the peer benchmark
//! (`bench-peer/cqrs-es`), which includes this file: the same commands go
//! through both.

use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::{Actor, Money, Role};
use chrono::Utc;
use uuid::Uuid;

/// A count from the environment variable `name`, or `default` when unset.
pub fn count_from_env(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a whole number, not {value:?}")),
        Err(_) => Ok(default),
    }
}

/// The concurrency levels (`BENCH_CONCURRENCY`, comma-separated; default
/// 1, 8 and 64).
pub fn concurrency_levels() -> Result<Vec<usize>, String> {
    let Ok(value) = std::env::var("BENCH_CONCURRENCY") else {
        return Ok(vec![1, 8, 64]);
    };
    value
        .split(',')
        .map(|level| match level.trim().parse() {
            Ok(level) if level > 0 => Ok(level),
            _ => Err(format!(
                "BENCH_CONCURRENCY must be positive whole numbers separated by commas, not {value:?}"
            )),
        })
        .collect()
}

pub fn agent() -> Actor {
    Actor::new("agent-bench", Role::Agent)
}

/// A day at the desk: calls, parcel chasing, contact attempts, hand-overs.
pub fn workload(i: usize) -> CaseCommand {
    match i % 4 {
        0 => LogCall {
            call_id: Uuid::now_v7(),
            direction: CallDirection::Outbound,
            with_customer: true,
            party_name: None,
            number: "13800138000".into(),
            called_at: Utc::now(),
            content: "告知快递已加急处理，预计明天送达".into(),
            product: Some("智能电饭煲".into()),
            fault: None,
            warranty: WarrantyStatus::InWarranty,
            outcome: CallOutcome::Connected,
            follow_up: FollowUpStatus::Notified,
        }
        .into(),
        1 => ChaseParcel {
            note: "已联系快递站点催派".into(),
        }
        .into(),
        2 => RecordContactAttempt {
            channel: AttemptChannel::Im,
            reached: true,
        }
        .into(),
        _ => AssignCase {
            agent_id: format!("agent-{}", i % 7),
        }
        .into(),
    }
}

pub fn registration() -> RegisterCase {
    RegisterCase {
        customer: Customer {
            name: "王小明".into(),
            phone: "13800138000".into(),
            address: Some("浙江省杭州市西湖区文三路 100 号".into()),
            email: None,
            buyer_id: Some("tb_wangxm".into()),
        },
        order: Some(Order {
            order_no: "TB20261122000123".into(),
            paid: Money::cny(39_900),
            paid_at: Utc::now(),
            postage: Some(Money::cny(1_000)),
            platform_state: PlatformState::SellerShipped,
            platform: None,
        }),
        product: Product {
            name: "智能电饭煲".into(),
            model: Some("IH-40B".into()),
            serial: None,
            purchase_date: None,
            purchase_channel: None,
        },
        problem: Problem {
            phenomenon: "快递三天未更新".into(),
            occurred_at: None,
            impact: None,
            notes: None,
        },
        channel: ContactChannel::Im,
        category: Category::Logistics,
        priority: Priority::P2,
        split_from: None,
        contacted_at: None,
    }
}

pub fn parcel() -> ReportParcelProblem {
    ReportParcelProblem {
        tracking_no: "YT1234567890".into(),
        carrier: "圆通".into(),
        class: ParcelClass::DifficultByCourier,
        note: None,
    }
}
