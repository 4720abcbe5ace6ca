//! The `aftersales serve` process as operators run it: started, killed,
//! restarted, and its log searched afterwards.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aftersales_tests::free_port;
use tempfile::TempDir;

/// The personal data every request of these tests carries, and no log line
/// may ever show.
pub const CANARY_NAME: &str = "金丝雀测试员";
pub const CANARY_PHONE: &str = "13700001111";

#[derive(Debug)]
pub struct Service {
    pub db: String,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
    logs: TempDir,
    pub token: String,
    pub client: reqwest::Client,
}

impl Service {
    /// Starts the service on `db` with an agent's key, and waits until it
    /// answers.
    pub async fn start(db: &str, args: &[&str]) -> Self {
        let logs = tempfile::tempdir().expect("a folder for the log");
        let token = issue_key(db, "agent", "reliability-agent");
        let mut service = Self {
            db: db.to_owned(),
            port: free_port(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
            logs,
            token,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
        };
        service.spawn();
        service.wait_until_up(Duration::from_secs(60)).await;
        service
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.logs.path().join("service.log")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the service runs").id()
    }

    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the service log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_aftersales"));
        command
            .args(["--db", &self.db, "serve", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port));
        // Load tests send far more than one key's fair share.
        if !self.args.iter().any(|a| a == "--rate-limit") {
            command.args(["--rate-limit", "100000"]);
        }
        let child = command
            .args(&self.args)
            // As chatty as an operator would ever make it: the log must
            // stay free of personal data even then.
            .env(
                "RUST_LOG",
                "info,aftersales=debug,aftersales_api=debug,aftersales_store=debug,\
                 aftersales_commands=debug,aftersales_projections=debug",
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start aftersales serve");
        self.child = Some(child);
    }

    /// Waits for `/healthz`; panics if the process exits or never answers.
    pub async fn wait_until_up(&mut self, limit: Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("the service exited with {status}; log:\n{}", self.log());
            }
            if let Ok(response) = self.client.get(self.url("/healthz")).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the service did not come up in {limit:?}; log:\n{}",
            self.log()
        );
    }

    /// Waits until `/readyz` answers 200 and returns how long that took.
    pub async fn wait_until_ready(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.ready().await {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the service was not ready within {limit:?}");
    }

    pub async fn ready(&self) -> bool {
        let request = self
            .client
            .get(self.url("/readyz"))
            .timeout(Duration::from_secs(5));
        matches!(request.send().await, Ok(r) if r.status().is_success())
    }

    /// Waits until every read model has applied the whole log.
    pub async fn wait_until_caught_up(&self, limit: Duration) {
        let started = Instant::now();
        loop {
            let metrics = self
                .client
                .get(self.url("/metrics"))
                .send()
                .await
                .expect("GET /metrics")
                .text()
                .await
                .unwrap_or_default();
            let lags: Vec<f64> = metrics
                .lines()
                .filter(|line| line.starts_with("aftersales_projection_lag_events{"))
                .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
                .collect();
            if !lags.is_empty() && lags.iter().all(|lag| *lag == 0.0) {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "read models still behind after {limit:?}: {lags:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// SIGKILL: no shutdown, no flush, nothing the process could do.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL the service");
            child.wait().expect("reap the service");
        }
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_until_up(Duration::from_secs(60)).await;
    }

    /// SIGTERM, and the graceful shutdown that follows.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("the service did not stop within 20 s of SIGTERM");
        }
    }

    /// The resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read the service's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Stops the service and searches every line it logged for the
    /// canaries: none may be there.
    pub fn finish(mut self) {
        self.stop();
        let log = self.log();
        assert!(!log.is_empty(), "the service logged nothing");
        let hits: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(CANARY_NAME) || line.contains(CANARY_PHONE))
            .collect();
        assert!(
            hits.is_empty(),
            "personal data reached the log ({} lines), e.g. {}",
            hits.len(),
            hits[0]
        );
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Issues a key with the CLI, as an operator does; returns its token.
pub fn issue_key(db: &str, role: &str, name: &str) -> String {
    aftersales_tests::issue_key(env!("CARGO_BIN_EXE_aftersales"), db, role, name)
}

/// Runs the CLI on `db`, whatever its outcome.
pub fn cli_output(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run aftersales")
}

/// Runs the CLI on `db` and returns its standard output; panics on failure.
pub fn cli(db: &str, args: &[&str]) -> String {
    let output = cli_output(db, args);
    assert!(
        output.status.success(),
        "aftersales {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
