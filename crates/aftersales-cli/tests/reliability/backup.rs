//! An online backup taken under load and restored elsewhere, and a log
//! moved between SQLite and PostgreSQL with `events export` / `import`.

use std::time::Duration;

use aftersales_tests::TestDb;

use crate::service::{cli, Service};
use crate::traffic::Traffic;
use crate::wait_for_acks;

/// `events checksum` up to `position`.
fn checksum(db: &str, position: u64) -> String {
    cli(
        db,
        &["events", "checksum", "--until", &position.to_string()],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_to_the_same_log_and_reports() {
    let _turn = crate::one_at_a_time().await;
    let db = TestDb::sqlite().await;
    let service = Service::start(&db.url, &[]).await;
    let traffic = Traffic::new(&service);
    let workers = traffic.start(4);
    wait_for_acks(&traffic, 50, Duration::from_secs(60)).await;

    let folder = tempfile::tempdir().unwrap();
    let backup = folder.path().join("backup.db");
    let said = cli(&db.url, &["backup", backup.to_str().unwrap()]);
    let position: u64 = said
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no position in {said:?}"));
    // The load goes on after the backup: the source moves past it.
    wait_for_acks(
        &traffic,
        traffic.acked_count() + 20,
        Duration::from_secs(60),
    )
    .await;
    traffic.stop(workers).await;
    service.finish();

    // Restore: the file in a new place, the read models rebuilt there.
    let restored_dir = tempfile::tempdir().unwrap();
    let restored_path = restored_dir.path().join("restored.db");
    std::fs::copy(&backup, &restored_path).unwrap();
    let restored = format!("sqlite://{}", restored_path.display());
    cli(&restored, &["projections", "rebuild", "--all"]);

    assert_eq!(checksum(&restored, position), checksum(&db.url, position));
    assert_eq!(checksum(&restored, u64::MAX), checksum(&db.url, position));
    let reports = cli(&restored, &["reports", "list"]);
    let names: Vec<&str> = reports
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(!names.is_empty());
    for name in &names {
        let at_backup = cli(
            &db.url,
            &[
                "reports",
                name,
                "--position",
                &position.to_string(),
                "--format",
                "json",
            ],
        );
        let rebuilt = cli(&restored, &["reports", name, "--format", "json"]);
        let rows = |report: &str| {
            serde_json::from_str::<serde_json::Value>(report).unwrap()["rows"].take()
        };
        assert_eq!(
            rows(&rebuilt),
            rows(&at_backup),
            "report {name} differs after the restore"
        );
    }
    eprintln!(
        "reliability: backup under load at position {position} (source went on to {}); events and {} reports equal after restore and rebuild",
        cli(&db.url, &["events", "checksum"]).split_whitespace().nth(1).unwrap_or_default(),
        names.len()
    );

    // SQLite → PostgreSQL → SQLite keeps every event as it was.
    let export = folder.path().join("export.ndjson");
    std::fs::write(
        &export,
        cli(
            &db.url,
            &["events", "export", "--until", &position.to_string()],
        ),
    )
    .unwrap();
    let Some(postgres) = TestDb::postgres().await else {
        return;
    };
    let export_path = export.to_str().unwrap();
    cli(&postgres.url, &["events", "import", export_path]);
    // A second run of the same import adds nothing.
    cli(&postgres.url, &["events", "import", export_path]);
    assert_eq!(
        checksum(&postgres.url, u64::MAX),
        checksum(&db.url, position)
    );
    let back = TestDb::sqlite().await;
    std::fs::write(&export, cli(&postgres.url, &["events", "export"])).unwrap();
    cli(&back.url, &["events", "import", export_path]);
    assert_eq!(checksum(&back.url, u64::MAX), checksum(&db.url, position));
}
