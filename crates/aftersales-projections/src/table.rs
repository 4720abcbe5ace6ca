//! A report's result: named columns and rows of JSON values.

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub name: String,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn new(columns: &[&str], rows: impl IntoIterator<Item = Vec<Value>>) -> Self {
        Self {
            name: String::new(),
            title: String::new(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: rows.into_iter().collect(),
        }
    }

    /// The rows as objects keyed by column.
    pub fn records(&self) -> Vec<Map<String, Value>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .cloned()
                    .zip(row.iter().cloned())
                    .collect()
            })
            .collect()
    }

    /// The table as the API answers it and the CLI prints it in JSON.
    pub fn document(&self, position: Option<u64>) -> TableDocument {
        TableDocument {
            name: self.name.clone(),
            title: self.title.clone(),
            columns: self.columns.clone(),
            rows: self.records(),
            position,
        }
    }

    /// The value of `column` in the first row where `key_column` is `key`.
    pub fn cell(&self, key_column: &str, key: &Value, column: &str) -> Option<&Value> {
        let k = self.columns.iter().position(|c| c == key_column)?;
        let c = self.columns.iter().position(|c| c == column)?;
        self.rows.iter().find(|row| row.get(k) == Some(key))?.get(c)
    }
}

/// A report or a register: its columns, and its rows as objects.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TableDocument {
    pub name: String,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Map<String, Value>>,
    /// The log position the report reflects, when asked "as of".
    pub position: Option<u64>,
}

/// How a column of money is named: its amounts are in minor units (fen).
pub const MINOR_UNITS: &str = "_minor";

/// A cell for a person reading a table: as [`plain`], and an amount of a
/// `…_minor` column in major units with two decimals (`12900` → `129.00`).
pub fn for_reading(column: &str, value: &Value) -> String {
    match value.as_i64() {
        Some(minor) if column.ends_with(MINOR_UNITS) => {
            let sign = if minor < 0 { "-" } else { "" };
            let minor = minor.unsigned_abs();
            format!("{sign}{}.{:02}", minor / 100, minor % 100)
        }
        _ => plain(value),
    }
}

/// A column's heading for a person reading a table: money without the
/// `_minor` of its name, since [`for_reading`] shows it in major units.
pub fn heading(column: &str) -> &str {
    column.strip_suffix(MINOR_UNITS).unwrap_or(column)
}

/// A cell as plain text: strings unquoted, null empty.
pub fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A cell for a CSV file or a spreadsheet, which these teams open in Excel:
/// as [`plain`], except that text a spreadsheet would run as a formula (a
/// customer named `=HYPERLINK(…)`) starts with `'`, so it shows as the text
/// it is. Numbers stay numbers.
pub fn spreadsheet_cell(value: &Value) -> String {
    match value {
        Value::String(text) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
            format!("'{text}")
        }
        other => plain(other),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn money_reads_in_major_units_with_two_decimals() {
        assert_eq!(for_reading("balance_minor", &json!(12900)), "129.00");
        assert_eq!(for_reading("balance_minor", &json!(-5)), "-0.05");
        assert_eq!(
            for_reading("balance_minor", &json!(i64::MIN)),
            "-92233720368547758.08"
        );
        assert_eq!(for_reading("quantity", &json!(12900)), "12900");
        assert_eq!(heading("caps_minor"), "caps");
        assert_eq!(heading("quantity"), "quantity");
    }

    #[test]
    fn text_a_spreadsheet_would_run_is_written_as_text() {
        for formula in [
            "=HYPERLINK(\"http://x\",\"点我\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(spreadsheet_cell(&json!(formula)), format!("'{formula}"));
        }
        assert_eq!(spreadsheet_cell(&json!("王小明")), "王小明");
        assert_eq!(spreadsheet_cell(&json!(-12.5)), "-12.5");
        assert_eq!(spreadsheet_cell(&Value::Null), "");
    }
}
