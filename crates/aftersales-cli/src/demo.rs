//! `aftersales demo seed`: a realistic, reproducible after-sales history,
//! made through the command handlers so every rule of the domain holds.
//!
//! Cases arrive over the days before a fixed date in the proportions of a
//! small appliance shop: parcel problems, quality returns and exchanges,
//! warehouse errors, price drops, complaints, repairs and questions. Each
//! case is worked through its SOP with calls, parcels, money, approvals,
//! revisits and closing; besides the cases there are unpaid orders under
//! payment reminder every day and a sampling audit every month. The same
//! seed gives the same history (event ids and recording times aside).

use std::sync::Arc;

use aftersales_commands::{Clock, Envelope, FixedClock, Handler, HandlerError, Policies};
use aftersales_domain::audit::{
    AuditCallOutcome, AuditCommand, CloseAudit, DrawSample, RecordAuditCall, SamplingAudit,
};
use aftersales_domain::calendar::BusinessCalendar;
use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::reminder::{
    CloseReason, CloseUnpaidOrder, RecordPayment, RecordReminder, RegisterUnpaidOrder,
    ReminderChannel, ReminderCommand, ReminderResult, UnpaidOrder,
};
use aftersales_domain::repair::*;
use aftersales_domain::{Actor, Aggregate, Money, Policy, Role};
use aftersales_store::{EventStore, StoreOptions};
use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use clap::Subcommand;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Append a generated history to the store.
    Seed {
        /// How many cases.
        #[arg(long, default_value_t = 200)]
        cases: usize,
        /// The random seed: the same seed gives the same history.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Cases worked on at once.
        #[arg(long, default_value_t = 16)]
        workers: usize,
    },
}

pub async fn run(
    url: &str,
    options: StoreOptions,
    command: DemoCommand,
    policy: Policy,
) -> anyhow::Result<()> {
    let DemoCommand::Seed {
        cases,
        seed,
        workers,
    } = command;
    let store = aftersales_store::open(url, options)
        .await
        .with_context(|| format!("opening the store at {}", aftersales_store::redact(url)))?;
    // A demo store is a sandbox: its clock may be set to rehearse the rules.
    if store.head().await? == 0 {
        aftersales_commands::sandbox::open(store.as_ref(), &crate::policy::serve_actor()).await?;
    }
    let policies =
        crate::policy::put_in_force(store.as_ref(), policy, &crate::policy::serve_actor()).await?;
    let started = std::time::Instant::now();
    let summary = seed_history(store.clone(), policies, cases, seed, workers).await?;
    println!(
        "seeded {} cases, {} unpaid orders, {} repairs and {} sampling audits: {} events in {:.1} s (head at position {})",
        summary.cases,
        summary.unpaid_orders,
        summary.repairs,
        summary.audits,
        summary.events,
        started.elapsed().as_secs_f64(),
        store.head().await?
    );
    Ok(())
}

/// What a seed run made.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub cases: usize,
    pub unpaid_orders: usize,
    pub repairs: usize,
    pub audits: usize,
    pub events: usize,
}

/// The last day of the demo history, at 00:00 China time.
fn demo_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 31, 16, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

pub async fn seed_history(
    store: Arc<dyn EventStore>,
    policies: Arc<Policies>,
    cases: usize,
    seed: u64,
    workers: usize,
) -> anyhow::Result<Summary> {
    // About 25 new cases a day, at least a month and at most two years of
    // history (a bigger history has busier days).
    let days = (cases / 25).clamp(30, 730) as i64;
    let start = demo_end() - Duration::days(days);
    let workers = workers.clamp(1, 64);
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let store = store.clone();
        let policies = policies.clone();
        tasks.push(tokio::spawn(async move {
            let mut desk = Desk::new(store, &policies, start);
            let mut summary = Summary::default();
            for index in (worker..cases).step_by(workers) {
                let mut rng = StdRng::seed_from_u64(
                    seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let arrival = start + Duration::minutes(rng.gen_range(0..days * 24 * 60));
                desk.clock.set(business_hours(arrival));
                work_case(&mut desk, &mut rng, &mut summary).await?;
                summary.cases += 1;
            }
            // Unpaid orders: a few every day, spread over the workers.
            for day in (worker as i64..days).step_by(workers) {
                let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED ^ (day as u64) << 20);
                desk.clock
                    .set(start + Duration::days(day) + Duration::hours(1));
                for _ in 0..(cases / days as usize / 5).max(1) {
                    remind_unpaid_order(&mut desk, &mut rng).await?;
                    summary.unpaid_orders += 1;
                }
            }
            Ok::<_, anyhow::Error>((summary, desk.events))
        }));
    }
    let mut total = Summary::default();
    for task in tasks {
        let (summary, events) = task.await.context("a demo worker stopped")??;
        total.cases += summary.cases;
        total.unpaid_orders += summary.unpaid_orders;
        total.repairs += summary.repairs;
        total.events += events;
    }
    // One sampling audit a month, drawn from that month's customers.
    let mut desk = Desk::new(store, &policies, start);
    let mut month = NaiveDate::from_ymd_opt(start.year(), start.month(), 1).unwrap_or_default();
    while month < demo_end().date_naive() {
        let months =
            u64::try_from(month.year()).unwrap_or_default() * 12 + u64::from(month.month());
        let mut rng = StdRng::seed_from_u64(seed ^ months << 40);
        audit_month(&mut desk, &mut rng, month).await?;
        total.audits += 1;
        month = month
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX);
    }
    total.events += desk.events;
    Ok(total)
}

/// A worker's handlers, on a clock of its own.
struct Desk {
    clock: Arc<FixedClock>,
    cases: Handler<Case>,
    orders: Handler<UnpaidOrder>,
    repairs: Handler<RepairOrder>,
    audits: Handler<SamplingAudit>,
    events: usize,
}

impl Desk {
    fn new(store: Arc<dyn EventStore>, policies: &Arc<Policies>, now: DateTime<Utc>) -> Self {
        let clock = Arc::new(FixedClock::new(now));
        Self {
            cases: Handler::new(store.clone(), policies.clone(), clock.clone()),
            orders: Handler::new(store.clone(), policies.clone(), clock.clone()),
            repairs: Handler::new(store.clone(), policies.clone(), clock.clone()),
            audits: Handler::new(store, policies.clone(), clock.clone()),
            clock,
            events: 0,
        }
    }

    fn later(&self, minutes: i64) {
        self.clock.set(business_hours(
            self.clock.now() + Duration::minutes(minutes),
        ));
    }

    async fn case(
        &mut self,
        id: Uuid,
        actor: &Actor,
        command: impl Into<CaseCommand>,
    ) -> anyhow::Result<()> {
        self.events += execute(&self.cases, id, actor, command.into()).await?;
        Ok(())
    }
}

async fn execute<A: Aggregate>(
    handler: &Handler<A>,
    id: Uuid,
    actor: &Actor,
    command: A::Command,
) -> anyhow::Result<usize>
where
    A::Command: std::fmt::Debug,
{
    let name = format!("{command:?}");
    let outcome = handler
        .execute(&Envelope::new(id, command, actor.clone()))
        .await
        .map_err(|error: HandlerError| {
            anyhow::anyhow!("demo command refused: {error}: {}", truncate(&name))
        })?;
    Ok(outcome.events.len())
}

fn truncate(text: &str) -> &str {
    text.char_indices()
        .nth(160)
        .map_or(text, |(i, _)| &text[..i])
}

/// Moves a moment to the next time the service is open (09:00-21:00 China
/// time on the default calendar).
fn business_hours(at: DateTime<Utc>) -> DateTime<Utc> {
    BusinessCalendar::default()
        .add_business_time(at, Duration::zero())
        .unwrap_or(at)
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超",
    "秀英", "婷婷", "建华", "晓东", "丽华",
];
const PLACES: &[&str] = &[
    "浙江省杭州市西湖区文三路",
    "江苏省南京市鼓楼区中山路",
    "广东省深圳市南山区科技园",
    "上海市浦东新区张江路",
    "北京市朝阳区建国路",
    "四川省成都市武侯区人民南路",
    "湖北省武汉市洪山区珞喻路",
    "山东省青岛市市南区香港中路",
    "福建省厦门市思明区湖滨南路",
    "陕西省西安市雁塔区小寨路",
];
/// Product, model, price in fen, postage in fen.
const PRODUCTS: &[(&str, &str, i64, i64)] = &[
    ("空气净化器", "AP-300", 129_900, 1_200),
    ("扫地机器人", "RX-9", 199_900, 1_500),
    ("电饭煲", "RC-40", 39_900, 800),
    ("蓝牙耳机", "BT-5", 29_900, 600),
    ("智能手表", "W2", 89_900, 800),
    ("破壁机", "BL-8", 59_900, 1_200),
    ("电动牙刷", "T3", 19_900, 500),
    ("加湿器", "H-12", 25_900, 800),
];
const CARRIERS: &[&str] = &["顺丰", "圆通", "中通", "韵达", "申通", "EMS"];
const AGENTS: &[&str] = &[
    "agent-wangfang",
    "agent-lijing",
    "agent-zhangmin",
    "agent-liuyang",
    "agent-chentao",
    "agent-zhaoli",
];

fn agent(rng: &mut StdRng) -> Actor {
    Actor::new(*AGENTS.choose(rng).unwrap_or(&AGENTS[0]), Role::Agent)
}

fn supervisor(n: u8) -> Actor {
    Actor::new(format!("supervisor-{n}"), Role::Supervisor)
}

fn finance() -> Actor {
    Actor::new("finance-sun", Role::Finance)
}

fn warehouse() -> Actor {
    Actor::new("warehouse-guo", Role::Warehouse)
}

fn technician() -> Actor {
    Actor::new("tech-ma", Role::Technician)
}

fn id(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn tracking(rng: &mut StdRng, prefix: &str) -> String {
    format!("{prefix}{:012}", rng.gen_range(0..1_000_000_000_000u64))
}

fn customer(rng: &mut StdRng) -> Customer {
    let name = format!("{}{}", pick(rng, SURNAMES), pick(rng, GIVEN));
    Customer {
        phone: format!(
            "1{}{:09}",
            rng.gen_range(3..=9),
            rng.gen_range(0..1_000_000_000u64)
        ),
        address: Some(format!("{}{}号", pick(rng, PLACES), rng.gen_range(1..300))),
        email: None,
        buyer_id: Some(format!("tb_{:x}", rng.gen::<u32>())),
        name,
    }
}

/// Which SOP a case follows, in a shop's usual proportions.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Damaged,
    Lost,
    Delayed,
    QualityReturn,
    CustomerReturn,
    Exchange,
    WarehouseError,
    PriceDrop,
    Complaint,
    Repair,
    Question,
}

fn kind(rng: &mut StdRng) -> Kind {
    match rng.gen_range(0..100) {
        0..=9 => Kind::Damaged,
        10..=14 => Kind::Lost,
        15..=24 => Kind::Delayed,
        25..=34 => Kind::QualityReturn,
        35..=44 => Kind::CustomerReturn,
        45..=51 => Kind::Exchange,
        52..=58 => Kind::WarehouseError,
        59..=65 => Kind::PriceDrop,
        66..=71 => Kind::Complaint,
        72..=79 => Kind::Repair,
        _ => Kind::Question,
    }
}

async fn work_case(desk: &mut Desk, rng: &mut StdRng, summary: &mut Summary) -> anyhow::Result<()> {
    let kind = kind(rng);
    let case = id(rng);
    let handler = agent(rng);
    let &(product, model, price, postage) = pick(rng, PRODUCTS);
    let (category, platform_state) = match kind {
        Kind::Damaged | Kind::Lost | Kind::Delayed => {
            (Category::Logistics, PlatformState::SellerShipped)
        }
        Kind::QualityReturn | Kind::CustomerReturn | Kind::Exchange => {
            (Category::ProductQuality, PlatformState::TradeSucceeded)
        }
        Kind::WarehouseError => (Category::WarehouseError, PlatformState::TradeSucceeded),
        Kind::PriceDrop => (Category::PriceDrop, PlatformState::TradeSucceeded),
        Kind::Complaint => (Category::ServiceComplaint, PlatformState::TradeSucceeded),
        Kind::Repair => (Category::Repair, PlatformState::TradeSucceeded),
        Kind::Question => (Category::Consultation, PlatformState::TradeSucceeded),
    };
    let priority = match (kind, rng.gen_range(0..10)) {
        (Kind::Complaint, 0..=5) | (Kind::Lost, 0..=3) | (_, 0) => Priority::P1,
        (_, 1..=5) => Priority::P2,
        _ => Priority::P3,
    };
    let now = desk.clock.now();
    let who = customer(rng);
    let phone = who.phone.clone();
    desk.case(
        case,
        &handler,
        RegisterCase {
            customer: who,
            order: Some(Order {
                order_no: format!("TB{}", rng.gen_range(10_000_000_000u64..99_999_999_999)),
                paid: Money::cny(price),
                paid_at: now - Duration::days(rng.gen_range(2..20)),
                postage: Some(Money::cny(postage)),
                platform_state,
                platform: None,
            }),
            product: Product {
                name: format!("{product} {model}"),
                model: Some(model.to_owned()),
                serial: Some(format!("{model}-{:06}", rng.gen_range(0..1_000_000))),
                purchase_date: None,
                purchase_channel: Some("天猫旗舰店".to_owned()),
            },
            problem: Problem {
                phenomenon: phenomenon(kind).to_owned(),
                occurred_at: None,
                impact: None,
                notes: None,
            },
            channel: *pick(
                rng,
                &[
                    ContactChannel::Phone,
                    ContactChannel::Im,
                    ContactChannel::Platform,
                ],
            ),
            category,
            priority,
            split_from: None,
            contacted_at: None,
        },
    )
    .await?;
    desk.case(
        case,
        &handler,
        AssignCase {
            agent_id: handler.id.clone(),
        },
    )
    .await?;
    // Most answers come within the hour; a few are late.
    desk.later(if rng.gen_bool(0.9) {
        rng.gen_range(5..60)
    } else {
        rng.gen_range(180..600)
    });
    desk.case(
        case,
        &handler,
        LogCall {
            call_id: id(rng),
            direction: CallDirection::Outbound,
            with_customer: true,
            party_name: None,
            number: phone,
            called_at: desk.clock.now(),
            content: "联系客户核实情况".to_owned(),
            product: Some(product.to_owned()),
            fault: None,
            warranty: WarrantyStatus::InWarranty,
            outcome: if rng.gen_bool(0.85) {
                CallOutcome::Connected
            } else {
                CallOutcome::NoAnswer
            },
            follow_up: FollowUpStatus::Notified,
        },
    )
    .await?;
    desk.later(rng.gen_range(30..240));
    match kind {
        Kind::Damaged => damaged(desk, rng, case, &handler, product, price).await?,
        Kind::Lost => lost(desk, rng, case, &handler, price).await?,
        Kind::Delayed => {
            let carrier = *pick(rng, CARRIERS);
            desk.case(
                case,
                &handler,
                ReportParcelProblem {
                    tracking_no: tracking(rng, "YT"),
                    carrier: carrier.to_owned(),
                    class: ParcelClass::DifficultByCourier,
                    note: None,
                },
            )
            .await?;
            desk.later(rng.gen_range(60..600));
            desk.case(
                case,
                &handler,
                ChaseParcel {
                    note: "催促快递派送".to_owned(),
                },
            )
            .await?;
            desk.case(
                case,
                &handler,
                InformCustomer {
                    channel: ContactChannel::Im,
                    summary: "已催促快递，预计明日送达".to_owned(),
                    about: InformedAbout::Progress,
                    proof: Vec::new(),
                },
            )
            .await?;
        }
        Kind::QualityReturn | Kind::CustomerReturn => {
            let cause = if matches!(kind, Kind::QualityReturn) {
                ReturnCause::Quality
            } else {
                ReturnCause::Customer
            };
            return_goods(desk, rng, case, &handler, cause, price).await?;
        }
        Kind::Exchange => exchange(desk, rng, case, &handler, product, postage).await?,
        Kind::WarehouseError => {
            let order = id(rng);
            desk.case(
                case,
                &handler,
                CreateReshipOrder {
                    reship_order_id: order,
                    stock_name: format!("{product} 配件"),
                    quantity: 1,
                    reason: "仓库漏发".to_owned(),
                    verified_by_weight: Some(true),
                    approval_id: None,
                    lines: Vec::new(),
                },
            )
            .await?;
            desk.later(rng.gen_range(60..1_440));
            desk.case(
                case,
                &warehouse(),
                ShipReshipOrder {
                    reship_order_id: order,
                    tracking_no: tracking(rng, "SF"),
                    carrier: "顺丰".to_owned(),
                },
            )
            .await?;
            if rng.gen_bool(0.5) {
                compensate(desk, rng, case, &handler, postage.min(500)).await?;
            }
        }
        Kind::PriceDrop => {
            let (refund, approval) = (id(rng), id(rng));
            let amount = (price / 20 / 100).max(1) * 100;
            desk.case(
                case,
                &handler,
                RequestPriceDifferenceRefund {
                    price_refund_id: refund,
                    approval_id: approval,
                    amount: Money::cny(amount),
                    reason: "保价期内降价".to_owned(),
                },
            )
            .await?;
            desk.later(rng.gen_range(30..300));
            if rng.gen_bool(0.85) {
                desk.case(
                    case,
                    &supervisor(1),
                    ApproveRequest {
                        approval_id: approval,
                        note: Some("符合价保".to_owned()),
                    },
                )
                .await?;
                desk.later(rng.gen_range(30..600));
                desk.case(
                    case,
                    &finance(),
                    PayPriceDifferenceRefund {
                        price_refund_id: refund,
                        channel: PayoutChannel::Alipay,
                        reference: format!("ALI{}", rng.gen::<u32>()),
                    },
                )
                .await?;
            } else {
                desk.case(
                    case,
                    &supervisor(1),
                    RejectRequest {
                        approval_id: approval,
                        reason: "超过保价期".to_owned(),
                    },
                )
                .await?;
            }
        }
        Kind::Complaint => {
            let handoff = id(rng);
            desk.case(
                case,
                &handler,
                HandOffCase {
                    handoff_id: handoff,
                    department: Department::Supervisor,
                    question: "客户投诉服务态度".to_owned(),
                    respond_within_hours: None,
                    told_customer_via: Some(ContactChannel::Phone),
                },
            )
            .await?;
            desk.later(rng.gen_range(60..900));
            desk.case(
                case,
                &supervisor(1),
                RecordDepartmentResponse {
                    handoff_id: handoff,
                    response: "已与客户沟通并致歉".to_owned(),
                },
            )
            .await?;
            desk.case(
                case,
                &handler,
                InformCustomer {
                    channel: ContactChannel::Phone,
                    summary: "主管已处理并致歉".to_owned(),
                    about: InformedAbout::Progress,
                    proof: Vec::new(),
                },
            )
            .await?;
            compensate(desk, rng, case, &handler, postage + 2_000).await?;
        }
        Kind::Repair => {
            repair(desk, rng, case).await?;
            summary.repairs += 1;
        }
        Kind::Question => {
            desk.case(
                case,
                &handler,
                InformCustomer {
                    channel: ContactChannel::Im,
                    summary: "已解答使用问题".to_owned(),
                    about: InformedAbout::Progress,
                    proof: Vec::new(),
                },
            )
            .await?;
        }
    }
    desk.later(rng.gen_range(30..1_440));
    // 结果告知: the customer hears the result before the case closes.
    desk.case(
        case,
        &handler,
        InformCustomer {
            channel: ContactChannel::Phone,
            summary: "处理结果已告知客户".to_owned(),
            about: InformedAbout::Result,
            proof: Vec::new(),
        },
    )
    .await?;
    desk.case(
        case,
        &handler,
        CloseCase {
            solution: "按 SOP 处理完毕".to_owned(),
            resolution: Resolution::Resolved,
        },
    )
    .await?;
    if rng.gen_bool(0.8) {
        desk.case(
            case,
            &handler,
            RecordCustomerFeedback {
                confirmed: true,
                feedback: None,
                then: None,
            },
        )
        .await?;
    }
    revisit(desk, rng, case, &handler).await
}

fn phenomenon(kind: Kind) -> &'static str {
    match kind {
        Kind::Damaged => "收到货时外箱破损，机身有裂痕",
        Kind::Lost => "物流显示已签收但未收到货",
        Kind::Delayed => "物流多日未更新",
        Kind::QualityReturn => "使用三天后无法开机",
        Kind::CustomerReturn => "七天无理由退货",
        Kind::Exchange => "颜色与页面不符，要求换货",
        Kind::WarehouseError => "少发配件",
        Kind::PriceDrop => "购买后降价，申请退差价",
        Kind::Complaint => "投诉客服回复慢、态度差",
        Kind::Repair => "设备故障申请返修",
        Kind::Question => "咨询使用方法",
    }
}

async fn damaged(
    desk: &mut Desk,
    rng: &mut StdRng,
    case: Uuid,
    handler: &Actor,
    product: &str,
    price: i64,
) -> anyhow::Result<()> {
    let carrier = *pick(rng, CARRIERS);
    desk.case(
        case,
        handler,
        ReportParcelProblem {
            tracking_no: tracking(rng, "YT"),
            carrier: carrier.to_owned(),
            class: ParcelClass::Damaged,
            note: Some("外箱压坏".to_owned()),
        },
    )
    .await?;
    desk.case(
        case,
        handler,
        AddParcelPhotos {
            photos: vec!["box.jpg".to_owned(), "damage.jpg".to_owned()],
        },
    )
    .await?;
    desk.later(rng.gen_range(30..240));
    desk.case(
        case,
        handler,
        ReshipParcel {
            reship_id: id(rng),
            tracking_no: tracking(rng, "SF"),
            carrier: "顺丰".to_owned(),
            items: format!("{product} x1"),
            reason: "运输破损".to_owned(),
        },
    )
    .await?;
    if rng.gen_bool(0.7) {
        let claim = id(rng);
        desk.case(
            case,
            handler,
            FileCourierClaim {
                claim_id: claim,
                amount: Money::cny(price),
            },
        )
        .await?;
        desk.later(rng.gen_range(1_440..7_200));
        let settled = if rng.gen_bool(0.8) { price } else { price / 2 };
        desk.case(
            case,
            &finance(),
            SettleCourierClaim {
                claim_id: claim,
                amount: Money::cny(settled),
            },
        )
        .await?;
    }
    Ok(())
}

async fn lost(
    desk: &mut Desk,
    rng: &mut StdRng,
    case: Uuid,
    handler: &Actor,
    price: i64,
) -> anyhow::Result<()> {
    let carrier = *pick(rng, CARRIERS);
    desk.case(
        case,
        handler,
        ReportParcelProblem {
            tracking_no: tracking(rng, "ZT"),
            carrier: carrier.to_owned(),
            class: ParcelClass::Lost,
            note: None,
        },
    )
    .await?;
    desk.case(
        case,
        handler,
        ChaseParcel {
            note: "联系快递网点查件".to_owned(),
        },
    )
    .await?;
    desk.later(rng.gen_range(600..2_880));
    desk.case(
        case,
        handler,
        ConfirmParcelLost {
            courier_reference: format!("LOSS-{}", rng.gen::<u16>()),
        },
    )
    .await?;
    refund(desk, rng, case, handler, RefundKind::NotReceived, price).await?;
    let claim = id(rng);
    desk.case(
        case,
        handler,
        FileCourierClaim {
            claim_id: claim,
            amount: Money::cny(price),
        },
    )
    .await?;
    desk.later(rng.gen_range(1_440..7_200));
    desk.case(
        case,
        &finance(),
        SettleCourierClaim {
            claim_id: claim,
            amount: Money::cny(price),
        },
    )
    .await
}

async fn refund(
    desk: &mut Desk,
    rng: &mut StdRng,
    case: Uuid,
    handler: &Actor,
    kind: RefundKind,
    amount: i64,
) -> anyhow::Result<()> {
    let refund = id(rng);
    desk.case(
        case,
        handler,
        RequestRefund {
            refund_id: refund,
            kind,
            amount: Money::cny(amount),
            reason: "按规则退款".to_owned(),
            payee_account: None,
        },
    )
    .await?;
    desk.later(rng.gen_range(30..600));
    desk.case(case, handler, ApproveRefund { refund_id: refund })
        .await?;
    desk.later(rng.gen_range(30..600));
    desk.case(
        case,
        &finance(),
        ExecuteRefund {
            refund_id: refund,
            channel: PayoutChannel::Platform,
            reference: format!("TB-R-{}", rng.gen::<u32>()),
        },
    )
    .await
}

async fn compensate(
    desk: &mut Desk,
    rng: &mut StdRng,
    case: Uuid,
    handler: &Actor,
    amount: i64,
) -> anyhow::Result<()> {
    let (compensation, approval) = (id(rng), id(rng));
    desk.case(
        case,
        handler,
        OfferCompensation {
            compensation_id: compensation,
            approval_id: approval,
            amount: Money::cny(amount),
            issue: "补偿客户损失".to_owned(),
        },
    )
    .await?;
    // Above the postage the offer waits for a supervisor.
    let (_, state) = desk.cases.load(case).await?;
    if state.approvals.contains_key(&approval) {
        desk.later(rng.gen_range(30..300));
        desk.case(
            case,
            &supervisor(2),
            ApproveRequest {
                approval_id: approval,
                note: None,
            },
        )
        .await?;
    }
    desk.later(rng.gen_range(30..600));
    desk.case(
        case,
        &finance(),
        PayCompensation {
            compensation_id: compensation,
            channel: PayoutChannel::Alipay,
            reference: format!("ALI{}", rng.gen::<u32>()),
        },
    )
    .await
}

async fn return_goods(
    desk: &mut Desk,
    rng: &mut StdRng,
    case: Uuid,
    handler: &Actor,
    cause: ReturnCause,
    price: i64,
) -> anyhow::Result<()> {
    desk.case(
        case,
        handler,
        RequestReturn {
            cause,
            sub_reason: if cause == ReturnCause::Customer {
                "不想要了".to_owned()
            } else {
                "质量问题".to_owned()
            },
            goods_shipped: true,
            no_reason: cause == ReturnCause::Customer,
            resellable: true,
        },
    )
    .await?;
    desk.case(
        case,
        handler,
        AuthoriseReturn {
            return_address: "浙江省杭州市余杭区仓储中心 A3".to_owned(),
        },
    )
    .await?;
    desk.later(rng.gen_range(1_440..4_320));
    desk.case(
        case,
        &warehouse(),
        ReceiveReturnParcel {
            tracking_no: tracking(rng, "ZT"),
            quantity: 1,
            lines: Vec::new(),
        },
    )
    .await?;
    let resellable = cause == ReturnCause::Customer && rng.gen_bool(0.9);
    let photos = if resellable {
        vec![]
    } else {
        vec!["inspection.jpg".to_owned()]
    };
    desk.case(
        case,
        &warehouse(),
        InspectReturn {
            resellable,
            photos,
            note: None,
        },
    )
    .await?;
    if resellable {
        desk.case(case, &warehouse(), RestockReturn { quantity: 1 })
            .await?;
    }
    refund(
        desk,
        rng,
        case,
        handler,
        RefundKind::ReceivedWithReturn,
        price,
    )
    .await
}

async fn exchange(
    desk: &mut Desk,
    rng: &mut StdRng,
    case: Uuid,
    handler: &Actor,
    product: &str,
    postage: i64,
) -> anyhow::Result<()> {
    desk.case(
        case,
        handler,
        RequestExchange {
            cause: ReturnCause::Company,
            reason: "发错颜色".to_owned(),
            resellable: true,
        },
    )
    .await?;
    desk.case(
        case,
        handler,
        RecordAdvancedPostage {
            amount: Money::cny(postage),
        },
    )
    .await?;
    let order = id(rng);
    desk.case(
        case,
        handler,
        CreateReshipOrder {
            reship_order_id: order,
            stock_name: format!("{product} 整机"),
            quantity: 1,
            reason: "换货".to_owned(),
            verified_by_weight: None,
            approval_id: None,
            lines: Vec::new(),
        },
    )
    .await?;
    desk.later(rng.gen_range(60..1_440));
    desk.case(
        case,
        &warehouse(),
        ShipReshipOrder {
            reship_order_id: order,
            tracking_no: tracking(rng, "SF"),
            carrier: "顺丰".to_owned(),
        },
    )
    .await?;
    desk.case(
        case,
        &finance(),
        ReimbursePostage {
            amount: Money::cny(postage),
        },
    )
    .await
}

async fn repair(desk: &mut Desk, rng: &mut StdRng, case: Uuid) -> anyhow::Result<()> {
    let repair = id(rng);
    let serial = format!("IMEI-{:08}", rng.gen_range(0..100_000_000));
    let tier = rng.gen_range(1..=3);
    let liquid = rng.gen_bool(0.1);
    let mut steps: Vec<(i64, RepairCommand)> = vec![
        (
            0,
            ReceiveDevice {
                case_id: Some(case),
                serial_outside: serial.clone(),
                tier,
                accessories: vec!["充电线".to_owned()],
            }
            .into(),
        ),
        (
            60,
            RecordIntakeCheck {
                serial_inside: serial,
                seal_intact: !liquid,
                liquid_damage: liquid,
                missing_parts: vec![],
                unauthorised_repair: false,
            }
            .into(),
        ),
        (
            30,
            DecideWarranty {
                in_warranty: !liquid,
                product_fault: !liquid,
                cost_cap: liquid.then(|| Money::cny(30_000)),
                customer_signed: liquid,
            }
            .into(),
        ),
        (10, AcknowledgeDataLossDisclaimer {}.into()),
        (
            120,
            SendToVendor {
                vendor: "厂家售后中心".to_owned(),
            }
            .into(),
        ),
        (
            rng.gen_range(1_440..(i64::from(tier) * 4 * 1_440)),
            ReceiveFromVendor {}.into(),
        ),
    ];
    if rng.gen_bool(0.05) {
        steps.push((
            60,
            RecordRepairTest {
                passed: false,
                note: Some("仍有异响".to_owned()),
            }
            .into(),
        ));
        steps.push((
            1_440,
            SendToVendor {
                vendor: "厂家售后中心".to_owned(),
            }
            .into(),
        ));
        steps.push((2_880, ReceiveFromVendor {}.into()));
    }
    steps.push((
        60,
        RecordRepairTest {
            passed: true,
            note: None,
        }
        .into(),
    ));
    steps.push((
        60,
        ReturnDevice {
            tracking_no: tracking(rng, "SF"),
        }
        .into(),
    ));
    for (minutes, step) in steps {
        desk.later(minutes);
        desk.events += execute(&desk.repairs, repair, &technician(), step).await?;
    }
    Ok(())
}

async fn revisit(
    desk: &mut Desk,
    rng: &mut StdRng,
    case: Uuid,
    handler: &Actor,
) -> anyhow::Result<()> {
    let revisit = id(rng);
    let due = desk.clock.now() + Duration::days(2);
    desk.case(
        case,
        handler,
        ScheduleRevisit {
            revisit_id: revisit,
            kind: RevisitKind::AfterResolution,
            due_at: due,
        },
    )
    .await?;
    desk.later(rng.gen_range(600..2_880));
    let outcome = match rng.gen_range(0..100) {
        0..=54 => RevisitOutcome::Scored {
            score: 5,
            attitude: None,
            skill: None,
            comment: None,
        },
        55..=74 => RevisitOutcome::Scored {
            score: 4,
            attitude: None,
            skill: None,
            comment: Some("整体满意".to_owned()),
        },
        75..=84 => RevisitOutcome::Scored {
            score: 3,
            attitude: None,
            skill: None,
            comment: Some("处理速度一般".to_owned()),
        },
        85..=89 => RevisitOutcome::Scored {
            score: 2,
            attitude: None,
            skill: None,
            comment: Some("等待时间太长".to_owned()),
        },
        90..=91 => RevisitOutcome::Scored {
            score: 1,
            attitude: None,
            skill: None,
            comment: Some("问题没解决".to_owned()),
        },
        92..=95 => RevisitOutcome::Unreachable,
        _ => RevisitOutcome::Refused,
    };
    let complaint = matches!(outcome, RevisitOutcome::Scored { score: 1..=2, .. })
        .then(|| "客户不满意处理结果".to_owned());
    desk.case(
        case,
        handler,
        RecordRevisit {
            revisit_id: revisit,
            outcome,
            complaint,
        },
    )
    .await
}

async fn remind_unpaid_order(desk: &mut Desk, rng: &mut StdRng) -> anyhow::Result<()> {
    let order = id(rng);
    let handler = agent(rng);
    let &(_, _, price, _) = pick(rng, PRODUCTS);
    let ordered_at = desk.clock.now() - Duration::hours(rng.gen_range(10..20));
    let run = |command: ReminderCommand| {
        let handler = handler.clone();
        let orders = &desk.orders;
        async move { execute(orders, order, &handler, command).await }
    };
    let mut events = run(RegisterUnpaidOrder {
        order_no: format!("TB{}", rng.gen_range(10_000_000_000u64..99_999_999_999)),
        buyer_id: format!("tb_{:x}", rng.gen::<u32>()),
        ordered_at,
        amount: Money::cny(price),
    }
    .into())
    .await?;
    let (result, paid) = match rng.gen_range(0..100) {
        0..=44 => (ReminderResult::WillPay, true),
        45..=59 => (ReminderResult::WillPay, false),
        60..=69 => (ReminderResult::NotNeeded, false),
        70..=89 => (ReminderResult::Unreachable, false),
        _ => (ReminderResult::Annoyed, false),
    };
    let channel = *pick(
        rng,
        &[
            ReminderChannel::Phone,
            ReminderChannel::Im,
            ReminderChannel::Sms,
        ],
    );
    events += run(RecordReminder {
        channel,
        result,
        note: None,
    }
    .into())
    .await?;
    if paid {
        events += run(RecordPayment {
            paid_at: ordered_at + Duration::hours(rng.gen_range(20..40)),
            amount: Money::cny(price),
        }
        .into())
        .await?;
    } else if result == ReminderResult::NotNeeded {
        events += run(CloseUnpaidOrder {
            reason: CloseReason::Manual {
                reason: "其他".to_owned(),
            },
        }
        .into())
        .await?;
    }
    desk.events += events;
    Ok(())
}

async fn audit_month(desk: &mut Desk, rng: &mut StdRng, month: NaiveDate) -> anyhow::Result<()> {
    let audit = id(rng);
    let population: Vec<String> = (0..120)
        .map(|i| format!("{}-customer-{i:03}", month.format("%Y%m")))
        .collect();
    // Drawn by the 27th, in the morning.
    let drawn_on = month.with_day(27).unwrap_or(month);
    desk.clock
        .set(Utc.from_utc_datetime(&drawn_on.and_hms_opt(2, 0, 0).unwrap_or_default()));
    let lead = supervisor(1);
    let outcome = desk
        .audits
        .execute(&Envelope::new(
            audit,
            AuditCommand::from(DrawSample {
                month: month.format("%Y-%m").to_string(),
                seed: rng.gen(),
                population,
                size: 50,
            }),
            lead.clone(),
        ))
        .await?;
    desk.events += outcome.events.len();
    let Some(aftersales_domain::audit::AuditEvent::AuditSampleDrawn(sample)) =
        outcome.events.first()
    else {
        anyhow::bail!("the draw recorded no sample");
    };
    let caller = Actor::new("agent-zhaoli", Role::Agent);
    // Calls the day after the draw, in the morning, afternoon and evening
    // slots (10:30, 14:30 and 19:30 China time): retries go to another slot.
    let slots = [2 * 60 + 30, 6 * 60 + 30, 11 * 60 + 30];
    for customer in sample.drawn.clone() {
        let outcome = match rng.gen_range(0..100) {
            0..=59 => AuditCallOutcome::Answered {
                score: 5,
                reason: None,
            },
            60..=79 => AuditCallOutcome::Answered {
                score: 4,
                reason: Some("快递慢".to_owned()),
            },
            80..=87 => AuditCallOutcome::Answered {
                score: 3,
                reason: Some("客服回复慢".to_owned()),
            },
            88..=92 => AuditCallOutcome::Refused,
            _ => AuditCallOutcome::NoAnswer,
        };
        let attempts = if matches!(outcome, AuditCallOutcome::NoAnswer) {
            3
        } else {
            1
        };
        for slot in slots.iter().take(attempts) {
            let day = drawn_on + chrono::Days::new(1);
            let called_at = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
                + Duration::minutes(*slot);
            desk.clock.set(called_at);
            let command = AuditCommand::from(RecordAuditCall {
                customer: customer.clone(),
                called_at,
                outcome: outcome.clone(),
                agent: None,
                complaint: None,
            });
            desk.events += execute(&desk.audits, audit, &caller, command).await?;
        }
    }
    desk.clock.set(desk.clock.now() + Duration::days(1));
    desk.events += execute(
        &desk.audits,
        audit,
        &lead,
        AuditCommand::from(CloseAudit {}),
    )
    .await?;
    Ok(())
}
