//! TikTok Shop notification verification: the `Authorization` header is the lowercase hex
//! HMAC-SHA256, keyed with the app secret, of the app key followed by the raw body (no
//! separator), checked in constant time before the body is parsed. TikTok sends no timestamp
//! header and no delivery header: a notification is deduplicated by its `tts_notification_id`
//! ([`super::transformers::Notification::delivery_key`]).

pub use crate::signature::SignatureError;

/// Verifies a TikTok Shop notification.
pub fn verify(
    app_key: &str,
    app_secret: &[u8],
    body: &[u8],
    authorization: Option<&str>,
) -> Result<(), SignatureError> {
    crate::signature::verify_hex_hmac(app_secret, app_key.as_bytes(), body, authorization, "Authorization")
}

/// The `Authorization` value TikTok would send for `body` (for tests and fakes).
pub fn sign(app_key: &str, app_secret: &[u8], body: &[u8]) -> String {
    crate::signature::hex_hmac(app_secret, &[app_key.as_bytes(), body])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of TikTok's webhook overview: app key `abcdef`, app secret `123`.
    const DOC_BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
    const DOC_SIGNATURE: &str = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05";

    #[test]
    fn the_documented_example_verifies_and_nothing_else_does() {
        assert_eq!(sign("abcdef", b"123", DOC_BODY.as_bytes()), DOC_SIGNATURE);
        assert_eq!(verify("abcdef", b"123", DOC_BODY.as_bytes(), Some(DOC_SIGNATURE)), Ok(()));
        assert_eq!(verify("abcdef", b"123", DOC_BODY.as_bytes(), Some(&DOC_SIGNATURE.to_uppercase())), Ok(()));
        // Another secret, another app key, one byte more, no header, not hex.
        assert_eq!(verify("abcdef", b"124", DOC_BODY.as_bytes(), Some(DOC_SIGNATURE)), Err(SignatureError::NoMatch));
        assert_eq!(verify("abcdeg", b"123", DOC_BODY.as_bytes(), Some(DOC_SIGNATURE)), Err(SignatureError::NoMatch));
        let longer = format!("{DOC_BODY} ");
        assert_eq!(verify("abcdef", b"123", longer.as_bytes(), Some(DOC_SIGNATURE)), Err(SignatureError::NoMatch));
        assert_eq!(
            verify("abcdef", b"123", DOC_BODY.as_bytes(), None),
            Err(SignatureError::MissingHeader("Authorization"))
        );
        assert_eq!(
            verify("abcdef", b"123", DOC_BODY.as_bytes(), Some(&format!("Bearer {DOC_SIGNATURE}"))),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_second_published_vector_matches() {
        // EcomPHP/tiktokshop-php's webhook test values.
        let body = r#"{"type":1,"shop_id":"7494726673780148744","timestamp":1664095733,"data":{"order_id":"576684019603311365","order_status":"AWAITING_SHIPMENT","update_time":1664095610}}"#;
        assert_eq!(
            sign("fake_app_key", b"fake_app_secret", body.as_bytes()),
            "21109834de72ec53c9959716d8514ae388ce1f123e5ffdcafc46713fcdf62b27"
        );
    }
}
