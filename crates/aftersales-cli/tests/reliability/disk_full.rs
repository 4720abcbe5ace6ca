//! The disk filling up under load: on a small tmpfs for the SQLite file, and
//! for the PostgreSQL database's tablespace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aftersales_tests::OwnCluster;
use tempfile::TempDir;

use crate::service::{cli, Service};
use crate::traffic::{register_case, Traffic};
use crate::{settle_and_verify, wait_for_acks};

/// A tmpfs of a few MiB, mounted for one test.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(mib: u64) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("aftersales-full-")
            .tempdir_in("/tmp")
            .unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0777"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the tmpfs with a file, then gives back `leave` bytes; deleting
    /// the file frees the rest.
    fn fill(&self, leave: u64) -> PathBuf {
        use std::io::Write;
        let ballast = self.path().join("ballast");
        let mut file = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let written = file.metadata().unwrap().len();
        file.set_len(written.saturating_sub(leave)).unwrap();
        ballast
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// Loads the service until the disk is full, checks how it behaves full,
/// frees the space and checks that writing resumes with nothing lost.
async fn fill_under_load(service: &mut Service, tmpfs: &Tmpfs, leave: u64) -> String {
    let traffic = Traffic::new(service);
    let workers = traffic.start(4);
    wait_for_acks(&traffic, 0, Duration::from_secs(30)).await;
    // A case whose view is written before the disk fills: reading it while
    // full must not depend on the read models keeping up.
    let case = traffic.books.lock().unwrap().acked[0].stream.clone();
    let case = case.trim_start_matches("case-").to_owned();
    let started = Instant::now();
    while read_case(service, &case).await != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the read models never showed case {case}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ballast = tmpfs.fill(leave);

    let started = Instant::now();
    while !traffic.books.lock().unwrap().failures.contains_key(&507) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the disk never filled up: {:?}",
            traffic.books.lock().unwrap().failures
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let acked_when_full = traffic.acked_count();

    // Full: writes are refused with 507, reads are served, the process
    // lives. A database may still fit a row into free room inside pages it
    // has: such a write is acknowledged, and the next one is tried, until
    // the room is gone too.
    let started = Instant::now();
    loop {
        let probe = register_case("while-full");
        let answer = service
            .client
            .post(service.url("/v1/cases"))
            .bearer_auth(&service.token)
            .json(&probe.body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let problem: serde_json::Value = answer.json().await.unwrap();
        if status == 507 {
            assert_eq!(problem["code"], "storage-full");
            break;
        }
        assert!(
            status == 201 && started.elapsed() < Duration::from_secs(60),
            "a write on a full disk answered {status}: {problem}\n{}",
            service.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        read_case(service, &case).await,
        200,
        "reads fail when the disk is full"
    );
    assert!(
        service.alive(),
        "the service exited when the disk filled up"
    );

    std::fs::remove_file(ballast).unwrap();
    let resumed = wait_for_acks(&traffic, traffic.acked_count(), Duration::from_secs(30)).await;
    traffic.stop(workers).await;
    let failures = traffic.books.lock().unwrap().failures.clone();
    let events = settle_and_verify(service, &traffic).await;
    format!(
        "acknowledged_before_full={acked_when_full} failures={failures:?} resumed_after_ms={} acknowledged={} events={events} lost=0",
        resumed.as_millis(),
        traffic.acked_count()
    )
}

async fn read_case(service: &Service, id: &str) -> u16 {
    service
        .client
        .get(service.url(&format!("/v1/cases/{id}")))
        .bearer_auth(&service.token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_writes_serves_reads_and_recovers_on_sqlite() {
    let _turn = crate::one_at_a_time().await;
    let tmpfs = Tmpfs::mount(8);
    let url = format!("sqlite://{}", tmpfs.path().join("events.db").display());
    let mut service = Service::start(&url, &["--request-timeout", "5"]).await;
    let summary = fill_under_load(&mut service, &tmpfs, 256 * 1024).await;
    service.finish();
    cli(&url, &["projections", "verify"]);
    eprintln!("reliability: sqlite disk full (8 MiB tmpfs) {summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_writes_serves_reads_and_recovers_on_postgres() {
    let _turn = crate::one_at_a_time().await;
    let cluster = tokio::task::spawn_blocking(OwnCluster::start)
        .await
        .unwrap();
    // The cluster's own files (and its WAL) stay on the big disk; the
    // database's tables and indexes live in a tablespace on the tmpfs.
    let tmpfs = Tmpfs::mount(16);
    let space = tmpfs.path().join("space");
    std::fs::create_dir(&space).unwrap();
    let status = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&space)
        .status()
        .unwrap();
    assert!(status.success());
    let admin = cluster.url();
    let psql = |sql: &str| {
        let status = Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", &admin, "-c", sql])
            .status()
            .unwrap();
        assert!(status.success(), "{sql}");
    };
    psql(&format!(
        "CREATE TABLESPACE small LOCATION '{}'",
        space.display()
    ));
    psql("CREATE DATABASE full_disk TABLESPACE small");
    let url = format!("{}/full_disk", admin.rsplit_once('/').unwrap().0);

    let mut service = Service::start(&url, &["--request-timeout", "5"]).await;
    let summary = fill_under_load(&mut service, &tmpfs, 256 * 1024).await;
    service.finish();
    cli(&url, &["projections", "verify"]);
    eprintln!("reliability: postgres disk full (16 MiB tmpfs tablespace) {summary}");
}
