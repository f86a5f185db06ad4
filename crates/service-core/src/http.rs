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

/// The parts of a subgraph's HTTP application.
pub struct Subgraph<E: async_graphql::Executor + Clone> {
    pub service: &'static str,
    pub executor: E,
    pub auth: crate::auth::Authenticator,
    pub development: bool,
    pub graphql_body_limit: usize,
    pub webhooks: crate::webhook::WebhookState,
    pub webhook_body_limit: usize,
    pub db: DatabaseConnection,
}

/// The routes of a subgraph: `POST /graphql` (GET serves GraphiQL in development),
/// `POST /webhooks/stripe`, `/health`, `/ready`, `/metrics`, each body-limited (413).
pub fn subgraph_router<E: async_graphql::Executor + Clone>(parts: Subgraph<E>) -> Router {
    use axum::routing::post;
    use tower_http::limit::RequestBodyLimitLayer;

    let mut graphql_route = post(crate::graphql::graphql_handler::<E>);
    if parts.development {
        graphql_route = graphql_route.get(crate::graphql::graphiql);
    }
    let graphql = Router::new()
        .route("/graphql", graphql_route)
        .layer(RequestBodyLimitLayer::new(parts.graphql_body_limit))
        .with_state(crate::graphql::GraphqlState { executor: parts.executor, auth: parts.auth });
    let webhooks = Router::new()
        .route("/webhooks/stripe", post(crate::webhook::stripe_webhook))
        .layer(RequestBodyLimitLayer::new(parts.webhook_body_limit))
        .with_state(parts.webhooks);
    with_metrics(Router::new().merge(graphql).merge(webhooks).merge(operational_routes(parts.service, parts.db)))
}

/// A bound, not yet running server: tests bind port 0 and read the real address.
pub struct Server {
    listener: TcpListener,
    router: Router,
    service: &'static str,
}

impl Server {
    pub async fn bind(service: &'static str, addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        Ok(Server { listener: TcpListener::bind(addr).await?, router, service })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until Ctrl-C / SIGTERM, then drains in-flight requests.
    pub async fn run(self) -> std::io::Result<()> {
        tracing::info!(service = self.service, addr = %self.listener.local_addr()?, "listening");
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown_signal()).await
    }
}

/// Runs `job` every `every` until the process stops (0 disables it).
pub fn spawn_periodic<F, Fut>(name: &'static str, every: std::time::Duration, job: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<usize, String>> + Send,
{
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match job().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(job = name, items = n, "job pass"),
                Err(e) => tracing::warn!(job = name, error = %e, "job pass failed"),
            }
        }
    });
}
