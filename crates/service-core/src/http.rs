//! HTTP plumbing shared by both subgraphs: `/health`, `/ready`, `/metrics`, request metrics,
//! binding and graceful shutdown.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::{db, telemetry};

/// Routes every subgraph serves: `GET /health` (process up), `GET /ready` (database reachable),
/// `GET /metrics` (Prometheus text). Also records request counts and latencies.
pub fn operational_routes(service: &'static str, database: DatabaseConnection) -> Router {
    let _ = telemetry::metrics_handle(); // install the recorder before the first request
    Router::new()
        .route(
            "/health",
            get(move || async move { axum::Json(serde_json::json!({"status": "ok", "service": service})) }),
        )
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(database)
}

async fn ready(State(database): State<DatabaseConnection>) -> Response {
    match db::ping(&database).await {
        Ok(()) => (StatusCode::OK, axum::Json(serde_json::json!({"status": "ready"}))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"status": "database unreachable"})))
                .into_response()
        }
    }
}

async fn metrics() -> Response {
    let body = telemetry::metrics_handle().render();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Middleware: `http_requests_total` and `http_request_duration_seconds` per route and status.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let path =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("path", path), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    response
}

/// Adds the metrics middleware to every route of a router (`route_layer`, so the matched path
/// is known and unmatched requests do not create unbounded label values).
pub fn with_metrics(router: Router) -> Router {
    router.route_layer(middleware::from_fn(track_metrics))
}

/// Binds `addr` and serves `app` until Ctrl-C or SIGTERM, then drains in-flight requests.
pub async fn serve(app: Router, addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, draining");
}
