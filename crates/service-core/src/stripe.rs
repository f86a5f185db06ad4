//! Stripe settings shared by both subgraphs: the provider registry and the webhook
//! signature verifier built from environment variables.

use std::sync::Arc;

use axum::http::HeaderMap;
use providers::stripe::webhook::{DEFAULT_TOLERANCE_SECS, verify};
use secrecy::SecretString;

use crate::registry::ProviderRegistry;
use crate::webhook::SignatureVerifier;

/// `STRIPE_SECRET_KEY`, `STRIPE_API_BASE`, `STRIPE_WEBHOOK_SECRETS`, and webhook limits.
#[derive(Debug, Clone, clap::Args)]
pub struct StripeSettings {
    /// Stripe secret key; without it the Stripe provider is not configured.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<SecretString>,
    /// Override of Stripe's API base URL (test doubles).
    #[arg(long, env = "STRIPE_API_BASE")]
    pub stripe_api_base: Option<String>,
    /// Per-call timeout of Stripe requests, in milliseconds. A call that times out is of
    /// unknown outcome: its money movement is looked up before any retry.
    #[arg(long, env = "STRIPE_TIMEOUT_MS", default_value_t = 30_000)]
    pub stripe_timeout_ms: u64,
    /// Comma-separated webhook signing secrets (several during rotation).
    #[arg(long, env = "STRIPE_WEBHOOK_SECRETS", hide_env_values = true, default_value = "")]
    pub stripe_webhook_secrets: SecretString,
    /// Largest accepted webhook body in bytes (413 above).
    #[arg(long, env = "WEBHOOK_BODY_LIMIT", default_value_t = 256 * 1024)]
    pub webhook_body_limit: usize,
    /// Allowed age of a webhook signature timestamp, in seconds.
    #[arg(long, env = "WEBHOOK_TOLERANCE_SECS", default_value_t = DEFAULT_TOLERANCE_SECS)]
    pub webhook_tolerance_secs: i64,
}

impl StripeSettings {
    /// The providers: MANUAL always; STRIPE_CONNECT when a secret key is configured.
    pub fn registry(&self) -> anyhow::Result<ProviderRegistry> {
        let mut registry = ProviderRegistry::new().with(Arc::new(providers::manual::Manual::new()));
        use secrecy::ExposeSecret;
        if let Some(key) = self.stripe_secret_key.as_ref().filter(|k| !k.expose_secret().trim().is_empty()) {
            let base = self.stripe_api_base.clone().filter(|b| !b.trim().is_empty());
            let stripe = providers::stripe::StripeConnect::new(key.clone(), base)?
                .with_timeout(std::time::Duration::from_millis(self.stripe_timeout_ms.max(1)));
            registry = registry.with(Arc::new(stripe));
        } else {
            tracing::warn!("STRIPE_SECRET_KEY not set: the Stripe provider is disabled");
        }
        Ok(registry)
    }

    pub fn verifier(&self) -> StripeVerifier {
        use secrecy::ExposeSecret;
        let secrets = self
            .stripe_webhook_secrets
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()))
            .collect::<Vec<_>>();
        if secrets.is_empty() {
            tracing::warn!("STRIPE_WEBHOOK_SECRETS not set: every webhook will be rejected");
        }
        StripeVerifier { secrets, tolerance_secs: self.webhook_tolerance_secs }
    }
}

/// Checks `Stripe-Signature` against every configured secret.
pub struct StripeVerifier {
    secrets: Vec<SecretString>,
    tolerance_secs: i64,
}

#[async_trait::async_trait]
impl SignatureVerifier for StripeVerifier {
    async fn verify(&self, payload: &[u8], headers: &HeaderMap) -> Result<(), String> {
        let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
        verify(payload, header, &self.secrets, self.tolerance_secs, chrono::Utc::now().timestamp())
            .map_err(|e| e.to_string())
    }
}
