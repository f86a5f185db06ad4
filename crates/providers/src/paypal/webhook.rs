//! PayPal webhook verification, offline (R-HOOK-1): no call to PayPal's verify API.
//!
//! PayPal signs `<PAYPAL-TRANSMISSION-ID>|<PAYPAL-TRANSMISSION-TIME>|<webhook id>|<crc32 of the
//! raw body, unsigned decimal>` with RSA-SHA256 (`PAYPAL-AUTH-ALGO: SHA256withRSA`); the signature
//! is `PAYPAL-TRANSMISSION-SIG` (base64) and the signing certificate is at `PAYPAL-CERT-URL`.
//! A delivery is accepted when:
//! - every header is present and the algorithm is `SHA256withRSA`;
//! - the transmission time is within the tolerance of now (a replayed old delivery is refused);
//! - the certificate URL is `https` on PayPal's own hosts (`paypal.com` and its subdomains), or,
//!   for tests only, under the configured base: a forged delivery cannot make us fetch a key
//!   from a host of its choosing;
//! - the certificate is valid now (not before / not after), is issued to a PayPal host (its
//!   subject CN ends in `paypal.com`), and its RSA key verifies the signature over the message
//!   built with *our* webhook id (`PAYPAL_WEBHOOK_ID`), so a delivery meant for another webhook
//!   does not verify.
//!
//! Certificates are cached by URL until they expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use sha2::Sha256;
use x509_cert::Certificate;
use x509_cert::der::Encode;

/// Allowed difference between a transmission's time and ours, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The only algorithm PayPal uses and we accept.
pub const AUTH_ALGO: &str = "SHA256withRSA";

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("PayPal webhooks are not configured (PAYPAL_WEBHOOK_ID)")]
    NotConfigured,
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("unsupported PAYPAL-AUTH-ALGO {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("PAYPAL-TRANSMISSION-TIME {0:?} is not an RFC 3339 time")]
    BadTime(String),
    #[error("transmission time is {0} s away from now, outside the tolerance")]
    Stale(i64),
    #[error("certificate URL {0:?} is not on a PayPal host")]
    CertHostNotAllowed(String),
    #[error("certificate unavailable: {0}")]
    CertUnavailable(String),
    #[error("certificate refused: {0}")]
    CertInvalid(String),
    #[error("signature does not verify")]
    BadSignature,
}

/// The transmission headers of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission {
    pub id: String,
    pub time: String,
    pub signature: String,
    pub cert_url: String,
    pub auth_algo: String,
}

impl Transmission {
    /// Reads the headers through `get` (header name → value).
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Transmission, VerifyError> {
        let header = |name: &'static str| {
            get(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(VerifyError::MissingHeader(name))
        };
        Ok(Transmission {
            id: header("paypal-transmission-id")?,
            time: header("paypal-transmission-time")?,
            signature: header("paypal-transmission-sig")?,
            cert_url: header("paypal-cert-url")?,
            auth_algo: header("paypal-auth-algo")?,
        })
    }
}

/// The message PayPal signs.
pub fn signed_message(transmission_id: &str, transmission_time: &str, webhook_id: &str, body: &[u8]) -> String {
    format!("{transmission_id}|{transmission_time}|{webhook_id}|{}", crc32fast::hash(body))
}

/// Whether `url` may be fetched as a signing certificate: `https` on `paypal.com` or one of its
/// subdomains, or under `test_base` (a URL prefix ending in `/`) when one is configured.
pub fn cert_url_allowed(url: &str, test_base: Option<&str>) -> bool {
    if let Some(base) = test_base
        && base.ends_with('/')
        && url.starts_with(base)
    {
        return true;
    }
    let Ok(parsed) = reqwest::Url::parse(url) else { return false };
    let host = parsed.host_str().unwrap_or("").to_ascii_lowercase();
    parsed.scheme() == "https"
        && parsed.port().is_none()
        && parsed.username().is_empty()
        && (host == "paypal.com" || host.ends_with(".paypal.com"))
}

struct Cached {
    key: RsaPublicKey,
    not_before: i64,
    not_after: i64,
}

/// Verifies PayPal deliveries for one webhook.
pub struct PaypalWebhookVerifier {
    webhook_id: Option<String>,
    tolerance_secs: i64,
    cert_test_base: Option<String>,
    http: reqwest::Client,
    certs: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for PaypalWebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaypalWebhookVerifier")
            .field("webhook_id", &self.webhook_id)
            .field("tolerance_secs", &self.tolerance_secs)
            .field("cert_test_base", &self.cert_test_base)
            .finish_non_exhaustive()
    }
}

impl PaypalWebhookVerifier {
    /// `webhook_id`: the id PayPal gave our webhook (`None`: every delivery is refused).
    /// `cert_test_base`: a URL prefix (ending in `/`) certificates may also be fetched from, for
    /// tests against a fake PayPal; `None` in production.
    pub fn new(webhook_id: Option<String>, tolerance_secs: i64, cert_test_base: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        PaypalWebhookVerifier {
            webhook_id: webhook_id.filter(|w| !w.trim().is_empty()),
            tolerance_secs,
            cert_test_base: cert_test_base.filter(|b| !b.trim().is_empty()),
            http,
            certs: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies `body` as delivered with `transmission` at `now` (unix seconds).
    pub async fn verify(&self, body: &[u8], transmission: &Transmission, now: i64) -> Result<(), VerifyError> {
        let webhook_id = self.webhook_id.as_deref().ok_or(VerifyError::NotConfigured)?;
        if transmission.auth_algo != AUTH_ALGO {
            return Err(VerifyError::UnsupportedAlgorithm(transmission.auth_algo.clone()));
        }
        let sent = chrono::DateTime::parse_from_rfc3339(&transmission.time)
            .map_err(|_| VerifyError::BadTime(transmission.time.clone()))?
            .timestamp();
        if (now - sent).abs() > self.tolerance_secs {
            return Err(VerifyError::Stale(now - sent));
        }
        if !cert_url_allowed(&transmission.cert_url, self.cert_test_base.as_deref()) {
            return Err(VerifyError::CertHostNotAllowed(transmission.cert_url.clone()));
        }
        let key = self.key(&transmission.cert_url, now).await?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(transmission.signature.as_bytes())
            .map_err(|_| VerifyError::BadSignature)?;
        let signature = Signature::try_from(signature.as_slice()).map_err(|_| VerifyError::BadSignature)?;
        let message = signed_message(&transmission.id, &transmission.time, webhook_id, body);
        VerifyingKey::<Sha256>::new(key).verify(message.as_bytes(), &signature).map_err(|_| VerifyError::BadSignature)
    }

    async fn key(&self, url: &str, now: i64) -> Result<RsaPublicKey, VerifyError> {
        let cached = {
            let certs = self.certs.lock().unwrap_or_else(|p| p.into_inner());
            certs.get(url).map(|c| (c.key.clone(), c.not_before, c.not_after))
        };
        let (key, not_before, not_after) = match cached {
            Some(c) => c,
            None => {
                let pem = self.fetch(url).await?;
                let cached = parse_certificate(&pem)?;
                let out = (cached.key.clone(), cached.not_before, cached.not_after);
                self.certs.lock().unwrap_or_else(|p| p.into_inner()).insert(url.to_owned(), cached);
                out
            }
        };
        if now < not_before || now > not_after {
            self.certs.lock().unwrap_or_else(|p| p.into_inner()).remove(url);
            return Err(VerifyError::CertInvalid("not valid now".into()));
        }
        Ok(key)
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, VerifyError> {
        let response = self.http.get(url).send().await.map_err(|e| VerifyError::CertUnavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(VerifyError::CertUnavailable(format!("HTTP {}", response.status())));
        }
        let body = response.bytes().await.map_err(|e| VerifyError::CertUnavailable(e.to_string()))?;
        if body.len() > 64 * 1024 {
            return Err(VerifyError::CertUnavailable("certificate too large".into()));
        }
        Ok(body.to_vec())
    }
}

/// The first certificate of a PEM chain: its RSA key and validity, if it is issued to a PayPal
/// host.
fn parse_certificate(pem: &[u8]) -> Result<Cached, VerifyError> {
    let invalid = |why: &str| VerifyError::CertInvalid(why.to_owned());
    let chain = Certificate::load_pem_chain(pem).map_err(|e| VerifyError::CertInvalid(e.to_string()))?;
    let cert = chain.into_iter().next().ok_or_else(|| invalid("no certificate"))?;
    let tbs = &cert.tbs_certificate;
    let subject = tbs.subject.to_string();
    let issued_to_paypal = subject.split(',').any(|part| {
        part.trim()
            .strip_prefix("CN=")
            .map(|cn| cn.to_ascii_lowercase())
            .is_some_and(|cn| cn == "paypal.com" || cn.ends_with(".paypal.com"))
    });
    if !issued_to_paypal {
        return Err(VerifyError::CertInvalid(format!("issued to {subject}, not a PayPal host")));
    }
    let secs = |t: &x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    let spki = tbs.subject_public_key_info.to_der().map_err(|e| VerifyError::CertInvalid(e.to_string()))?;
    let key = RsaPublicKey::from_public_key_der(&spki).map_err(|_| invalid("not an RSA key"))?;
    Ok(Cached { key, not_before: secs(&tbs.validity.not_before), not_after: secs(&tbs.validity.not_after) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_id_time_webhook_and_the_bodys_crc32() {
        // crc32("hello") = 907060870
        assert_eq!(
            signed_message("t1", "2026-12-02T00:00:00Z", "WH-1", b"hello"),
            "t1|2026-12-02T00:00:00Z|WH-1|907060870"
        );
    }

    #[test]
    fn certificates_come_only_from_paypal_hosts() {
        for ok in [
            "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270",
            "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
            "https://api-m.paypal.com/v1/notifications/certs/CERT-1",
        ] {
            assert!(cert_url_allowed(ok, None), "{ok}");
        }
        for bad in [
            "http://api.paypal.com/v1/notifications/certs/CERT-1",
            "https://api.paypal.com.evil.example/certs/1",
            "https://evilpaypal.com/certs/1",
            "https://api.paypal.com:8443/certs/1",
            "https://user@api.paypal.com/certs/1",
            "https://127.0.0.1/certs/1",
            "not a url",
        ] {
            assert!(!cert_url_allowed(bad, None), "{bad}");
        }
        assert!(cert_url_allowed("http://127.0.0.1:4010/certs/1", Some("http://127.0.0.1:4010/")));
        assert!(!cert_url_allowed("http://127.0.0.1:40100/certs/1", Some("http://127.0.0.1:4010/")));
        // A base without the trailing slash would let a longer port match: it is not honoured.
        assert!(!cert_url_allowed("http://127.0.0.1:40100/certs/1", Some("http://127.0.0.1:4010")));
    }
}
