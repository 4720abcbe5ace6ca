//! The nouns the forms use: customers, orders, products, categories,
//! priorities, call outcomes, parcel classes, return causes, refund kinds.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::money::Money;

/// Longest free text a form field takes, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// Longest short field (names, numbers, ids), in characters.
pub const MAX_SHORT_CHARS: usize = 200;

/// Most entries a list on a form takes (photos, evidence, accessories,
/// missing parts): a form has room for a handful, never thousands.
pub const MAX_LIST_ITEMS: usize = 50;

/// Checks a list of short entries: at most `max` of them, each one a
/// required short field.
pub fn check_list(field: &'static str, items: &[String], max: usize) -> Result<(), DomainError> {
    if items.len() > max {
        return Err(DomainError::invalid(
            field,
            format!("has {} entries; at most {max} are allowed", items.len()),
        ));
    }
    items.iter().try_for_each(|item| require_short(field, item))
}

/// Checks a required short field: present, bounded, printable.
pub fn require_short(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::invalid(field, "is required"));
    }
    check_text(field, value, MAX_SHORT_CHARS)
}

/// Checks a required free-text field.
pub fn require_text(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::invalid(field, "is required"));
    }
    check_text(field, value, MAX_TEXT_CHARS)
}

/// Checks an optional field's length and characters.
pub fn check_text(field: &'static str, value: &str, max_chars: usize) -> Result<(), DomainError> {
    if value.chars().count() > max_chars {
        return Err(DomainError::invalid(
            field,
            format!("is longer than {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(DomainError::invalid(field, "contains control characters"));
    }
    Ok(())
}

pub fn check_optional(field: &'static str, value: &Option<String>) -> Result<(), DomainError> {
    value
        .as_deref()
        .map_or(Ok(()), |v| check_text(field, v, MAX_TEXT_CHARS))
}

/// One line of goods on a register (退件表, 重发单): a product, its
/// specification (规格) and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoodsLine {
    pub product: String,
    #[serde(default)]
    pub spec: Option<String>,
    pub quantity: u32,
}

/// Most goods one parcel or order holds.
const MAX_QUANTITY: u32 = 10_000;

/// Checks a parcel's or an order's quantity and its lines: when lines are
/// given, at most 50, each a product with 1 to 10,000 of it, adding up to
/// the quantity.
pub fn check_goods(quantity: u32, lines: &[GoodsLine]) -> Result<(), DomainError> {
    if quantity == 0 || quantity > MAX_QUANTITY {
        return Err(DomainError::invalid("quantity", "must be 1 to 10000"));
    }
    if lines.len() > MAX_LIST_ITEMS {
        return Err(DomainError::invalid(
            "lines",
            format!(
                "has {} lines; at most {MAX_LIST_ITEMS} are allowed",
                lines.len()
            ),
        ));
    }
    for line in lines {
        require_short("lines.product", &line.product)?;
        if let Some(spec) = &line.spec {
            require_short("lines.spec", spec)?;
        }
        if line.quantity == 0 || line.quantity > MAX_QUANTITY {
            return Err(DomainError::invalid("lines.quantity", "must be 1 to 10000"));
        }
    }
    let total: u64 = lines.iter().map(|line| u64::from(line.quantity)).sum();
    if !lines.is_empty() && total != u64::from(quantity) {
        return Err(DomainError::invalid(
            "lines",
            format!("add up to {total}, not the quantity {quantity}"),
        ));
    }
    Ok(())
}

/// The customer as the registration form (售后服务登记表) records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    pub name: String,
    pub phone: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// The platform buyer id (旺旺ID).
    #[serde(default)]
    pub buyer_id: Option<String>,
}

impl Customer {
    pub fn validate(&self) -> Result<(), DomainError> {
        require_short("customer.name", &self.name)?;
        require_short("customer.phone", &self.phone)?;
        if !self
            .phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'))
        {
            return Err(DomainError::invalid(
                "customer.phone",
                "may hold only digits, spaces and + - ( )",
            ));
        }
        check_optional("customer.address", &self.address)?;
        if let Some(email) = &self.email {
            check_text("customer.email", email, MAX_SHORT_CHARS)?;
            if !email.contains('@') {
                return Err(DomainError::invalid(
                    "customer.email",
                    "is not an e-mail address",
                ));
            }
        }
        if let Some(buyer) = &self.buyer_id {
            check_text("customer.buyer_id", buyer, MAX_SHORT_CHARS)?;
        }
        Ok(())
    }
}

/// Where the order stands on the platform; refund timers depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlatformState {
    /// 买家已付款
    BuyerPaid,
    /// 卖家已发货
    SellerShipped,
    /// 交易成功
    TradeSucceeded,
}

/// The order a case is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub order_no: String,
    /// What the buyer paid for the order.
    pub paid: Money,
    pub paid_at: DateTime<Utc>,
    /// The postage of the order: the limit of a compensation an agent may
    /// grant alone.
    #[serde(default)]
    pub postage: Option<Money>,
    pub platform_state: PlatformState,
    /// The platform the order was placed on, as the shop's policy names it
    /// (`taobao`, `jd` …); its refund timers apply. None: the policy's
    /// default platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

impl Order {
    pub fn validate(&self) -> Result<(), DomainError> {
        require_short("order.order_no", &self.order_no)?;
        self.paid.check_positive("order.paid")?;
        if let Some(postage) = self.postage {
            if postage.minor < 0 || postage.currency != self.paid.currency {
                return Err(DomainError::invalid(
                    "order.postage",
                    "must be zero or more, in the order's currency",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub name: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub purchase_date: Option<NaiveDate>,
    /// Where it was bought (购买渠道).
    #[serde(default)]
    pub purchase_channel: Option<String>,
}

impl Product {
    pub fn validate(&self) -> Result<(), DomainError> {
        require_short("product.name", &self.name)?;
        for (field, value) in [
            ("product.model", &self.model),
            ("product.serial", &self.serial),
            ("product.purchase_channel", &self.purchase_channel),
        ] {
            if let Some(v) = value {
                check_text(field, v, MAX_SHORT_CHARS)?;
            }
        }
        Ok(())
    }
}

/// 问题描述: phenomenon, when it happened, impact, notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    pub phenomenon: String,
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub impact: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

impl Problem {
    pub fn validate(&self) -> Result<(), DomainError> {
        require_text("problem.phenomenon", &self.phenomenon)?;
        check_optional("problem.impact", &self.impact)?;
        check_optional("problem.notes", &self.notes)
    }
}

/// How the customer reached the team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactChannel {
    Phone,
    Im,
    Email,
    WebForm,
    Platform,
}

/// 问题分类
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 物流: chase, track, signed by someone else, lost, damaged.
    Logistics,
    /// 产品质量
    ProductQuality,
    /// 仓库错误: wrong item (错发), short shipment (少发), missing gift.
    WarehouseError,
    /// 价格下降 → price-difference refund.
    PriceDrop,
    /// 服务投诉
    ServiceComplaint,
    Repair,
    Consultation,
    /// 催款
    PaymentReminder,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logistics => "logistics",
            Self::ProductQuality => "product_quality",
            Self::WarehouseError => "warehouse_error",
            Self::PriceDrop => "price_drop",
            Self::ServiceComplaint => "service_complaint",
            Self::Repair => "repair",
            Self::Consultation => "consultation",
            Self::PaymentReminder => "payment_reminder",
        }
    }
}

/// P1: core business down / batch fault / risk of public complaint.
/// P2: a single customer's fault or a service complaint.
/// P3: consultation or suggestion.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Priority {
    P1,
    P2,
    P3,
}

/// 呼入 / 呼出
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    Inbound,
    Outbound,
}

/// How a call went (客户呼出电话记录表).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Connected,
    NoAnswer,
    PoweredOff,
    Busy,
    Rejected,
    HungUp,
    WrongPerson,
}

impl CallOutcome {
    pub fn reached_customer(self) -> bool {
        matches!(self, Self::Connected)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarrantyStatus {
    InWarranty,
    OutOfWarranty,
    Other,
}

/// 跟进状态
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    Notified,
    Other(String),
}

/// 快递件的分类 (快递查询 SOP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParcelClass {
    /// 正常件
    Normal,
    /// 疑难件, caused by the customer (phone off, wrong address).
    DifficultByCustomer,
    /// 疑难件, caused by the courier (wrong address, backlog, held, signed by someone else).
    DifficultByCourier,
    /// 超区件
    OutOfArea,
    /// 破损
    Damaged,
    /// 丢件
    Lost,
    /// 拒签
    Rejected,
    /// 面单脱落
    LabelFallenOff,
}

impl ParcelClass {
    /// Damaged and lost goods are claimed from the courier.
    pub fn is_courier_liable(self) -> bool {
        matches!(self, Self::Damaged | Self::Lost)
    }
}

/// Why goods come back (退货原因).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnCause {
    /// Changed mind, bought elsewhere, wants a promotion price, away.
    Customer,
    /// Out of stock, short or wrong shipment, late dispatch.
    Company,
    /// Damage, loss, bad service, late.
    Courier,
    Quality,
}

/// Who pays the postage of a return or exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostageBearer {
    Customer,
    Company,
    Courier,
}

impl ReturnCause {
    /// Customer cause → the customer both ways; company cause or quality →
    /// the company both ways; courier cause → the courier.
    pub fn postage_bearer(self) -> PostageBearer {
        match self {
            Self::Customer => PostageBearer::Customer,
            Self::Company | Self::Quality => PostageBearer::Company,
            Self::Courier => PostageBearer::Courier,
        }
    }
}

/// 退款类型
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundKind {
    /// 未收到货: always the whole order.
    NotReceived,
    /// 已收到货，不需退货
    ReceivedNoReturn,
    /// 已收到货，需要退货
    ReceivedWithReturn,
    /// 交易成功后直接打款 by finance to the buyer's bank or Alipay account.
    DirectTransfer,
}

/// The departments a case is handed to (对接流程).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Department {
    Warehouse,
    Courier,
    Finance,
    Supervisor,
    Technical,
    StoreManager,
}

/// When a revisit (回访) happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevisitKind {
    AfterDelivery,
    AfterResolution,
    /// Within 3 days of a repair.
    AfterRepair,
    /// A stock-out notice with a promised arrival date.
    StockOutNotice,
}

/// What a revisit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RevisitOutcome {
    /// 5-point satisfaction, 5 = very satisfied: overall, and as the
    /// revisit form asks it, for the service attitude (服务态度) and the
    /// technical skill (技术) when the customer rated them apart.
    Scored {
        score: u8,
        #[serde(default)]
        attitude: Option<u8>,
        #[serde(default)]
        skill: Option<u8>,
        #[serde(default)]
        comment: Option<String>,
    },
    Refused,
    Unreachable,
}

/// How a closed case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Resolved,
    /// The customer's demand was declined with reasons.
    Declined,
    /// The customer stopped answering.
    Abandoned,
    Duplicate,
}
