//! Shopify webhook verification: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw
//! body, keyed with the app's secret, checked before the body is parsed. The comparison is
//! `Mac::verify_slice`, which is constant-time.

pub use crate::signature::{SignatureError, sign, verify_base64_hmac};

/// Verifies a Shopify delivery.
pub fn verify(secret: &[u8], body: &[u8], hmac_header: Option<&str>) -> Result<(), SignatureError> {
    verify_base64_hmac(secret, body, hmac_header, "X-Shopify-Hmac-Sha256")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_of_the_body_with_the_secret_verifies_and_nothing_else_does() {
        let body = br#"{"id":1}"#;
        let sig = sign(b"shpss_secret", body);
        assert_eq!(verify(b"shpss_secret", body, Some(&sig)), Ok(()));
        assert_eq!(verify(b"other", body, Some(&sig)), Err(SignatureError::NoMatch));
        assert_eq!(verify(b"shpss_secret", br#"{"id":2}"#, Some(&sig)), Err(SignatureError::NoMatch));
        assert_eq!(verify(b"shpss_secret", body, None), Err(SignatureError::MissingHeader("X-Shopify-Hmac-Sha256")));
        assert_eq!(verify(b"shpss_secret", body, Some("%%%")), Err(SignatureError::Malformed));
    }
}
