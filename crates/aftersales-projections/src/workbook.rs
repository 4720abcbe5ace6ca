//! Reports and registers as Excel workbooks (`.xlsx`), where these teams
//! keep their registers: the report's title, the forms' Chinese column
//! headings, money in yuan, text as text (a customer named `=HYPERLINK(…)`
//! is never a formula).

use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde_json::Value;

use crate::error::ProjectionError;
use crate::table::{TableDocument, MINOR_UNITS};

/// The rows a worksheet holds, less the title and the headings.
const MAX_ROWS: usize = 1_048_576 - 2;

/// The workbook of a report: one worksheet named after it.
pub fn workbook(report: &TableDocument) -> Result<Vec<u8>, ProjectionError> {
    if report.rows.len() > MAX_ROWS {
        return Err(ProjectionError::TooManyRows {
            rows: report.rows.len(),
        });
    }
    write(report).map_err(|e| ProjectionError::Workbook(e.to_string()))
}

fn write(report: &TableDocument) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let yuan = Format::new().set_num_format("0.00");
    let sheet = workbook.add_worksheet();
    // Report names are short ASCII: always a valid sheet name.
    sheet.set_name(report.name.chars().take(31).collect::<String>())?;
    sheet.write_string_with_format(0, 0, report.title.as_str(), &bold)?;
    for (col, column) in (0u16..).zip(&report.columns) {
        sheet.write_string_with_format(1, col, heading(column), &bold)?;
    }
    for (row, record) in (2u32..).zip(&report.rows) {
        for (col, column) in (0u16..).zip(&report.columns) {
            match record.get(column).unwrap_or(&Value::Null) {
                Value::Null => {}
                Value::Bool(yes) => {
                    sheet.write_string(row, col, if *yes { "是" } else { "否" })?;
                }
                Value::Number(number) => match (number.as_i64(), column.ends_with(MINOR_UNITS)) {
                    (Some(minor), true) => {
                        sheet.write_number_with_format(row, col, minor as f64 / 100.0, &yuan)?;
                    }
                    _ => {
                        sheet.write_number(row, col, number.as_f64().unwrap_or_default())?;
                    }
                },
                Value::String(text) => {
                    sheet.write_string(row, col, text.as_str())?;
                }
                other => {
                    sheet.write_string(row, col, other.to_string())?;
                }
            }
        }
    }
    sheet.set_freeze_panes(2, 0)?;
    sheet.autofit();
    workbook.save_to_buffer()
}

/// A column's heading as the forms write it; the column's own name where
/// the forms have none.
pub fn heading(column: &str) -> &str {
    match column {
        "account" => "科目",
        "actions" => "操作次数",
        "agent" => "客服",
        "all" => "全部",
        "answered" => "已答复",
        "assignee" => "负责人",
        "at" => "时间",
        "average" => "平均分",
        "average_attitude" => "服务态度平均分",
        "average_skill" => "技术平均分",
        "avg_response_hours" => "平均响应时长(小时)",
        "avg_turnaround_days" => "平均周期(天)",
        "balance_minor" => "余额(元)",
        "batch" => "批次",
        "buyer_id" => "买家ID",
        "caller" => "回访人",
        "calls" => "通话次数",
        "caps_minor" => "客户同意上限(元)",
        "caps_raised" => "上限调整次数",
        "carrier" => "快递公司",
        "case" => "工单号",
        "cases" => "工单数",
        "category" => "问题类别",
        "cause" => "退货原因",
        "channel" => "方式",
        "chases" => "催件次数",
        "churn_rate_pct" => "流失率(%)",
        "claimed_minor" => "索赔金额(元)",
        "class" => "件类",
        "closed" => "已关闭",
        "closed_at" => "关闭时间",
        "closed_cases" => "已结工单",
        "complaint" => "投诉",
        "complaints" => "投诉数",
        "confirmed" => "已确认",
        "counterparty" => "往来方",
        "currency" => "币种",
        "customer" => "客户",
        "customer_confirmed" => "客户确认",
        "customer_feedback" => "客户反馈",
        "customers_paid" => "已付款客户数",
        "customers_reminded" => "催款客户数",
        "day" => "日期",
        "department" => "部门",
        "escalated" => "已升级",
        "excluded" => "剔除",
        "filled_by" => "填单人",
        "first_at" => "首次处理时间",
        "first_registered_at" => "首次登记时间",
        "first_response_breaches" => "首次响应超时数",
        "first_response_measured" => "首次响应统计数",
        "first_response_on_time_pct" => "首次响应及时率(%)",
        "free" => "免费维修",
        "handed_off" => "对接数",
        "handler" => "经办人",
        "incident" => "批量故障",
        "last_action" => "最后操作",
        "last_at" => "最后处理时间",
        "last_called_at" => "最后通话时间",
        "last_registered_at" => "最近登记时间",
        "loss_confirmed" => "确认丢件",
        "lost" => "流失客户数",
        "low_score_reasons" => "低分原因",
        "low_scores" => "低分数",
        "model" => "型号",
        "month" => "月份",
        "on_time" => "按期",
        "on_time_pct" => "按期率(%)",
        "open" => "未结",
        "open_cases" => "未结工单",
        "order_day" => "下单日期",
        "order_no" => "订单号",
        "outcome" => "结果",
        "paid" => "已付款",
        "paid_at" => "付款时间",
        "paid_total_minor" => "已付金额(元)",
        "parcels" => "包裹数",
        "phone" => "电话",
        "photos" => "照片数",
        "priority" => "优先级",
        "problem" => "问题",
        "product" => "产品",
        "quality_pass_pct" => "维修合格率(%)",
        "quantity" => "数量",
        "quoted" => "已报价",
        "quotes_minor" => "报价金额(元)",
        "reason" => "原因",
        "reasons" => "原因",
        "received" => "收到",
        "received_by" => "收件人",
        "recovered_minor" => "回款金额(元)",
        "refused" => "拒绝",
        "regular_customers" => "老客户数",
        "reminder_day" => "催款日期",
        "reminders" => "催款次数",
        "reopened" => "重开次数",
        "resellable" => "可二次销售",
        "reshipped" => "已重发",
        "resolution" => "处理结果",
        "resolution_breaches" => "处理超时数",
        "resolution_measured" => "处理统计数",
        "resolution_on_time_pct" => "处理及时率(%)",
        "restocked" => "已入库",
        "result" => "结果",
        "returned" => "已返还",
        "revisits" => "回访数",
        "root_causes" => "根本原因",
        "running_total" => "累计",
        "sampled" => "抽查数",
        "score" => "满意度",
        "scored" => "已评分",
        "settled_minor" => "理赔金额(元)",
        "signed_off_by" => "部门主管签字",
        "slot" => "时段",
        "solution" => "解决方案",
        "source" => "来源",
        "spec" => "规格",
        "status" => "状态",
        "success_rate_pct" => "成功率(%)",
        "target" => "目标",
        "target_met" => "达标",
        "tested" => "已检测",
        "tier" => "维修等级",
        "tier_days" => "交期(天)",
        "tracking_no" => "运单号",
        "tracking_nos" => "运单号",
        "unpaid_total_minor" => "未付金额(元)",
        "unreachable" => "未接通",
        "week" => "周",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;
    use crate::reports::catalogue::REPORTS;

    #[test]
    fn a_workbook_is_written_and_a_heading_without_a_form_name_is_the_column() {
        let mut row = Map::new();
        row.insert("customer".into(), json!("=HYPERLINK(\"http://x\")"));
        row.insert("balance_minor".into(), json!(12_900));
        row.insert("on_time".into(), json!(true));
        let report = TableDocument {
            name: REPORTS[0].0.to_owned(),
            title: REPORTS[0].1.to_owned(),
            columns: vec!["customer".into(), "balance_minor".into(), "on_time".into()],
            rows: vec![row],
            position: None,
        };
        let bytes = workbook(&report).unwrap();
        // An xlsx file is a zip archive.
        assert_eq!(&bytes[..2], b"PK");
        assert_eq!(heading("spec"), "规格");
        assert_eq!(heading("no_such_column"), "no_such_column");
    }
}
