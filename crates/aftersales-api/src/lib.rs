//! The HTTP surface of the service. It builds an axum [`Router`] over the
//! shared application state and never binds a socket: the binary decides
//! where to listen, and tests call the router directly or serve it on a
//! loopback port.
//!
//! Today it serves the probes an operator's supervisor needs: liveness
//! (`/healthz`) and readiness (`/readyz`, the store answers).

use std::sync::Arc;

use aftersales_store::EventStore;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn EventStore>,
}

/// The service's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// The process is up and answering.
async fn healthz() -> &'static str {
    "ok"
}

/// The store answers; a load balancer sends traffic only while this is 200.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.head().await {
        Ok(head) => Json(json!({
            "status": "ready",
            "backend": state.store.backend().name(),
            "head_position": head,
        }))
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({ "status": "unavailable", "reason": "the event store does not answer" }),
                ),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use aftersales_store::{SqliteStore, StoreOptions};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn ready_when_the_store_answers() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("e.db"), StoreOptions::default())
            .await
            .unwrap();
        let app = router(AppState {
            store: Arc::new(store),
        });
        let response = app
            .clone()
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = app
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
