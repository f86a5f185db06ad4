//! GraphQL plumbing shared by both subgraphs: typed API errors with a stable
//! `extensions.code`, the guards that enforce RBAC on entity types and fields, and the axum
//! handler that authenticates the request and runs the schema.

use async_graphql::{Context, ErrorExtensions, Executor, Guard};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::HeaderMap;
use domain::permissions::{AccessDenied, Actor, Permission};

use crate::auth::Authenticator;

/// Errors a resolver may return. Each has a stable `extensions.code`; internal details are
/// logged once and never returned. (Deliberately not `Display`: async-graphql's blanket
/// `From<Display>` would drop the code; this type converts through its own `From`.)
#[derive(Debug)]
pub enum ApiError {
    Unauthenticated,
    Forbidden,
    NotFound(String),
    BadInput(String),
    Conflict(String),
    IllegalTransition(String),
    Provider(String),
    /// A value the API cannot represent exactly (a `Long` beyond 2^53 − 1).
    OutOfRange(String),
    /// The query was refused before execution: too deep, too costly, too many representations.
    QueryTooComplex(String),
    Internal,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::BadInput(_) => "BAD_USER_INPUT",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::IllegalTransition(_) => "ILLEGAL_TRANSITION",
            ApiError::Provider(_) => "PROVIDER_ERROR",
            ApiError::OutOfRange(_) => "VALUE_OUT_OF_RANGE",
            ApiError::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            ApiError::Internal => "INTERNAL",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated => "authentication required".into(),
            ApiError::Forbidden => "not allowed".into(),
            ApiError::NotFound(what) => format!("{what} not found"),
            ApiError::BadInput(m)
            | ApiError::Conflict(m)
            | ApiError::IllegalTransition(m)
            | ApiError::OutOfRange(m)
            | ApiError::QueryTooComplex(m) => m.clone(),
            ApiError::Provider(m) => format!("payment provider error: {m}"),
            ApiError::Internal => "internal error".into(),
        }
    }

    /// Logs an internal error once and returns the opaque API error.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        ApiError::Internal
    }
}

impl From<AccessDenied> for ApiError {
    fn from(value: AccessDenied) -> Self {
        match value {
            AccessDenied::Unauthenticated => ApiError::Unauthenticated,
            AccessDenied::Forbidden => ApiError::Forbidden,
        }
    }
}

impl From<domain::ids::IdError> for ApiError {
    fn from(value: domain::ids::IdError) -> Self {
        ApiError::BadInput(value.to_string())
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(value: ApiError) -> Self {
        let code = value.code();
        async_graphql::Error::new(value.message()).extend_with(|_, e| e.set("code", code))
    }
}

/// The actor of the current request (anonymous if the context has none).
pub fn actor<'a>(ctx: &'a Context<'_>) -> &'a Actor {
    static ANONYMOUS: std::sync::OnceLock<Actor> = std::sync::OnceLock::new();
    ctx.data_opt::<Actor>().unwrap_or_else(|| ANONYMOUS.get_or_init(Actor::anonymous))
}

/// Guard: the actor holds `permission` on `malet_id`. Put it on entity types
/// (`#[Object(guard = "MaletGuard::new(Permission::ViewPayouts, &self.malet_id)")]`) so every
/// field is checked, including when the object is reached through `_entities`.
pub struct MaletGuard {
    permission: Permission,
    malet_id: String,
}

impl MaletGuard {
    pub fn new(permission: Permission, malet_id: &str) -> Self {
        MaletGuard { permission, malet_id: malet_id.to_owned() }
    }
}

impl Guard for MaletGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        actor(ctx).can(self.permission, &self.malet_id).map_err(|e| ApiError::from(e).into())
    }
}

/// Guard: a platform-wide permission (`malets: ["*"]`), for admin operations.
pub struct AdminGuard(pub Permission);

impl Guard for AdminGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        actor(ctx).can_admin(self.0).map_err(|e| ApiError::from(e).into())
    }
}

/// Guard: any authenticated actor (the field then checks the Malet it resolves).
pub struct Authenticated;

impl Guard for Authenticated {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        if actor(ctx).is_authenticated() { Ok(()) } else { Err(ApiError::Unauthenticated.into()) }
    }
}

/// State of the `/graphql` route.
#[derive(Clone)]
pub struct GraphqlState<E: Executor + Clone> {
    pub executor: E,
    pub auth: Authenticator,
    pub development: bool,
}

/// Whether the request may read `_service { sdl }` (see [`RequestLimits`]).
#[derive(Debug, Clone, Copy)]
pub struct Development(pub bool);

/// One GraphQL error as a GraphQL-over-HTTP body, with its stable code (also used for
/// requests refused before GraphQL runs, e.g. shed under load).
pub fn error_body(status: axum::http::StatusCode, message: &str, code: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]})))
        .into_response()
}

/// `POST /graphql`: authenticate, then execute with the actor in the context. A bad token fails
/// the whole request with UNAUTHENTICATED (HTTP 200, GraphQL error), so routers pass it through.
/// A body that is not a GraphQL request (malformed JSON, wrong shape) is a 400 with code
/// BAD_REQUEST, never Rust debug text.
pub async fn graphql_handler<E: Executor + Clone>(
    State(state): State<GraphqlState<E>>,
    headers: HeaderMap,
    request: Result<GraphQLRequest, async_graphql_axum::rejection::GraphQLRejection>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let request = match request {
        Ok(r) => r,
        Err(rejection) if matches!(rejection.0, async_graphql::ParseRequestError::PayloadTooLarge) => {
            return error_body(axum::http::StatusCode::PAYLOAD_TOO_LARGE, "the body is too large", "PAYLOAD_TOO_LARGE");
        }
        Err(rejection) => {
            tracing::info!(error = %rejection.0, "unparseable GraphQL request");
            return error_body(
                axum::http::StatusCode::BAD_REQUEST,
                "the body is not a GraphQL request: send JSON {\"query\": \"...\", \"variables\": {...}}",
                "BAD_REQUEST",
            );
        }
    };
    let response: GraphQLResponse = match state.auth.authenticate(&headers) {
        Ok(actor) => {
            let mut response =
                state.executor.execute(request.into_inner().data(actor).data(Development(state.development))).await;
            // Every error carries a stable code: the engine's own input errors (a null for an
            // argument, an unknown entity) have none, and are the caller's input.
            for err in &mut response.errors {
                let ext = err.extensions.get_or_insert_with(Default::default);
                if ext.get("code").is_none() {
                    ext.set("code", "BAD_USER_INPUT");
                }
            }
            response.into()
        }
        Err(e) => {
            tracing::info!(error = %e, "rejected token");
            let err = crate::query_limits::coded("invalid or expired token", "UNAUTHENTICATED");
            async_graphql::Response::from_errors(vec![err]).into()
        }
    };
    response.into_response()
}

/// GraphiQL page (served on `GET /graphql` in development only).
pub async fn graphiql() -> axum::response::Html<String> {
    axum::response::Html(async_graphql::http::GraphiQLSource::build().endpoint("/graphql").finish())
}
