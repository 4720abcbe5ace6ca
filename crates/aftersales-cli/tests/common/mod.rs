//! Running the `aftersales` binary against a test database.

// Each test file uses its own part of these helpers.
#![allow(dead_code)]

use std::process::{Command, Output};

use aftersales_tests::TestDb;

pub fn aftersales(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .arg("--db")
        .arg(&db.url)
        .args(args)
        .output()
        .expect("run aftersales")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The standard output of a run that must succeed.
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}
