//! 催款导单: the platform's export of the day's unpaid orders (CSV, or the
//! first sheet of an `.xlsx` workbook), registered in one go. Each order's stream follows from its number, so importing the
//! same file twice registers nothing new; each line is answered for itself
//! (registered, already there, or refused and why), and a bad line never
//! stops the good ones.

use aftersales_domain::calendar::BusinessCalendar;
use aftersales_domain::reminder::{RegisterUnpaidOrder, UnpaidOrder};
use aftersales_domain::{Actor, DomainError, Money};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::handler::{Envelope, Handler, HandlerError};

/// Most lines one import takes: a day's export of one shop.
pub const MAX_LINES: usize = 5_000;

/// The columns of an export, as the platform or this product names them.
const ORDER_NO: &[&str] = &["order_no", "订单号", "订单编号"];
const BUYER_ID: &[&str] = &["buyer_id", "买家ID", "买家会员名", "买家昵称"];
const ORDERED_AT: &[&str] = &["ordered_at", "下单时间", "订单创建时间"];
const AMOUNT: &[&str] = &["amount", "金额", "应付金额", "买家应付货款"];

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file cannot be read: {0}")]
    Unreadable(String),
    #[error("the header names no column for {0} (one of: {1})")]
    MissingColumn(&'static str, String),
    #[error("the file has more than {MAX_LINES} orders; split it")]
    TooManyLines,
}

/// What became of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineOutcome {
    Registered,
    AlreadyRegistered,
    Refused,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ImportedLine {
    /// The line of the file, the header being line 1.
    pub line: usize,
    pub order_no: Option<String>,
    pub outcome: LineOutcome,
    /// The unpaid order's id.
    pub id: Option<Uuid>,
    /// Why a line was refused.
    pub reason: Option<String>,
    /// The column at fault.
    pub field: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    pub registered: usize,
    pub already_registered: usize,
    pub refused: usize,
    pub lines: Vec<ImportedLine>,
}

/// The stream an order number's unpaid order lives in.
pub fn unpaid_order_id(order_no: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x8f0c_52a4_61d3_4c2e_b7f9_3a16_5e0d_c4b1);
    Uuid::new_v5(&NAMESPACE, order_no.trim().as_bytes())
}

/// Registers every order of `csv` as `actor`, a time without an offset
/// being the shop's local time.
pub async fn import_unpaid_orders(
    handler: &Handler<UnpaidOrder>,
    file: &[u8],
    calendar: &BusinessCalendar,
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    let (header, records) = if file.starts_with(ZIP_MAGIC) {
        read_workbook(file)?
    } else {
        read_csv(file)?
    };
    let column = |names: &'static [&'static str]| {
        header
            .iter()
            .position(|name| names.contains(&name.trim_start_matches('\u{feff}').trim()))
            .ok_or_else(|| ImportError::MissingColumn(names[0], names.join(", ")))
    };
    let columns = [
        column(ORDER_NO)?,
        column(BUYER_ID)?,
        column(ORDERED_AT)?,
        column(AMOUNT)?,
    ];
    if records.len() > MAX_LINES {
        return Err(ImportError::TooManyLines);
    }
    let mut report = ImportReport {
        registered: 0,
        already_registered: 0,
        refused: 0,
        lines: Vec::with_capacity(records.len()),
    };
    for (index, record) in records.into_iter().enumerate() {
        let line = index + 2;
        let imported = match record {
            Err(error) => refused(line, None, "line", error),
            Ok(record) => {
                let cell = |i: usize| {
                    record
                        .get(columns[i])
                        .map_or("", |cell| cell.trim())
                        .to_owned()
                };
                let order_no = cell(0);
                match parse(&order_no, cell(1), &cell(2), &cell(3), calendar) {
                    Err((field, reason)) => refused(line, Some(order_no), field, reason),
                    Ok(command) => register(handler, command, actor, line).await,
                }
            }
        };
        match imported.outcome {
            LineOutcome::Registered => report.registered += 1,
            LineOutcome::AlreadyRegistered => report.already_registered += 1,
            LineOutcome::Refused => report.refused += 1,
        }
        report.lines.push(imported);
    }
    Ok(report)
}

/// The rows of a worksheet searched for its header.
const HEADER_SEARCH: usize = 10;

/// How a zip archive, and so an `.xlsx` workbook, begins.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// A file's header and its lines, each its cells or why it cannot be read.
type Lines = (Vec<String>, Vec<Result<Vec<String>, String>>);

fn read_csv(file: &[u8]) -> Result<Lines, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(file);
    let header = reader
        .headers()
        .map_err(|e| ImportError::Unreadable(e.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader
        .records()
        .take(MAX_LINES + 1)
        .map(|record| {
            record
                .map(|record| record.iter().map(str::to_owned).collect())
                .map_err(|e| e.to_string())
        })
        .collect();
    Ok((header, records))
}

/// The first worksheet of an `.xlsx` export, its first row the header.
fn read_workbook(file: &[u8]) -> Result<Lines, ImportError> {
    use calamine::{Data, Reader as _};
    let unreadable = |e: &dyn std::fmt::Display| ImportError::Unreadable(e.to_string());
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(file)).map_err(|e| unreadable(&e))?;
    let sheet = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| ImportError::Unreadable("a workbook without a worksheet".to_owned()))?
        .map_err(|e| unreadable(&e))?;
    let text = |cell: &Data| match cell {
        Data::Empty => String::new(),
        Data::String(text) => text.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) => format!("{f:.2}"),
        Data::Bool(yes) => yes.to_string(),
        Data::DateTime(at) => excel_time(at.as_f64()),
        Data::DateTimeIso(text) | Data::DurationIso(text) => text.replace('T', " "),
        Data::Error(error) => format!("#{error:?}"),
    };
    let mut rows = sheet
        .rows()
        .map(|row| row.iter().map(text).collect::<Vec<_>>());
    // A title may stand above the header (as in this product's own
    // workbooks): the header is the first row naming the order number.
    let header = rows
        .by_ref()
        .take(HEADER_SEARCH)
        .find(|row| row.iter().any(|cell| ORDER_NO.contains(&cell.trim())))
        .ok_or_else(|| ImportError::MissingColumn(ORDER_NO[0], ORDER_NO.join(", ")))?;
    Ok((header, rows.take(MAX_LINES + 1).map(Ok).collect()))
}

/// An Excel date-time (days since 1899-12-30, the fraction the time of
/// day) as `YYYY-MM-DD HH:MM:SS`, a local time.
fn excel_time(serial: f64) -> String {
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let seconds = (serial * 86_400.0).round() as i64;
    (epoch + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn refused(
    line: usize,
    order_no: Option<String>,
    field: impl Into<String>,
    reason: String,
) -> ImportedLine {
    ImportedLine {
        line,
        order_no,
        outcome: LineOutcome::Refused,
        id: None,
        reason: Some(reason),
        field: Some(field.into()),
    }
}

fn parse(
    order_no: &str,
    buyer_id: String,
    ordered_at: &str,
    amount: &str,
    calendar: &BusinessCalendar,
) -> Result<RegisterUnpaidOrder, (&'static str, String)> {
    if order_no.is_empty() {
        return Err(("order_no", "is required".to_owned()));
    }
    let ordered_at = parse_time(ordered_at, calendar).ok_or((
        "ordered_at",
        format!("{ordered_at:?} is not a time: RFC 3339, or YYYY-MM-DD HH:MM:SS in the shop's time zone"),
    ))?;
    let amount = parse_yuan(amount).ok_or((
        "amount",
        format!("{amount:?} is not an amount in yuan, such as 199.00"),
    ))?;
    Ok(RegisterUnpaidOrder {
        order_no: order_no.to_owned(),
        buyer_id,
        ordered_at,
        amount: Money::cny(amount),
    })
}

fn parse_time(text: &str, calendar: &BusinessCalendar) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .and_then(|local| calendar.time_zone.from_local_datetime(&local).earliest())
    .map(|at| at.with_timezone(&Utc))
}

/// Yuan as the exports write them (`199`, `199.5`, `199.00`, `1,299.00`),
/// in fen.
fn parse_yuan(text: &str) -> Option<i64> {
    let text = text.trim_start_matches(['¥', '￥']).replace(',', "");
    let (whole, cents) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty() || cents.len() > 2 || !whole.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !cents.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let cents = format!("{cents:0<2}");
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents.parse::<i64>().ok()?)
}

async fn register(
    handler: &Handler<UnpaidOrder>,
    command: RegisterUnpaidOrder,
    actor: &Actor,
    line: usize,
) -> ImportedLine {
    let order_no = command.order_no.clone();
    let id = unpaid_order_id(&order_no);
    // The order's stream follows from its number: a second registration of
    // it, by this import or a retried one, is refused by the order itself.
    let envelope = Envelope::new(id, command.into(), actor.clone());
    let (outcome, reason, field) = match handler.execute(&envelope).await {
        Ok(_) => (LineOutcome::Registered, None, None),
        Err(HandlerError::Rejected(DomainError::OrderAlreadyRegistered)) => {
            (LineOutcome::AlreadyRegistered, None, None)
        }
        Err(HandlerError::Rejected(rule)) => (
            LineOutcome::Refused,
            Some(rule.to_string()),
            rule.field().map(str::to_owned),
        ),
        Err(error) => (LineOutcome::Refused, Some(error.to_string()), None),
    };
    ImportedLine {
        line,
        order_no: Some(order_no),
        id: (outcome != LineOutcome::Refused).then_some(id),
        outcome,
        reason,
        field,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_yuan;

    #[test]
    fn yuan_are_read_as_exports_write_them() {
        for (text, fen) in [
            ("199", 19_900),
            ("199.5", 19_950),
            ("199.00", 19_900),
            ("1,299.00", 129_900),
            ("¥0.01", 1),
        ] {
            assert_eq!(parse_yuan(text), Some(fen), "{text}");
        }
        for bad in ["", "-5", "1.234", "abc", "1.2x", "."] {
            assert_eq!(parse_yuan(bad), None, "{bad}");
        }
    }
}
