//! The read models as operators run them: killed mid-batch, they resume
//! where they stopped and equal a rebuild.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use std::process::Command;
use std::time::Duration;

use aftersales_tests::{on_both_backends, TestDb};
use common::{aftersales, ok};

on_both_backends!(
    killed_mid_batch_the_read_models_resume_and_equal_a_rebuild,
    reports_list_and_print_in_every_format,
    a_csv_report_writes_a_formula_as_text,
);

/// A customer named like a spreadsheet formula reaches the CSV a team
/// opens in Excel as text, never as a formula that runs.
async fn a_csv_report_writes_a_formula_as_text(db: TestDb) {
    use aftersales_domain::model::{Category, PlatformState, Priority};
    use aftersales_tests::desk::{agent, registration, Desk};
    let desk = Desk::new(db.open().await);
    let formula = r#"=HYPERLINK("http://attacker.example","点我")"#;
    let mut register = registration(
        Priority::P2,
        Category::Logistics,
        PlatformState::SellerShipped,
    );
    register.customer.name = formula.to_owned();
    desk.create::<aftersales_domain::case::Case>(&agent(), register)
        .await;
    let csv = ok(aftersales(&db, &["reports", "work-log", "--format", "csv"]));
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let customers: Vec<String> = rows
        .records()
        .map(|row| row.unwrap()[2].to_owned())
        .collect();
    assert_eq!(customers, vec![format!("'{formula}")], "{csv}");
}

async fn killed_mid_batch_the_read_models_resume_and_equal_a_rebuild(db: TestDb) {
    ok(aftersales(&db, &["demo", "seed", "--cases", "400"]));
    let mut checkpoints = Vec::new();
    for delay_ms in [150u64, 250, 350, 450] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aftersales"))
            .arg("--db")
            .arg(&db.url)
            .args(["projections", "catch-up"])
            .env("AFTERSALES_PROJECTION_BATCH", "40")
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        child.kill().unwrap(); // SIGKILL: no chance to finish the batch
        child.wait().unwrap();
        let status = ok(aftersales(
            &db,
            &["projections", "status", "--format", "csv"],
        ));
        checkpoints.push(status);
    }
    // Whatever was committed before each kill is consistent with a rebuild
    // at that checkpoint, and the next run resumes from it.
    ok(aftersales(&db, &["projections", "verify"]));
    ok(aftersales(&db, &["projections", "catch-up"]));
    let status = ok(aftersales(
        &db,
        &["projections", "status", "--format", "json"],
    ));
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    for line in status.as_array().unwrap() {
        assert_eq!(line["lag_events"], 0, "{line}");
        assert_eq!(line["state"], "running", "{line}");
    }
    ok(aftersales(&db, &["projections", "verify"]));
    ok(aftersales(&db, &["ledger", "check"]));
    // The kills did land mid-run: some checkpoint stood between start and head.
    let interrupted = checkpoints.iter().flat_map(|csv| csv.lines().skip(1)).any(|line| {
        let fields: Vec<u64> = line.split(',').filter_map(|f| f.parse().ok()).collect();
        // version, checkpoint, head, lag...
        matches!(fields.as_slice(), [_, checkpoint, head, ..] if *checkpoint > 0 && checkpoint < head)
    });
    assert!(interrupted, "no kill interrupted a run: {checkpoints:?}");
}

async fn reports_list_and_print_in_every_format(db: TestDb) {
    ok(aftersales(&db, &["demo", "seed", "--cases", "60"]));
    let list = ok(aftersales(&db, &["reports", "list"]));
    assert!(
        list.contains("returns") && list.contains("sampling-audit"),
        "{list}"
    );
    let json = ok(aftersales(
        &db,
        &["reports", "sampling-audit", "--format", "json"],
    ));
    // The API's shape: name, title, columns and rows as objects.
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["name"], "sampling-audit", "{report}");
    assert_eq!(report["rows"][0]["sampled"], 50, "{report}");
    assert_eq!(report["position"], serde_json::Value::Null);
    let csv = ok(aftersales(&db, &["reports", "returns", "--format", "csv"]));
    assert!(
        csv.starts_with("day,case,buyer_id,order_no,product,spec,quantity,running_total"),
        "{csv}"
    );
    // A workbook for Excel, written to a file or a pipe (an xlsx file is a
    // zip archive).
    let workbook = aftersales(&db, &["reports", "returns", "--format", "xlsx"]);
    assert!(workbook.status.success());
    assert!(workbook.stdout.starts_with(b"PK"), "{workbook:?}");
    let table = ok(aftersales(&db, &["reports", "sla", "--position", "5"]));
    assert!(table.contains("SLA compliance"), "{table}");
    let unknown = aftersales(&db, &["reports", "no-such-report"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("reports list"));
    // A person reads money in yuan with two decimals; the JSON keeps fen.
    let balances = ok(aftersales(&db, &["ledger", "balances"]));
    assert!(
        balances.contains("balance") && !balances.contains("balance_minor"),
        "{balances}"
    );
    let in_yuan = |cell: &str| {
        cell.split_once('.').is_some_and(|(whole, cents)| {
            whole.trim_start_matches('-').parse::<u64>().is_ok()
                && cents.len() == 2
                && cents.chars().all(|c| c.is_ascii_digit())
        })
    };
    assert!(balances.split_whitespace().any(in_yuan), "{balances}");
    let json: serde_json::Value = serde_json::from_str(&ok(aftersales(
        &db,
        &[
            "ledger",
            "balances",
            "--by",
            "counterparty",
            "--format",
            "json",
        ],
    )))
    .unwrap();
    assert!(json["rows"][0]["balance_minor"].is_i64(), "{json}");
    let reset = ok(aftersales(&db, &["projections", "reset", "reports"]));
    assert!(reset.contains("reset"));
    ok(aftersales(&db, &["projections", "rebuild", "--all"]));
    // Naming a read model twice rebuilds it once.
    ok(aftersales(
        &db,
        &["projections", "rebuild", "ledger", "ledger"],
    ));
    let beyond = aftersales(&db, &["reports", "sla", "--position", "999999999"]);
    assert!(!beyond.status.success());
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("beyond the head"));
    let unknown = aftersales(&db, &["projections", "rebuild", "cases"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown projection"));
    ok(aftersales(&db, &["projections", "verify"]));
}
