//! WooCommerce webhook verification: `X-WC-Webhook-Signature` is the base64 HMAC-SHA256 of the
//! raw body keyed with the webhook's secret (`WC_Webhook::generate_signature`), checked in
//! constant time before the body is parsed. When a webhook is created WooCommerce first posts an
//! unsigned ping, the form body `webhook_id=<id>`, and activates the webhook only on a 200.

pub use crate::signature::{SignatureError, sign};

/// Verifies a WooCommerce delivery.
pub fn verify(secret: &[u8], body: &[u8], signature: Option<&str>) -> Result<(), SignatureError> {
    crate::signature::verify_base64_hmac(secret, body, signature, "X-WC-Webhook-Signature")
}

/// The key a delivery is deduplicated by: WooCommerce's `X-WC-Webhook-Delivery-ID` is a hash of
/// the webhook id and the current second, so two deliveries of one webhook in the same second
/// share it; with a digest of the (signed) body, only the same delivery sent again does.
pub fn delivery_key(delivery_id: &str, body: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(body);
    format!("wc:{delivery_id}:{}", &hex::encode(digest)[..16])
}

/// Whether `body` is WooCommerce's setup ping (`webhook_id=<digits>`), which carries no data.
pub fn is_ping(body: &[u8]) -> bool {
    body.strip_prefix(b"webhook_id=")
        .is_some_and(|id| !id.is_empty() && id.len() <= 20 && id.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_of_the_body_verifies_and_the_ping_is_recognised() {
        let body = br#"{"id":727}"#;
        let sig = sign(b"wc-secret", body);
        assert_eq!(verify(b"wc-secret", body, Some(&sig)), Ok(()));
        assert_eq!(verify(b"other", body, Some(&sig)), Err(SignatureError::NoMatch));
        assert_eq!(verify(b"wc-secret", body, None), Err(SignatureError::MissingHeader("X-WC-Webhook-Signature")));
        assert_eq!(delivery_key("d1", b"a"), delivery_key("d1", b"a"));
        assert_ne!(delivery_key("d1", b"a"), delivery_key("d1", b"b"), "two orders in one second");
        assert!(delivery_key("d1", b"a").starts_with("wc:d1:"));
        assert!(is_ping(b"webhook_id=12"));
        assert!(!is_ping(b"webhook_id="));
        assert!(!is_ping(b"webhook_id=12&x=1"));
        assert!(!is_ping(br#"{"webhook_id":12}"#));
    }
}
