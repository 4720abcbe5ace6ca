//! Example bodies for the OpenAPI document: a request that the service
//! takes as it stands, for the commands that start a resource and the
//! most common one on a case. They are built from the domain's own types,
//! so an example cannot drift from the schema beside it.

use aftersales_domain::case::{LogCall, RegisterCase};
use aftersales_domain::grant::RequestAccess;
use aftersales_domain::model::{
    CallDirection, CallOutcome, Category, ContactChannel, Customer, FollowUpStatus, Order,
    PlatformState, Priority, Problem, Product, WarrantyStatus,
};
use aftersales_domain::reminder::RegisterUnpaidOrder;
use aftersales_domain::repair::ReceiveDevice;
use aftersales_domain::Money;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// The example body of `command`, if it has one.
pub(crate) fn request(command: &str) -> Option<Value> {
    match command {
        "RegisterCase" => to_value(register_case()),
        "LogCall" => to_value(LogCall {
            call_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
            direction: CallDirection::Inbound,
            with_customer: true,
            party_name: None,
            number: "13800138000".into(),
            called_at: time("2026-03-02T01:30:00Z"),
            content: "客户询问物流进度，已告知预计明日送达".into(),
            product: None,
            fault: None,
            warranty: WarrantyStatus::InWarranty,
            outcome: CallOutcome::Connected,
            follow_up: FollowUpStatus::Notified,
        }),
        "RegisterUnpaidOrder" => to_value(RegisterUnpaidOrder {
            order_no: "TB20260301001".into(),
            buyer_id: "tb_wangxm".into(),
            ordered_at: time("2026-03-01T02:00:00Z"),
            amount: Money::cny(20_000),
        }),
        "ReceiveDevice" => to_value(ReceiveDevice {
            case_id: None,
            serial_outside: "SN-IH40B-000123".into(),
            tier: 1,
            accessories: vec!["电源线".into()],
        }),
        "RequestAccess" => to_value(RequestAccess {
            customer: "13800138000".into(),
            purpose: "回访核实收货地址".into(),
        }),
        _ => None,
    }
}

fn register_case() -> RegisterCase {
    RegisterCase {
        customer: Customer {
            name: "王小明".into(),
            phone: "13800138000".into(),
            address: Some("浙江省杭州市西湖区文三路 100 号".into()),
            email: None,
            buyer_id: Some("tb_wangxm".into()),
        },
        order: Some(Order {
            order_no: "TB20260301001".into(),
            paid: Money::cny(20_000),
            paid_at: time("2026-02-27T02:00:00Z"),
            postage: Some(Money::cny(1_000)),
            platform_state: PlatformState::SellerShipped,
            platform: None,
        }),
        product: Product {
            name: "智能电饭煲".into(),
            model: Some("IH-40B".into()),
            serial: None,
            purchase_date: None,
            purchase_channel: Some("天猫旗舰店".into()),
        },
        problem: Problem {
            phenomenon: "快递显示已签收，客户未收到".into(),
            occurred_at: None,
            impact: None,
            notes: None,
        },
        channel: ContactChannel::Phone,
        category: Category::Logistics,
        priority: Priority::P2,
        split_from: None,
        contacted_at: None,
    }
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().unwrap_or_default()
}

fn to_value(body: impl Serialize) -> Option<Value> {
    serde_json::to_value(body).ok()
}
