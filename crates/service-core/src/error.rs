//! The service-layer error shared by both subgraphs, and its mapping to the API error.
//!
//! Resolvers return `Result<T, ApiError>` so `?` on a `ServiceError` goes through
//! `From<ServiceError> for ApiError` and keeps the `extensions.code` (a `ServiceError` turned
//! into `async_graphql::Error` directly would lose it).

use domain::permissions::AccessDenied;
use domain::provider::ProviderError;
use sea_orm::DbErr;

use crate::graphql::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Access(#[from] AccessDenied),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Transition(#[from] domain::lifecycle::TransitionError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    pub fn bad_input(err: impl std::fmt::Display) -> Self {
        ServiceError::BadInput(err.to_string())
    }

    /// A record the actor asked for by id does not exist. Only a platform-wide actor learns
    /// that; anyone else gets the same FORBIDDEN as for another Malet's record, so ids cannot
    /// be probed (R-TRUST-3).
    pub fn missing(actor: &domain::permissions::Actor, what: impl Into<String>) -> Self {
        if actor.is_platform_wide() { ServiceError::NotFound(what.into()) } else { AccessDenied::Forbidden.into() }
    }
}

impl From<domain::ids::IdError> for ServiceError {
    fn from(value: domain::ids::IdError) -> Self {
        ServiceError::BadInput(value.to_string())
    }
}

impl From<domain::commission::LimitError> for ServiceError {
    fn from(value: domain::commission::LimitError) -> Self {
        ServiceError::BadInput(value.to_string())
    }
}

impl From<ServiceError> for ApiError {
    fn from(value: ServiceError) -> Self {
        match value {
            ServiceError::Access(a) => a.into(),
            ServiceError::NotFound(what) => ApiError::NotFound(what),
            ServiceError::BadInput(m) => ApiError::BadInput(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Transition(t) => ApiError::IllegalTransition(t.to_string()),
            ServiceError::Provider(p) => {
                tracing::warn!(error = %p, "provider call failed");
                match p {
                    // Stripe's text can echo request details (idempotency keys, ids): return a
                    // fixed message with the provider's error code only; the details are logged.
                    ProviderError::Rejected { code, .. } => ApiError::Provider(format!(
                        "the payment provider refused the request ({})",
                        code.as_deref().unwrap_or("no code")
                    )),
                    ProviderError::NotSupported(m) => ApiError::BadInput(format!("not supported: {m}")),
                    ProviderError::Unavailable(_) => {
                        ApiError::Provider("payment provider unavailable, try again".into())
                    }
                    ProviderError::Ambiguous(_) => {
                        ApiError::Provider("payment provider did not confirm; it is safe to retry".into())
                    }
                }
            }
            ServiceError::Db(e) => ApiError::internal(e),
            ServiceError::Internal(m) => ApiError::internal(m),
        }
    }
}
