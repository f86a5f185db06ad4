//! PayPal settings shared by both subgraphs: the webhook verifier built from environment
//! variables.

use axum::http::HeaderMap;
use providers::paypal::webhook::{DEFAULT_TOLERANCE_SECS, PaypalWebhookVerifier, Transmission};

use crate::webhook::SignatureVerifier;

/// `PAYPAL_WEBHOOK_ID` and the certificate source.
#[derive(Debug, Clone, clap::Args)]
pub struct PaypalSettings {
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
