//! What every subgraph is made of: its service, its GraphQL schema, its webhook inbox, auth and
//! limits, assembled the same way for payments and murchases.

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::{EmptySubscription, ObjectType, SDLExportOptions, Schema};
use axum::Router;
use sea_orm::DatabaseConnection;

use crate::auth::Authenticator;
use crate::config::CommonSettings;
use crate::http::{Server, Subgraph, subgraph_router};
use crate::webhook::{EventApplier, Inbox, WebhookState};

pub use crate::query_limits::{MAX_COMPLEXITY, MAX_DEPTH};

/// A federation schema with depth and complexity limits; introspection only in development.
/// `data` is the service the resolvers use (`None` to print the SDL).
pub fn build_schema<Q, M, D>(
    query: Q,
    mutation: M,
    data: Option<D>,
    development: bool,
) -> Schema<Q, M, EmptySubscription>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    D: Send + Sync + 'static,
{
    let mut builder = Schema::build(query, mutation, EmptySubscription)
        .enable_federation()
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(crate::query_limits::RequestLimits)
        // No "Did you mean …?" hints: they describe the schema to callers who cannot introspect.
        .disable_suggestions();
    if !development {
        builder = builder.disable_introspection();
    }
    if let Some(data) = data {
        builder = builder.data(data);
    }
    builder.finish()
}

/// The Federation v2 SDL of a schema (what `<bin> schema` prints and `schema/` holds).
pub fn federation_sdl<Q: ObjectType + 'static, M: ObjectType + 'static>(
    schema: &Schema<Q, M, EmptySubscription>,
) -> String {
    schema.sdl_with_options(SDLExportOptions::new().federation().compose_directive())
}

/// Everything a subgraph's HTTP application and jobs need.
#[derive(Clone)]
pub struct SubgraphState<S: Clone, E: async_graphql::Executor + Clone> {
    pub name: &'static str,
    pub db: DatabaseConnection,
    pub service: S,
    pub schema: E,
    pub inbox: Inbox,
    /// One webhook route per provider that sends them.
    pub webhooks: Vec<WebhookState>,
    pub auth: Authenticator,
    pub development: bool,
    pub graphql_body_limit: usize,
    pub webhook_body_limit: usize,
    pub http_limits: crate::http::HttpLimits,
    /// The process's background jobs (stopped by the server's graceful shutdown).
    pub jobs: crate::jobs::Jobs,
    /// The subgraph's own HTTP routes besides GraphQL and webhooks (e.g. payments' CSV
    /// statements), served under the same limits.
    pub routes: Router,
}

impl<S: Clone, E: async_graphql::Executor + Clone> SubgraphState<S, E> {
    pub fn assemble(
        name: &'static str,
        common: &CommonSettings,
        db: DatabaseConnection,
        service: S,
        schema: E,
        applier: Arc<dyn EventApplier>,
    ) -> anyhow::Result<Self> {
        let inbox = Inbox { db: db.clone(), receiver: name, applier };
        use domain::provider::ProviderKind;
        let webhooks = vec![
            WebhookState {
                inbox: inbox.clone(),
                provider: ProviderKind::StripeConnect,
                path: "stripe",
                verifier: Arc::new(common.stripe.verifier()),
            },
            WebhookState {
                inbox: inbox.clone(),
                provider: ProviderKind::Paypal,
                path: "paypal",
                verifier: Arc::new(common.paypal.verifier()),
            },
        ];
        Ok(SubgraphState {
            name,
            db,
            service,
            schema,
            inbox,
            webhooks,
            auth: Authenticator::from_settings(&common.auth)?,
            development: common.development(),
            graphql_body_limit: common.graphql_body_limit,
            webhook_body_limit: common.stripe.webhook_body_limit,
            http_limits: common.http,
            jobs: crate::jobs::Jobs::default(),
            routes: Router::new(),
        })
    }

    /// The HTTP application (used directly by oneshot tests).
    pub fn router(&self) -> Router {
        subgraph_router(Subgraph {
            service: self.name,
            executor: self.schema.clone(),
            auth: self.auth.clone(),
            development: self.development,
            graphql_body_limit: self.graphql_body_limit,
            webhooks: self.webhooks.clone(),
            webhook_body_limit: self.webhook_body_limit,
            db: self.db.clone(),
            limits: self.http_limits,
            routes: self.routes.clone(),
        })
    }

    pub async fn bind(&self, addr: SocketAddr) -> anyhow::Result<Server> {
        Ok(Server::bind_with(self.name, addr, self.router(), self.http_limits).await?.with_jobs(self.jobs.clone()))
    }

    /// Starts the webhook retry loop (every subgraph has one); its first pass runs at once.
    pub fn spawn_webhook_retries(&self, every: std::time::Duration) {
        let inbox = self.inbox.clone();
        self.jobs.spawn_periodic("webhook-retry", every, move || {
            let inbox = inbox.clone();
            async move { inbox.process_due(100).await.map_err(|e| e.to_string()) }
        });
    }
}
