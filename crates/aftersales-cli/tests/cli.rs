//! The `aftersales` binary as operators run it, against real databases.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use aftersales_tests::{on_both_backends, TestDb};
use common::{aftersales, ok, stderr, stdout};
use serde_json::Value;

fn read_json(db: &TestDb, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["events", "read"];
    full.extend_from_slice(args);
    full.push("--json");
    let output = aftersales(db, &full);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("NDJSON"))
        .collect()
}

on_both_backends!(
    append_prints_revision_and_position_and_read_prints_ndjson,
    a_wrong_expected_revision_exits_3_and_writes_nothing,
    invalid_input_is_refused_with_a_message,
    read_all_filters_and_pages_backwards,
    tail_prints_events_as_they_are_committed,
    an_import_that_does_not_continue_the_log_is_refused,
    appends_into_the_product_s_own_categories_are_refused_and_write_nothing,
    an_import_holding_an_event_the_domain_cannot_read_is_refused_whole,
    the_day_s_unpaid_orders_are_imported_from_the_platform_s_export,
    webhook_subscriptions_are_managed_from_the_shell,
);

/// The categories the product writes only through its commands.
const OWNED: [&str; 10] = [
    "case",
    "unpaid",
    "audit",
    "repair",
    "grant",
    "pdview",
    "readmodel",
    "policy",
    "clock",
    "webhook",
];

async fn appends_into_the_product_s_own_categories_are_refused_and_write_nothing(db: TestDb) {
    for category in OWNED {
        let stream = format!("{category}-0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
        let output = aftersales(
            &db,
            &[
                "events",
                "append",
                &stream,
                "--type",
                "CaseRegistered",
                "--data",
                r#"{"customer":"张三"}"#,
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(4),
            "{stream}: {}",
            stderr(&output)
        );
        let message = stderr(&output);
        assert!(
            message.contains("owned-stream") && message.contains("JSON API"),
            "{message}"
        );
    }
    assert!(
        read_json(&db, &["$all"]).is_empty(),
        "a refused append wrote"
    );
    // The README's example, in a category of the operators' own.
    ok(aftersales(
        &db,
        &[
            "events",
            "append",
            "note-42",
            "--type",
            "NoteTaken",
            "--data",
            r#"{"text":"hi"}"#,
        ],
    ));
}

/// An export holding one event of the product's categories that the
/// domain cannot read, or that names nobody, is refused before anything is
/// appended, naming its line.
async fn an_import_holding_an_event_the_domain_cannot_read_is_refused_whole(db: TestDb) {
    let source = TestDb::sqlite().await;
    ok(aftersales(&source, &["demo", "seed", "--cases", "3"]));
    let export = ok(aftersales(&source, &["events", "export"]));
    let mut lines: Vec<String> = export.lines().map(str::to_owned).collect();
    let folder = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: &[String]| {
        let path = folder.path().join(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        path.display().to_string()
    };
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let next = last["position"].as_u64().unwrap() + 1;
    let event = |stream: &str, data: Value, metadata: Value| {
        serde_json::json!({
            "stream": stream, "revision": 0, "position": next,
            "id": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", "type": "CaseRegistered",
            "data": data, "metadata": metadata, "recorded_at": last["recorded_at"],
        })
        .to_string()
    };
    let stream = "case-0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d";
    let actor = serde_json::json!({"actor_id": "agent-1", "actor_role": "agent"});

    lines.push(event(
        stream,
        serde_json::json!({"customer": "张三"}),
        actor.clone(),
    ));
    let malformed = write("malformed.ndjson", &lines);
    let output = aftersales(&db, &["events", "import", &malformed]);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("line {}:", lines.len())) && message.contains("CaseRegistered"),
        "{message}"
    );
    assert!(
        read_json(&db, &["$all"]).is_empty(),
        "a refused import appended"
    );

    // A well-formed registration that names nobody.
    let registered = read_json(
        &source,
        &["$all", "--type", "CaseRegistered", "--limit", "1"],
    );
    lines.pop();
    lines.push(event(
        stream,
        registered[0]["data"].clone(),
        serde_json::json!({}),
    ));
    let anonymous = write("anonymous.ndjson", &lines);
    let output = aftersales(&db, &["events", "import", &anonymous]);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(stderr(&output).contains("no actor"), "{}", stderr(&output));
    assert!(read_json(&db, &["$all"]).is_empty());

    lines.pop();
    let whole = write("whole.ndjson", &lines);
    ok(aftersales(&db, &["events", "import", &whole]));
    assert_eq!(
        ok(aftersales(&db, &["events", "checksum"])),
        ok(aftersales(&source, &["events", "checksum"]))
    );
}

#[test]
fn commands_that_only_read_never_create_a_store() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("typo").join("aftersales.db");
    let url = format!("sqlite://{}", path.display());
    for args in [
        &["events", "read", "$all"][..],
        &["events", "export"],
        &["reports", "sla"],
        &["projections", "status"],
        &["projections", "parked"],
        &["ledger", "check"],
        &["keys", "list"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_aftersales"))
            .args(["--db", &url])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&output).contains("there is no store at"),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            !folder.path().join("typo").exists(),
            "{args:?} created the folder"
        );
    }
    ok(Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .args(["--db", &url, "migrate"])
        .output()
        .unwrap());
    assert!(path.exists());
}

async fn append_prints_revision_and_position_and_read_prints_ndjson(db: TestDb) {
    let registration = [
        "events",
        "append",
        "ticket-7",
        "--type",
        "CaseRegistered",
        "--data",
        r#"{"customer":"李四","priority":"P1"}"#,
        "--metadata",
        r#"{"actor_id":"agent-1","actor_role":"agent"}"#,
        "--id",
        "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "--expected-revision",
        "no-stream",
    ];
    let output = aftersales(&db, &registration);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "revision=0 position=1");
    let output = aftersales(
        &db,
        &[
            "events",
            "append",
            "ticket-7",
            "--type",
            "CallLogged",
            "--data",
            "{}",
            "--expected-revision",
            "0",
        ],
    );
    assert_eq!(stdout(&output).trim(), "revision=1 position=2");

    let events = read_json(&db, &["ticket-7"]);
    assert_eq!(events.len(), 2);
    let first = &events[0];
    assert_eq!(first["stream"], "ticket-7");
    assert_eq!(first["revision"], 0);
    assert_eq!(first["position"], 1);
    assert_eq!(first["id"], "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    assert_eq!(first["type"], "CaseRegistered");
    assert_eq!(first["data"]["customer"], "李四");
    assert_eq!(first["metadata"]["actor_role"], "agent");
    assert!(first["recorded_at"].as_str().is_some());

    // The same id again is an idempotent retry: acknowledged, not written.
    let output = aftersales(&db, &registration);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "revision=0 position=1");
    assert_eq!(read_json(&db, &["$all"]).len(), 2);

    let backwards = read_json(&db, &["ticket-7", "--backwards", "--limit", "1"]);
    assert_eq!(backwards[0]["revision"], 1);
}

async fn a_wrong_expected_revision_exits_3_and_writes_nothing(db: TestDb) {
    aftersales(
        &db,
        &[
            "events", "append", "ticket-1", "--type", "A", "--data", "{}",
        ],
    );
    let output = aftersales(
        &db,
        &[
            "events",
            "append",
            "ticket-1",
            "--type",
            "B",
            "--data",
            "{}",
            "--expected-revision",
            "5",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output)
            .contains("wrong expected revision on stream ticket-1: expected 5, actual 0"),
        "{}",
        stderr(&output)
    );
    assert_eq!(read_json(&db, &["$all"]).len(), 1);
}

async fn invalid_input_is_refused_with_a_message(db: TestDb) {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "events",
                "append",
                "ticket-1",
                "--type",
                "A",
                "--data",
                "{not json",
            ],
            "--data is not valid JSON",
        ),
        (
            &[
                "events",
                "append",
                "ticket-1",
                "--type",
                "A",
                "--data",
                "{}",
                "--metadata",
                "[1]",
            ],
            "metadata must be a JSON object",
        ),
        (
            &["events", "append", "", "--type", "A", "--data", "{}"],
            "stream name is empty",
        ),
        (
            &["events", "append", "$all", "--type", "A", "--data", "{}"],
            "reserved",
        ),
        (
            &["events", "append", "ticket-1", "--type", "", "--data", "{}"],
            "event type is empty",
        ),
        (
            &[
                "events",
                "append",
                "ticket-1",
                "--type",
                "A",
                "--data",
                "{}",
                "--expected-revision",
                "soon",
            ],
            "unknown expected revision",
        ),
        (
            &["events", "read", "ticket-1", "--category", "ticket"],
            "filter '$all' only",
        ),
    ];
    for (args, message) in cases {
        let output = aftersales(&db, args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert!(read_json(&db, &["$all"]).is_empty());
}

async fn read_all_filters_and_pages_backwards(db: TestDb) {
    for (stream, event_type) in [
        ("ticket-1", "CaseRegistered"),
        ("parcel-1", "ParcelReportedLost"),
        ("ticket-2", "CaseRegistered"),
        ("ticket-1", "CaseClosed"),
    ] {
        let output = aftersales(
            &db,
            &[
                "events", "append", stream, "--type", event_type, "--data", "{}",
            ],
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let positions = |events: Vec<Value>| {
        events
            .iter()
            .map(|e| e["position"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        positions(read_json(&db, &["$all", "--category", "ticket"])),
        vec![1, 3, 4]
    );
    assert_eq!(
        positions(read_json(&db, &["$all", "--type", "CaseRegistered"])),
        vec![1, 3]
    );
    assert_eq!(
        positions(read_json(&db, &["$all", "--from", "2", "--limit", "2"])),
        vec![2, 3]
    );
    assert_eq!(
        positions(read_json(&db, &["$all", "--backwards", "--limit", "3"])),
        vec![4, 3, 2]
    );
    let text = stdout(&aftersales(&db, &["events", "read", "$all"]));
    assert!(text.contains("parcel-1@0  ParcelReportedLost"), "{text}");
}

async fn tail_prints_events_as_they_are_committed(db: TestDb) {
    aftersales(
        &db,
        &[
            "events", "append", "ticket-1", "--type", "Old", "--data", "{}",
        ],
    );
    let mut tail = Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .args(["--db", &db.url, "events", "tail", "--from", "0", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tail");
    let (lines, received) = std::sync::mpsc::channel();
    let out = tail.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let next = || -> Value {
        let line = received
            .recv_timeout(Duration::from_secs(20))
            .expect("tail printed a line");
        serde_json::from_str(&line).expect("NDJSON")
    };
    assert_eq!(next()["type"], "Old");
    aftersales(
        &db,
        &[
            "events",
            "append",
            "ticket-2",
            "--type",
            "New",
            "--data",
            r#"{"n":1}"#,
        ],
    );
    let live = next();
    assert_eq!(
        (live["type"].as_str(), live["position"].as_u64()),
        (Some("New"), Some(2))
    );
    tail.kill().ok();
    tail.wait().ok();
}

#[tokio::test]
async fn serve_answers_health_and_readiness_on_loopback() {
    let db = TestDb::sqlite().await;
    let port = aftersales_tests::free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .args([
            "--db",
            &db.url,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(Stdio::null())
        .spawn()
        .expect("start the service");
    let response = (0..200)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            http_get(port, "/readyz").ok()
        })
        .expect("the service answered");
    server.kill().ok();
    server.wait().ok();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""backend":"sqlite""#), "{response}");
}

#[test]
fn the_read_models_live_where_read_db_says_and_never_in_the_log_s_file() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::sqlite());
    ok(aftersales(&db, &["migrate"]));
    let log = db.url.strip_prefix("sqlite://").unwrap();
    let elsewhere = std::path::Path::new(log).with_file_name("elsewhere.db");
    let read_db = format!("sqlite://{}", elsewhere.display());
    ok(aftersales(
        &db,
        &["--read-db", &read_db, "projections", "status"],
    ));
    assert!(elsewhere.exists());
    assert!(!std::path::Path::new(&log.replace("events.db", "events.read.db")).exists());

    // The log's own file is refused, whether the two are spelled alike or
    // one is relative to where the command runs.
    let folder = std::path::Path::new(log).parent().unwrap();
    for (log_url, read_url) in [
        (db.url.as_str(), db.url.as_str()),
        ("sqlite://events.db", db.url.as_str()),
    ] {
        let refused = Command::new(env!("CARGO_BIN_EXE_aftersales"))
            .current_dir(folder)
            .args([
                "--db",
                log_url,
                "--read-db",
                read_url,
                "projections",
                "status",
            ])
            .output()
            .unwrap();
        assert!(!refused.status.success(), "{log_url} {read_url}");
        assert!(
            stderr(&refused).contains("--read-db"),
            "{}",
            stderr(&refused)
        );
    }
}

#[test]
fn migrate_creates_the_schema_and_reports_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::sqlite());
    let output = aftersales(&db, &["migrate"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("migrations applied"));
}

/// A bare HTTP/1.1 GET, enough for a probe.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// An export imports whole into an empty store; a line that does not
/// continue the log (a gap, or not an event at all) is refused with a
/// message naming it, and what was refused is not appended.
async fn an_import_that_does_not_continue_the_log_is_refused(db: TestDb) {
    let source = TestDb::sqlite().await;
    for n in 0..3 {
        let data = format!(r#"{{"n":{n}}}"#);
        ok(aftersales(
            &source,
            &[
                "events", "append", "ticket-1", "--type", "A", "--data", &data,
            ],
        ));
    }
    let export = ok(aftersales(&source, &["events", "export"]));
    let lines: Vec<&str> = export.lines().collect();
    let folder = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: &[&str]| {
        let path = folder.path().join(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        path.display().to_string()
    };

    let gap = write("gap.ndjson", &[lines[0], lines[2]]);
    let output = aftersales(&db, &["events", "import", &gap]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot import the event at position 3"),
        "{}",
        stderr(&output)
    );
    assert!(
        read_json(&db, &["$all"]).is_empty(),
        "a refused batch appended"
    );

    let garbage = write("garbage.ndjson", &[lines[0], "{not an event"]);
    let output = aftersales(&db, &["events", "import", &garbage]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("line 2: not an exported event"),
        "{}",
        stderr(&output)
    );
    assert!(read_json(&db, &["$all"]).is_empty());

    let whole = write("whole.ndjson", &lines);
    ok(aftersales(&db, &["events", "import", &whole]));
    assert_eq!(
        ok(aftersales(&db, &["events", "checksum"])),
        ok(aftersales(&source, &["events", "checksum"]))
    );
}

#[tokio::test]
async fn a_backup_needs_a_store_and_never_overwrites() {
    let db = TestDb::sqlite().await;
    let folder = tempfile::tempdir().unwrap();
    let target = folder.path().join("copy.db");
    let target = target.to_str().unwrap();

    let output = aftersales(&db, &["backup", target]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("there is no store at"),
        "{}",
        stderr(&output)
    );
    assert!(!std::path::Path::new(target).exists());

    ok(aftersales(
        &db,
        &[
            "events", "append", "ticket-1", "--type", "A", "--data", "{}",
        ],
    ));
    assert!(ok(aftersales(&db, &["backup", target])).contains("at position 1"));
    let output = aftersales(&db, &["backup", target]);
    assert!(
        stderr(&output).contains("exists already"),
        "{}",
        stderr(&output)
    );
}

/// 催款导单 from the command line: each line answered, the same file again
/// registers nothing new.
async fn the_day_s_unpaid_orders_are_imported_from_the_platform_s_export(db: TestDb) {
    ok(aftersales(&db, &["demo", "seed", "--cases", "3"]));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "order_no,buyer_id,ordered_at,amount\n\
         TB70001,tb_qian,2026-03-01 09:00:00,59.90\n\
         TB70002,tb_sun,2026-03-01 09:05:00,not-money\n",
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let first = ok(aftersales(&db, &["unpaid", "import", path]));
    assert!(first.contains("line 3: TB70002 refused"), "{first}");
    assert!(
        first.contains("1 registered, 0 already registered, 1 refused"),
        "{first}"
    );
    let again = ok(aftersales(&db, &["unpaid", "import", path]));
    assert!(
        again.contains("0 registered, 1 already registered, 1 refused"),
        "{again}"
    );
}

async fn webhook_subscriptions_are_managed_from_the_shell(db: TestDb) {
    let made = aftersales(
        &db,
        &[
            "webhooks",
            "create",
            "https://erp.example.com/hooks",
            "--categories",
            "case",
            "--event-types",
            "CaseRegistered,CaseClosed",
        ],
    );
    let secret = ok(made.clone());
    assert!(secret.trim().starts_with("whsec_"), "{secret}");
    let id = stderr(&made).split_whitespace().nth(1).unwrap().to_owned();
    let list = ok(aftersales(&db, &["webhooks", "list"]));
    assert!(list.contains(&id) && list.contains("active"), "{list}");
    assert!(ok(aftersales(&db, &["webhooks", "pause", &id])).contains("paused"));
    assert!(ok(aftersales(&db, &["webhooks", "resume", &id])).contains("active"));
    let replayed = ok(aftersales(
        &db,
        &["webhooks", "replay", &id, "--from-position", "1"],
    ));
    assert!(replayed.contains("after position 0"), "{replayed}");
    ok(aftersales(&db, &["webhooks", "deliveries", &id]));

    // A target inside the network is refused unless the operator allows it.
    let refused = aftersales(&db, &["webhooks", "create", "http://127.0.0.1:9/hook"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("allow_private_targets"),
        "{}",
        stderr(&refused)
    );
    let allowed = Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .env("AFTERSALES_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")
        .args([
            "--db",
            &db.url,
            "webhooks",
            "create",
            "http://127.0.0.1:9/hook",
        ])
        .output()
        .unwrap();
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    let unknown = aftersales(
        &db,
        &[
            "webhooks",
            "create",
            "https://erp.example.com/x",
            "--categories",
            "policy",
        ],
    );
    assert!(
        stderr(&unknown).contains("filter.categories"),
        "{}",
        stderr(&unknown)
    );

    assert!(ok(aftersales(&db, &["webhooks", "delete", &id])).contains("deleted"));
    let list = ok(aftersales(&db, &["webhooks", "list"]));
    assert!(!list.contains(&id), "{list}");
    let gone = aftersales(&db, &["webhooks", "pause", &id]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("no webhook subscription"),
        "{}",
        stderr(&gone)
    );
}
