//! `aftersales serve`: the HTTP service on the chosen store.

use std::net::SocketAddr;

use aftersales_api::{router, AppState};
use aftersales_store::{redact, StoreOptions};
use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AFTERSALES_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

pub async fn run(db: &str, options: StoreOptions, args: ServeArgs) -> anyhow::Result<()> {
    let store = aftersales_store::open(db, options)
        .await
        .with_context(|| format!("opening the store at {}", redact(db)))?;
    let app = router(AppState {
        store: store.clone(),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        db = %redact(db),
        backend = store.backend().name(),
        head_position = store.head().await?,
        "aftersales is serving"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("aftersales stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish the requests in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
