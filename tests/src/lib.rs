//! Helpers shared by the test suites: fresh databases on real servers.
//!
//! SQLite tests get a file in a temporary folder. PostgreSQL tests get a new
//! database on the cluster named by `AFTERSALES_TEST_PG` (started by
//! `make test`), so tests run in parallel without seeing each other.
//! Without it (a plain `cargo test`), the PostgreSQL tests return at once
//! and say so: the build prints a warning, and each test binary a line.

pub mod desk;
pub mod scenarios;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use aftersales_store::{open, EventStore, StoreOptions};
use sqlx::Connection;
use tempfile::TempDir;

/// The URL of the shared test cluster's `postgres` database, if one is
/// configured.
pub fn pg_admin_url() -> Option<String> {
    static SAID: std::sync::Once = std::sync::Once::new();
    let url = std::env::var("AFTERSALES_TEST_PG")
        .ok()
        .filter(|url| !url.is_empty());
    if url.is_none() {
        SAID.call_once(|| {
            eprintln!(
                "PostgreSQL tests not run: AFTERSALES_TEST_PG is not set. `make test` starts a \
                 throw-away cluster and runs them; or set it to a postgres:// URL of a cluster you own"
            );
        });
    }
    url
}

/// A fresh, empty database for one test.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join("events.db").display());
        Self {
            url,
            _dir: Some(dir),
        }
    }

    /// A new database on the shared cluster; `None` when no cluster is
    /// configured (see [`pg_admin_url`]).
    pub async fn postgres() -> Option<Self> {
        let admin = pg_admin_url()?;
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("connect to the test cluster");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        conn.close().await.ok();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        Some(Self {
            url: format!("{base}/{name}"),
            _dir: None,
        })
    }

    pub async fn open(&self) -> Arc<dyn EventStore> {
        self.open_with(StoreOptions::default()).await
    }

    pub async fn open_with(&self, options: StoreOptions) -> Arc<dyn EventStore> {
        open(&self.url, options).await.expect("open the store")
    }
}

/// Runs each named contract test, an `async fn(TestDb)`, once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::TestDb::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(db) = $crate::TestDb::postgres().await {
                        super::$test(db).await
                    }
                }
            )*
        }
    };
}

/// Appends an event with SQL, around the store and every check of the
/// product, as someone with access to the database could: the way a poison
/// event gets into a log. Returns its position.
pub async fn write_behind_the_api(url: &str, stream: &str, event_type: &str, data: &str) -> u64 {
    let category = stream.split_once('-').map_or(stream, |(c, _)| c);
    let id = uuid::Uuid::new_v4().to_string();
    let position: i64 = if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(
            "INSERT INTO events (position, event_id, stream_name, revision, category, event_type, \
             data, metadata, recorded_at) \
             SELECT (SELECT COALESCE(MAX(position), 0) + 1 FROM events), ?1, ?2, \
             (SELECT COUNT(*) FROM events WHERE stream_name = ?2), ?3, ?4, ?5, '{}', \
             CAST(strftime('%s', 'now') AS INTEGER) * 1000000 RETURNING position",
        )
        .bind(&id)
        .bind(stream)
        .bind(category)
        .bind(event_type)
        .bind(data)
        .fetch_one(&mut conn)
        .await
        .unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(
            "INSERT INTO events (position, event_id, stream_name, revision, category, event_type, \
             data, metadata, recorded_at) \
             SELECT (SELECT COALESCE(MAX(position), 0) + 1 FROM events), $1::uuid, $2, \
             (SELECT COUNT(*) FROM events WHERE stream_name = $2), $3, $4, $5::jsonb, '{}'::jsonb, \
             now() RETURNING position",
        )
        .bind(&id)
        .bind(stream)
        .bind(category)
        .bind(event_type)
        .bind(data)
        .fetch_one(&mut conn)
        .await
        .unwrap()
    };
    position.unsigned_abs()
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A PostgreSQL cluster of a test's own, for tests that crash the server.
#[derive(Debug)]
pub struct OwnCluster {
    pub dir: TempDir,
    pub port: u16,
}

impl OwnCluster {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("aftersales-pg-")
            .tempdir_in("/tmp")
            .expect("temporary folder");
        let port = free_port();
        let cluster = Self { dir, port };
        cluster.pg(&["start", &cluster.dir_str(), &port.to_string()]);
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server as a crash would: no shutdown checkpoint.
    pub fn kill(&self) {
        self.pg(&["kill", &self.dir_str()]);
    }

    /// Stops the server as an operator does (fast mode).
    pub fn stop(&self) {
        self.pg(&["stop", &self.dir_str()]);
    }

    pub fn restart(&self) {
        self.pg(&["start", &self.dir_str(), &self.port.to_string()]);
    }

    fn dir_str(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn pg(&self, args: &[&str]) {
        let status = Command::new(workspace_root().join("scripts/pg.sh"))
            .args(args)
            .status()
            .expect("run scripts/pg.sh");
        assert!(status.success(), "scripts/pg.sh {args:?} failed");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(workspace_root().join("scripts/pg.sh"))
            .args(["stop", &self.dir_str()])
            .status();
    }
}

/// A port on 127.0.0.1 that nothing listens on right now.
/// Issues an API key with the `aftersales` binary at `bin` on `db` and
/// returns its token (the last line the command prints).
pub fn issue_key(bin: &str, db: &str, role: &str, name: &str) -> String {
    let output = std::process::Command::new(bin)
        .args(["--db", db, "keys", "create", "--role", role, "--name", name])
        .output()
        .expect("run aftersales keys create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("the token")
        .trim()
        .to_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
