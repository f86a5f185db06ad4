//! Storefront webhook signatures: Shopify's `X-Shopify-Hmac-Sha256` and WooCommerce's
//! `X-WC-Webhook-Signature` are both the base64 HMAC-SHA256 of the raw body, keyed with a
//! secret; TikTok Shop's `Authorization` is the lowercase hex HMAC-SHA256 of the app key followed
//! by the raw body, keyed with the app secret. Each is checked before the body is parsed. The
//! comparison is `Mac::verify_slice`, which is constant-time.

use base64::Engine as _;
use hmac::{Hmac, Mac};

type HmacSha256 = Hmac<Sha256>;
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("the signature header is not in the platform's encoding (base64, or hex for TikTok Shop)")]
    Malformed,
    #[error("the signature does not match the shop's secret")]
    NoMatch,
}

/// Checks a base64 `HMAC-SHA256(secret, body)` signature (Shopify's and WooCommerce's scheme).
pub fn verify_base64_hmac(
    secret: &[u8],
    body: &[u8],
    signature: Option<&str>,
    header: &'static str,
) -> Result<(), SignatureError> {
    let signature = signature.map(str::trim).filter(|s| !s.is_empty()).ok_or(SignatureError::MissingHeader(header))?;
    let expected =
        base64::engine::general_purpose::STANDARD.decode(signature).map_err(|_| SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::NoMatch)?;
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::NoMatch)
}

/// Checks a hex `HMAC-SHA256(secret, prefix ‖ body)` signature (TikTok Shop's scheme).
pub fn verify_hex_hmac(
    secret: &[u8],
    prefix: &[u8],
    body: &[u8],
    signature: Option<&str>,
    header: &'static str,
) -> Result<(), SignatureError> {
    let signature = signature.map(str::trim).filter(|s| !s.is_empty()).ok_or(SignatureError::MissingHeader(header))?;
    let expected = hex::decode(signature).map_err(|_| SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::NoMatch)?;
    mac.update(prefix);
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::NoMatch)
}

/// Lowercase hex `HMAC-SHA256(secret, parts…)` (TikTok Shop's webhook and request signatures).
pub fn hex_hmac(secret: &[u8], parts: &[&[u8]]) -> String {
    // An HMAC takes a key of any length.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The base64 signature a storefront would send for `body` (for tests and fakes).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // An HMAC takes a key of any length.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
