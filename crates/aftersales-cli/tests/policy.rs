//! The shop's policy from the command line: applied from a configuration
//! file, shown, compared, and a configuration with a mistake refused before
//! anything starts.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aftersales_tests::{on_both_backends, TestDb};
use common::{aftersales, ok, stderr, stdout};

on_both_backends!(
    a_policy_is_applied_shown_compared_and_kept_in_its_history,
    an_environment_variable_overrides_one_key_of_the_file,
);

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/aftersales.toml")
}

/// The example with some keys changed.
fn edited(dir: &Path, changes: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(example()).unwrap();
    for (from, to) in changes {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    let path = dir.join("aftersales.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn a_policy_is_applied_shown_compared_and_kept_in_its_history(db: TestDb) {
    let example = example();
    let example = example.to_str().unwrap();
    ok(aftersales(&db, &["migrate"]));
    let none = aftersales(&db, &["policy", "show"]);
    assert!(!none.status.success());
    assert!(
        stderr(&none).contains("no policy is in force"),
        "{}",
        stderr(&none)
    );

    let applied = ok(aftersales(
        &db,
        &["policy", "apply", example, "--by", "ops-li"],
    ));
    assert!(applied.contains("in force from position 1"), "{applied}");
    let again = ok(aftersales(&db, &["policy", "apply", example]));
    assert!(again.contains("already in force"), "{again}");
    let first_shown = ok(aftersales(&db, &["policy", "show"]));

    let dir = tempfile::tempdir().unwrap();
    let faster = edited(
        dir.path(),
        &[(
            "[policy.sla.p1]\nfirst_response_hours = 2",
            "[policy.sla.p1]\nfirst_response_hours = 1",
        )],
    );
    let faster = faster.to_str().unwrap();
    let diff = ok(aftersales(&db, &["policy", "diff", faster]));
    assert_eq!(diff.trim(), "policy.sla.p1.first_response_hours: 2 -> 1");
    let between = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(20));
    ok(aftersales(
        &db,
        &["policy", "apply", faster, "--by", "ops-wu"],
    ));

    let shown = ok(aftersales(&db, &["policy", "show"]));
    assert!(shown.contains("first_response_hours = 1"), "{shown}");
    assert!(shown.contains("put by ops-wu"), "{shown}");
    let then = ok(aftersales(
        &db,
        &["policy", "show", "--as-of", &between.to_rfc3339()],
    ));
    assert_eq!(then, first_shown);
    let history = ok(aftersales(&db, &["policy", "history"]));
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 2, "{history}");
    assert!(
        lines[0].contains("ops-li") && lines[1].contains("ops-wu"),
        "{history}"
    );

    // What `show` prints is a configuration that applies to the same policy.
    let saved = dir.path().join("shown.toml");
    std::fs::write(&saved, &shown).unwrap();
    let same = ok(aftersales(
        &db,
        &["policy", "apply", saved.to_str().unwrap()],
    ));
    assert!(same.contains("already in force"), "{same}");
}

async fn an_environment_variable_overrides_one_key_of_the_file(db: TestDb) {
    let output = Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .args(["--db", &db.url, "policy", "apply"])
        .arg(example())
        .env("AFTERSALES_POLICY__SLA__P2__FIRST_RESPONSE_HOURS", "3")
        .output()
        .unwrap();
    ok(output);
    let shown = ok(aftersales(&db, &["policy", "show"]));
    let p2 = shown.split("[policy.sla.p2]").nth(1).unwrap();
    assert!(
        p2.trim_start().starts_with("first_response_hours = 3"),
        "{shown}"
    );
    // The rest of the file stands.
    assert!(shown.contains("resolution_hours = 48"), "{shown}");
    // A top-level key too: the database.
    let history = Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .args(["policy", "history"])
        .env("AFTERSALES_DB", &db.url)
        .output()
        .unwrap();
    assert_eq!(ok(history).lines().count(), 1);
}

/// A configuration with a mistake stops `serve` before it opens the store,
/// naming the key at fault.
#[test]
fn a_configuration_with_a_mistake_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mistakes: [(&[(&str, &str)], &str); 3] = [
        (
            &[(
                "mon = [\"09:00-21:00\"]",
                "mon = [\"13:00-18:00\", \"09:00-12:00\"]",
            )],
            "policy.calendar.hours.mon",
        ),
        (
            &[(
                "time_zone = \"Asia/Shanghai\"",
                "time_zone = \"Asia/Atlantis\"",
            )],
            "policy.calendar.time_zone",
        ),
        (
            &[
                ("holidays = []", "holidays = [\"2026-10-01\"]"),
                ("makeup_days = []", "makeup_days = [\"2026-10-01\"]"),
            ],
            "policy.calendar.makeup_days",
        ),
    ];
    for (changes, key) in mistakes {
        let config = edited(dir.path(), changes);
        let store = dir.path().join("store.db");
        let output = Command::new(env!("CARGO_BIN_EXE_aftersales"))
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(format!("sqlite://{}", store.display()))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{}", stdout(&output));
        assert!(stderr(&output).contains(key), "{key}: {}", stderr(&output));
        assert!(!store.exists(), "a refused configuration created the store");
    }
}
