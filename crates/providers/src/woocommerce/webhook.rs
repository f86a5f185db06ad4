//! WooCommerce webhook verification: `X-WC-Webhook-Signature` is the base64 HMAC-SHA256 of the
//! raw body keyed with the webhook's secret (`WC_Webhook::generate_signature`), checked in
//! constant time before the body is parsed. When a webhook is created WooCommerce first posts an
//! unsigned ping, the form body `webhook_id=<id>`, and activates the webhook only on a 200.

pub use crate::signature::{SignatureError, sign};

/// Verifies a WooCommerce delivery.
pub fn verify(secret: &[u8], body: &[u8], signature: Option<&str>) -> Result<(), SignatureError> {
    crate::signature::verify_base64_hmac(secret, body, signature, "X-WC-Webhook-Signature")
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
        assert!(is_ping(b"webhook_id=12"));
        assert!(!is_ping(b"webhook_id="));
        assert!(!is_ping(b"webhook_id=12&x=1"));
        assert!(!is_ping(br#"{"webhook_id":12}"#));
    }
}
