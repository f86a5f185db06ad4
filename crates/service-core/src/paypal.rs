//! PayPal settings shared by both subgraphs: the provider and the webhook verifier, built from
//! environment variables.

use axum::http::HeaderMap;
use providers::paypal::webhook::{DEFAULT_TOLERANCE_SECS, PaypalWebhookVerifier, Transmission};

use crate::webhook::SignatureVerifier;

/// `PAYPAL_CLIENT_ID`, `PAYPAL_CLIENT_SECRET`, `PAYPAL_API_BASE`, `PAYPAL_WEBHOOK_ID`.
#[derive(Debug, Clone, clap::Args)]
pub struct PaypalSettings {
    /// REST app client id; without it (and the secret) the PayPal provider is not configured.
    #[arg(long, env = "PAYPAL_CLIENT_ID")]
    pub paypal_client_id: Option<String>,
    #[arg(long, env = "PAYPAL_CLIENT_SECRET", hide_env_values = true)]
    pub paypal_client_secret: Option<secrecy::SecretString>,
    /// PayPal's API base (`https://api-m.sandbox.paypal.com` for the sandbox; a fake in tests);
    /// the live API when unset.
    #[arg(long, env = "PAYPAL_API_BASE")]
    pub paypal_api_base: Option<String>,
    /// The id PayPal gave the platform's webhook; without it every PayPal webhook is refused.
    #[arg(long, env = "PAYPAL_WEBHOOK_ID")]
    pub paypal_webhook_id: Option<String>,
    /// Tests only: a URL prefix (ending in `/`) signing certificates may also be fetched from
    /// (a fake PayPal). In production certificates come only from PayPal's own hosts.
    #[arg(long, env = "PAYPAL_CERT_URL_TEST_BASE")]
    pub paypal_cert_url_test_base: Option<String>,
    /// Allowed difference between a PayPal transmission time and ours, in seconds.
    #[arg(long, env = "PAYPAL_WEBHOOK_TOLERANCE_SECS", default_value_t = DEFAULT_TOLERANCE_SECS)]
    pub paypal_webhook_tolerance_secs: i64,
}

impl PaypalSettings {
    /// The PayPal provider, when its credentials are configured.
    pub fn provider(&self) -> anyhow::Result<Option<providers::paypal::client::Paypal>> {
        use secrecy::ExposeSecret;
        let id = self.paypal_client_id.as_deref().map(str::trim).filter(|i| !i.is_empty());
        let secret = self.paypal_client_secret.as_ref().filter(|s| !s.expose_secret().trim().is_empty());
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Some(providers::paypal::client::Paypal::new(
                id.to_owned(),
                secret.clone(),
                self.paypal_api_base.clone(),
            )?)),
            (None, None) => {
                tracing::warn!("PAYPAL_CLIENT_ID/PAYPAL_CLIENT_SECRET not set: the PayPal provider is disabled");
                Ok(None)
            }
            _ => anyhow::bail!("PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET must be set together"),
        }
    }

    pub fn verifier(&self) -> PaypalVerifier {
        if self.paypal_webhook_id.as_deref().is_none_or(|w| w.trim().is_empty()) {
            tracing::warn!("PAYPAL_WEBHOOK_ID not set: every PayPal webhook will be rejected");
        }
        PaypalVerifier(PaypalWebhookVerifier::new(
            self.paypal_webhook_id.clone(),
            self.paypal_webhook_tolerance_secs,
            self.paypal_cert_url_test_base.clone(),
        ))
    }
}

/// Checks a PayPal delivery's transmission signature.
pub struct PaypalVerifier(PaypalWebhookVerifier);

#[async_trait::async_trait]
impl SignatureVerifier for PaypalVerifier {
    async fn verify(&self, payload: &[u8], headers: &HeaderMap) -> Result<(), String> {
        let transmission = Transmission::from_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()))
            .map_err(|e| e.to_string())?;
        self.0.verify(payload, &transmission, chrono::Utc::now().timestamp()).await.map_err(|e| e.to_string())
    }
}
