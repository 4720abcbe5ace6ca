//! Bad input and unusable databases get typed errors, never a panic, and
//! change nothing.

use std::time::Duration;

use aftersales_store::{
    open, ExpectedRevision, InvalidInput, NewEvent, StoreError, StoreOptions, StreamName,
};
use aftersales_tests::{on_both_backends, TestDb};
use serde_json::json;

use crate::{events, stream};

on_both_backends!(invalid_appends_get_typed_errors_and_write_nothing);

async fn invalid_appends_get_typed_errors_and_write_nothing(db: TestDb) {
    let store = db
        .open_with(StoreOptions {
            max_events_per_append: 10,
            max_append_bytes: 4096,
            ..Default::default()
        })
        .await;
    let case = stream("case-1");
    type Expectation = fn(&InvalidInput) -> bool;
    let cases: Vec<(Vec<NewEvent>, Expectation)> = vec![
        (vec![], |e| matches!(e, InvalidInput::EmptyAppend)),
        (events(0, 11), |e| {
            matches!(e, InvalidInput::TooManyEvents { count: 11, max: 10 })
        }),
        (
            vec![NewEvent::new("Big", json!({ "text": "x".repeat(5000) }))],
            |e| matches!(e, InvalidInput::AppendTooLarge { .. }),
        ),
        (
            vec![NewEvent::new("T", json!({})).with_metadata(json!("not an object"))],
            |e| matches!(e, InvalidInput::MetadataNotObject),
        ),
        (vec![NewEvent::new("", json!({}))], |e| {
            matches!(e, InvalidInput::EmptyName(_))
        }),
        (vec![NewEvent::new("Bad\u{0}Type", json!({}))], |e| {
            matches!(e, InvalidInput::ControlCharacter(_))
        }),
        (
            {
                let e = NewEvent::new("T", json!({}));
                vec![e.clone(), e]
            },
            |e| matches!(e, InvalidInput::DuplicateEventId(_)),
        ),
    ];
    for (batch, expected) in cases {
        match store.append(&case, ExpectedRevision::Any, batch).await {
            Err(StoreError::InvalidInput(e)) => assert!(expected(&e), "unexpected error {e:?}"),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }
    assert_eq!(store.head().await.unwrap(), 0);
}

#[test]
fn bad_stream_names_and_expected_revisions_are_typed_errors() {
    assert!(matches!(
        StreamName::new(""),
        Err(InvalidInput::EmptyName(_))
    ));
    assert!(matches!(
        StreamName::new("c".repeat(300)),
        Err(InvalidInput::NameTooLong { .. })
    ));
    assert!(matches!(
        StreamName::new("$all"),
        Err(InvalidInput::ReservedStreamName(_))
    ));
    assert!(matches!(
        "next".parse::<ExpectedRevision>(),
        Err(InvalidInput::ExpectedRevision(_))
    ));
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable_not_a_panic() {
    let port = aftersales_tests::free_port();
    let options = StoreOptions {
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let error = open(
        &format!("postgres://postgres:secret@127.0.0.1:{port}/x"),
        options,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(!error.to_string().contains("secret"));
}

#[tokio::test]
async fn an_unknown_url_scheme_is_refused() {
    let error = open("mysql://localhost/x", StoreOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::UnsupportedUrl(_)), "{error:?}");
}

#[tokio::test]
async fn a_sqlite_database_without_wal_is_refused() {
    // An in-memory database cannot use WAL, so acknowledged events would not
    // survive the process.
    let error = open("sqlite://:memory:", StoreOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::UnsafeDurability(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn unsafe_fast_skips_the_durability_settings_for_throw_away_data() {
    let db = TestDb::sqlite().await;
    let store = db
        .open_with(StoreOptions {
            unsafe_fast: true,
            ..Default::default()
        })
        .await;
    store
        .append(&stream("case-1"), ExpectedRevision::NoStream, events(0, 1))
        .await
        .unwrap();
    assert_eq!(store.head().await.unwrap(), 1);
}

/// The writer leaves checkpoints to a thread of its own; they must still
/// happen, or the WAL would grow for as long as the service runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_s_wal_is_checkpointed_into_the_database_file_while_it_runs() {
    let db = TestDb::sqlite().await;
    let path = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let store = db.open().await;
    let before = std::fs::metadata(&path).unwrap().len();
    for batch in 0..20 {
        store
            .append(
                &stream(&format!("case-{batch}")),
                ExpectedRevision::NoStream,
                events(0, 100),
            )
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&path).unwrap().len() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file is still {before} bytes: nothing was checkpointed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_sqlite_path_that_cannot_be_created_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a folder").unwrap();
    let url = format!("sqlite://{}/events.db", file.display());
    let error = open(&url, StoreOptions::default()).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.db");
    std::fs::write(&file, vec![0x42u8; 8192]).unwrap();
    let result = open(
        &format!("sqlite://{}", file.display()),
        StoreOptions::default(),
    )
    .await;
    assert!(result.is_err());
}
