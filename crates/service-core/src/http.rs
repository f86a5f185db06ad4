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

/// Routes every subgraph serves besides `/health` (which [`subgraph_router`] keeps outside the
/// request limits): `GET /ready` (database reachable), `GET /metrics` (Prometheus text).
pub fn operational_routes(database: DatabaseConnection) -> Router {
    let _ = telemetry::metrics_handle(); // install the recorder before the first request
    Router::new().route("/ready", get(ready)).route("/metrics", get(metrics)).with_state(database)
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

/// Limits that keep one client from degrading the service for everyone (R-TRUST-5).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct HttpLimits {
    /// Seconds a client has to send a request's headers; an idle keep-alive connection is closed
    /// after the same time.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, env = "HTTP_BODY_TIMEOUT_SECS", default_value_t = 10)]
    pub body_timeout_secs: u64,
    /// Seconds a request may take in all (408 after).
    #[arg(long, env = "HTTP_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Open connections at most; further clients wait in the listen backlog.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Requests in flight at most (503 with Retry-After above); `/health` is not counted.
    #[arg(long, env = "HTTP_MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) may take: open requests finish, then running job
    /// passes; whatever still runs after this is cut off (its transactions roll back).
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout_secs: 10,
            body_timeout_secs: 10,
            request_timeout_secs: 30,
            max_connections: 1024,
            max_in_flight: 256,
            shutdown_grace_secs: 20,
        }
    }
}

impl HttpLimits {
    fn secs(v: u64) -> std::time::Duration {
        std::time::Duration::from_secs(v.max(1))
    }
}

/// The parts of a subgraph's HTTP application.
pub struct Subgraph<E: async_graphql::Executor + Clone> {
    pub service: &'static str,
    pub executor: E,
    pub auth: crate::auth::Authenticator,
    pub development: bool,
    pub graphql_body_limit: usize,
    pub webhooks: Vec<crate::webhook::WebhookState>,
    pub webhook_body_limit: usize,
    pub db: DatabaseConnection,
    pub limits: HttpLimits,
    /// The subgraph's own routes (authenticated by their handlers), under the same limits.
    pub routes: Router,
}

/// Middleware: at most `max_in_flight` requests at once; above, 503 at once (never a queue
/// that grows without bound).
async fn limit_in_flight(
    State(slots): State<std::sync::Arc<tokio::sync::Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    match slots.try_acquire() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            metrics::counter!("http_requests_shed_total").increment(1);
            let mut response = crate::graphql::error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many requests in flight, retry shortly",
                "OVERLOADED",
            );
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
            response
        }
    }
}

/// The routes of a subgraph: `POST /graphql` (GET serves GraphiQL in development),
/// `POST /webhooks/<provider>` (one per provider), `/health`, `/ready`, `/metrics`, each body-limited (413), with
/// request and body timeouts and an in-flight cap (`/health` is outside the cap so it keeps
/// answering under load).
pub fn subgraph_router<E: async_graphql::Executor + Clone>(parts: Subgraph<E>) -> Router {
    use axum::routing::post;
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

    let mut graphql_route = post(crate::graphql::graphql_handler::<E>);
    if parts.development {
        graphql_route = graphql_route.get(crate::graphql::graphiql);
    }
    let graphql = Router::new()
        .route("/graphql", graphql_route)
        .layer(RequestBodyLimitLayer::new(parts.graphql_body_limit))
        .with_state(crate::graphql::GraphqlState {
            executor: parts.executor,
            auth: parts.auth,
            development: parts.development,
        });
    let mut webhooks = Router::new();
    for state in parts.webhooks {
        let path = format!("/webhooks/{}", state.path);
        webhooks = webhooks.merge(Router::new().route(&path, post(crate::webhook::receive_webhook)).with_state(state));
    }
    let webhooks = webhooks.layer(RequestBodyLimitLayer::new(parts.webhook_body_limit));
    let limits = parts.limits;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight.max(1)));
    let limited = Router::new()
        .merge(graphql)
        .merge(webhooks)
        .merge(parts.routes)
        .merge(operational_routes(parts.db))
        .layer(middleware::from_fn_with_state(slots, limit_in_flight))
        .layer(RequestBodyTimeoutLayer::new(HttpLimits::secs(limits.body_timeout_secs)))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            HttpLimits::secs(limits.request_timeout_secs),
        ));
    let service = parts.service;
    let health = Router::new().route(
        "/health",
        get(move || async move { axum::Json(serde_json::json!({"status": "ok", "service": service})) }),
    );
    with_metrics(limited.merge(health))
}

/// A bound, not yet running server: tests bind port 0 and read the real address.
pub struct Server {
    listener: TcpListener,
    router: Router,
    service: &'static str,
    limits: HttpLimits,
    jobs: Option<crate::jobs::Jobs>,
}

impl Server {
    pub async fn bind(service: &'static str, addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        Self::bind_with(service, addr, router, HttpLimits::default()).await
    }

    pub async fn bind_with(
        service: &'static str,
        addr: SocketAddr,
        router: Router,
        limits: HttpLimits,
    ) -> std::io::Result<Self> {
        Ok(Server { listener: TcpListener::bind(addr).await?, router, service, limits, jobs: None })
    }

    /// The process's background jobs: stopped after the connections have drained.
    pub fn with_jobs(mut self, jobs: crate::jobs::Jobs) -> Self {
        self.jobs = Some(jobs);
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until Ctrl-C / SIGTERM, then shuts down gracefully (see [`Server::run_until`]).
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves HTTP/1.1 until `shutdown` resolves. Each connection has a header-read timeout
    /// (which also closes idle keep-alive connections); at most `max_connections` are open, the
    /// rest wait in the listen backlog. On shutdown it stops accepting, lets open connections
    /// finish their requests, then stops the jobs (no new pass; a running pass finishes), all
    /// within `SHUTDOWN_GRACE_SECS`. Claims are transactional, so nothing stays claimed.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        use hyper_util::rt::{TokioIo, TokioTimer};
        use hyper_util::service::TowerToHyperService;

        let Server { listener, router, service, limits, jobs } = self;
        tracing::info!(service, addr = %listener.local_addr()?, "listening");
        let connections = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HttpLimits::secs(limits.header_timeout_secs))
            .max_headers(100)
            .keep_alive(true);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = connections.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
            let watched = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = watched.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(permit);
            });
        }
        // New connections are refused from here on (not left waiting in the backlog).
        drop(listener);
        tracing::info!(service, "draining connections");
        let grace = HttpLimits::secs(limits.shutdown_grace_secs);
        let deadline = tokio::time::Instant::now() + grace;
        if tokio::time::timeout_at(deadline, graceful.shutdown()).await.is_err() {
            tracing::warn!(service, "connections still open at the shutdown deadline");
        }
        if let Some(jobs) = &jobs {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            jobs.stop(left.max(std::time::Duration::from_secs(1))).await;
        }
        tracing::info!(service, "stopped");
        Ok(())
    }
}
