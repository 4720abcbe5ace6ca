//! Says once, at build time, when the PostgreSQL suites will not run: cargo
//! shows a build script's warnings, where a test's own output is captured.

fn main() {
    println!("cargo:rerun-if-env-changed=AFTERSALES_TEST_PG");
    if std::env::var("AFTERSALES_TEST_PG")
        .unwrap_or_default()
        .is_empty()
    {
        println!(
            "cargo:warning=AFTERSALES_TEST_PG is not set: the PostgreSQL tests will pass without \
             running. `make test` starts a throw-away PostgreSQL cluster and runs them."
        );
    }
}
