//! Stripe webhook signature verification (R-HOOK-1), done on the raw body before anything is
//! parsed.
//!
//! Scheme: header `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]` where each
//! `v1` is `hex(HMAC-SHA256(secret, "<t>.<raw body>"))`. The body is accepted when any `v1` value
//! matches any configured secret (several secrets are configured while one is being rotated, and
//! Stripe sends one `v1` per active secret) and `|now − t| ≤ tolerance`.
//!
//! Why not `async-stripe-webhook`: its only public entry points (`Webhook::construct_event*`)
//! verify *and* deserialize the full typed event (every event type of the enabled resource
//! crates, compiled in), accept one secret per call, have a fixed 300 s tolerance that only
//! rejects old timestamps, require the body to be UTF-8 `&str`, and report failures through one
//! `WebhookError` that does not tell a stale timestamp from a malformed header as our API needs.
//! It also pulls `hmac` 0.13 beside the workspace's 0.12. Verification is twenty lines with
//! `hmac` + `sha2` + `hex`, so it is done here; the comparison is `Mac::verify_slice`, which is
//! constant-time.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The tolerance Stripe's own libraries use, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a webhook signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header (or an empty one).
    #[error("missing Stripe-Signature header")]
    MissingHeader,
    /// The header is not `t=<unix>,v1=<hex>…`.
    #[error("malformed Stripe-Signature header: {0}")]
    Malformed(&'static str),
    /// A signature matched but its timestamp is further than the tolerance from now (a replay,
    /// or a clock far off). Future timestamps are refused too.
    #[error("Stripe-Signature timestamp {timestamp} is outside the tolerance ({tolerance_secs} s) of now ({now})")]
    StaleTimestamp {
        /// `t` from the header.
        timestamp: i64,
        /// The `now_unix` the check ran with.
        now: i64,
        /// The tolerance the check ran with.
        tolerance_secs: i64,
    },
    /// No `v1` signature matches any configured secret (tampered body or wrong secret).
    #[error("no Stripe-Signature v1 value matches a configured webhook secret")]
    NoMatch,
    /// No webhook secret is configured, so nothing can be verified.
    #[error("no Stripe webhook secret is configured")]
    NoSecrets,
}

/// A webhook signing secret (`whsec_…`) as accepted by [`verify`].
pub trait SigningSecret {
    /// The secret's bytes, used as the HMAC key.
    fn key_bytes(&self) -> &[u8];
}

impl SigningSecret for SecretString {
    fn key_bytes(&self) -> &[u8] {
        self.expose_secret().as_bytes()
    }
}

impl SigningSecret for str {
    fn key_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl SigningSecret for String {
    fn key_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<T: SigningSecret + ?Sized> SigningSecret for &T {
    fn key_bytes(&self) -> &[u8] {
        (**self).key_bytes()
    }
}

/// The parts of a `Stripe-Signature` header that matter.
struct Header<'h> {
    /// `t` exactly as sent (it is signed as text).
    timestamp_text: &'h str,
    timestamp: i64,
    v1: Vec<&'h str>,
}

fn parse_header(header: &str) -> Result<Header<'_>, SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::MissingHeader);
    }
    let mut t: Option<(&str, i64)> = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let (key, value) = item.trim().split_once('=').ok_or(SignatureError::Malformed("item without '='"))?;
        match key.trim() {
            "t" => {
                if t.is_some() {
                    return Err(SignatureError::Malformed("more than one t"));
                }
                let value = value.trim();
                let parsed = value.parse::<i64>().map_err(|_| SignatureError::Malformed("t is not an integer"))?;
                t = Some((value, parsed));
            }
            "v1" => v1.push(value.trim()),
            // Other schemes (`v0` test signatures, future ones) are ignored, as Stripe's libraries do.
            _ => {}
        }
    }
    let (timestamp_text, timestamp) = t.ok_or(SignatureError::Malformed("no t"))?;
    if v1.is_empty() {
        return Err(SignatureError::Malformed("no v1 signature"));
    }
    Ok(Header { timestamp_text, timestamp, v1 })
}

/// Verifies a Stripe webhook: `payload` is the raw request body, `signature_header` the value of
/// `Stripe-Signature` (pass `""` when the header is absent), `secrets` every active endpoint secret,
/// `tolerance_secs` the allowed distance between `t` and `now_unix` (Stripe uses
/// [`DEFAULT_TOLERANCE_SECS`]).
///
/// Signatures are checked before the timestamp, so [`SignatureError::StaleTimestamp`] means an
/// authentic but old (or future) delivery, i.e. a replay or a clock problem.
///
/// # Errors
/// See [`SignatureError`].
pub fn verify<S: SigningSecret>(
    payload: &[u8],
    signature_header: &str,
    secrets: &[S],
    tolerance_secs: i64,
    now_unix: i64,
) -> Result<(), SignatureError> {
    let header = parse_header(signature_header)?;
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets);
    }
    let candidates: Vec<Vec<u8>> = header.v1.iter().filter_map(|v| hex::decode(v).ok()).collect();
    let matched = secrets.iter().any(|secret| {
        let Ok(mut mac) = HmacSha256::new_from_slice(secret.key_bytes()) else {
            return false;
        };
        mac.update(header.timestamp_text.as_bytes());
        mac.update(b".");
        mac.update(payload);
        candidates.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok())
    });
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    let tolerance = u64::try_from(tolerance_secs).unwrap_or(0);
    if now_unix.abs_diff(header.timestamp) > tolerance {
        return Err(SignatureError::StaleTimestamp { timestamp: header.timestamp, now: now_unix, tolerance_secs });
    }
    Ok(())
}

/// The hex `v1` signature of `payload` at time `t` with `secret`.
pub fn signature(payload: &[u8], secret: &str, t: i64) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty tag would never verify.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// A `Stripe-Signature` header value (`t=<t>,v1=<hex>`) for `payload`, as Stripe would send it;
/// for tests and test doubles.
pub fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    format!("t={t},v1={}", signature(payload, secret, t))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const SECRET: &str = "whsec_test_secret_1";
    const OTHER: &str = "whsec_test_secret_2";
    const NOW: i64 = 1_721_950_000;

    fn fixture_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/stripe")
    }

    fn event_fixtures() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(fixture_dir()).expect("fixture dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if name.ends_with(".json") && name != "fixtures3.json" {
                out.push((name, std::fs::read(&path).expect("read fixture")));
            }
        }
        out.sort();
        assert!(out.len() >= 7, "expected the Stripe event fixtures, found {}", out.len());
        out
    }

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter().map(|s| SecretString::from(*s)).collect()
    }

    #[test]
    fn every_fixture_signed_with_the_secret_verifies() {
        for (name, body) in event_fixtures() {
            let header = sign(&body, SECRET, NOW);
            assert_eq!(verify(&body, &header, &secrets(&[SECRET]), 300, NOW), Ok(()), "{name}");
            // Within the tolerance on both sides.
            assert_eq!(verify(&body, &header, &[SECRET], 300, NOW + 300), Ok(()), "{name}");
            assert_eq!(verify(&body, &header, &[SECRET], 300, NOW - 300), Ok(()), "{name}");
        }
    }

    #[test]
    fn tampered_body_is_refused() {
        for (name, body) in event_fixtures() {
            let header = sign(&body, SECRET, NOW);
            let text = String::from_utf8(body).expect("utf8");
            let tampered = text.replacen("\"livemode\": false", "\"livemode\": true", 1);
            let tampered = if tampered == text { format!("{text} ") } else { tampered };
            assert_eq!(
                verify(tampered.as_bytes(), &header, &[SECRET], 300, NOW),
                Err(SignatureError::NoMatch),
                "{name}"
            );
        }
        // One flipped byte.
        let body = br#"{"id":"evt_1","amount":1000}"#;
        let header = sign(body, SECRET, NOW);
        let mut flipped = body.to_vec();
        flipped[20] ^= 1;
        assert_eq!(verify(&flipped, &header, &[SECRET], 300, NOW), Err(SignatureError::NoMatch));
        // The same signature under another timestamp does not verify either.
        let sig = signature(body, SECRET, NOW);
        let moved = format!("t={},v1={sig}", NOW + 1);
        assert_eq!(verify(body, &moved, &[SECRET], 300, NOW), Err(SignatureError::NoMatch));
    }

    #[test]
    fn wrong_secret_is_refused() {
        let (_, body) = event_fixtures().remove(0);
        let header = sign(&body, OTHER, NOW);
        assert_eq!(verify(&body, &header, &secrets(&[SECRET]), 300, NOW), Err(SignatureError::NoMatch));
        let none: [&str; 0] = [];
        assert_eq!(verify(&body, &header, &none, 300, NOW), Err(SignatureError::NoSecrets));
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let (_, body) = event_fixtures().remove(0);
        let old = sign(&body, SECRET, NOW - 301);
        assert_eq!(
            verify(&body, &old, &[SECRET], 300, NOW),
            Err(SignatureError::StaleTimestamp { timestamp: NOW - 301, now: NOW, tolerance_secs: 300 })
        );
        let future = sign(&body, SECRET, NOW + 301);
        assert!(matches!(verify(&body, &future, &[SECRET], 300, NOW), Err(SignatureError::StaleTimestamp { .. })));
        // A stale header with a wrong signature is a mismatch first.
        let forged = format!("t={},v1={}", NOW - 10_000, "ab".repeat(32));
        assert_eq!(verify(&body, &forged, &[SECRET], 300, NOW), Err(SignatureError::NoMatch));
        // Extreme values do not overflow.
        let far = sign(&body, SECRET, i64::MIN);
        assert!(matches!(verify(&body, &far, &[SECRET], 300, i64::MAX), Err(SignatureError::StaleTimestamp { .. })));
    }

    #[test]
    fn malformed_and_missing_headers_are_refused() {
        let body = b"{}";
        let sig = signature(body, SECRET, NOW);
        assert_eq!(verify(body, "", &[SECRET], 300, NOW), Err(SignatureError::MissingHeader));
        assert_eq!(verify(body, "   ", &[SECRET], 300, NOW), Err(SignatureError::MissingHeader));
        for header in [
            format!("v1={sig}"),                 // no t
            format!("t={NOW}"),                  // no v1
            format!("t={NOW},v0={sig}"),         // only another scheme
            format!("t=abc,v1={sig}"),           // t not a number
            format!("t={NOW},t={NOW},v1={sig}"), // two t
            format!("t={NOW},v1{sig}"),          // item without '='
            "garbage".to_owned(),
            format!("t={NOW};v1={sig}"), // wrong separator
        ] {
            assert!(
                matches!(verify(body, &header, &[SECRET], 300, NOW), Err(SignatureError::Malformed(_))),
                "{header}"
            );
        }
        // Not hex, or hex of the wrong length: no match, not a crash.
        assert_eq!(verify(body, &format!("t={NOW},v1=zz"), &[SECRET], 300, NOW), Err(SignatureError::NoMatch));
        assert_eq!(verify(body, &format!("t={NOW},v1=abcd"), &[SECRET], 300, NOW), Err(SignatureError::NoMatch));
        // Spaces around items are tolerated.
        assert_eq!(verify(body, &format!("t={NOW}, v1={sig}"), &[SECRET], 300, NOW), Ok(()));
    }

    #[test]
    fn second_secret_during_rotation_verifies() {
        let (_, body) = event_fixtures().remove(1);
        let by_new = sign(&body, OTHER, NOW);
        assert_eq!(verify(&body, &by_new, &secrets(&[SECRET, OTHER]), 300, NOW), Ok(()));
        assert_eq!(verify(&body, &by_new, &secrets(&[OTHER, SECRET]), 300, NOW), Ok(()));
        assert_eq!(verify(&body, &by_new, &secrets(&[SECRET]), 300, NOW), Err(SignatureError::NoMatch));
    }

    #[test]
    fn any_of_several_v1_values_verifies() {
        let (_, body) = event_fixtures().remove(2);
        let good = signature(&body, SECRET, NOW);
        let other = signature(&body, OTHER, NOW);
        let junk = "00".repeat(32);
        for header in [
            format!("t={NOW},v1={good},v1={other}"),
            format!("t={NOW},v1={other},v1={good}"),
            format!("t={NOW},v1={junk},v1={good},v0={junk}"),
            format!("v1={junk},t={NOW},v1={good}"),
        ] {
            assert_eq!(verify(&body, &header, &[SECRET], 300, NOW), Ok(()), "{header}");
        }
        assert_eq!(
            verify(&body, &format!("t={NOW},v1={junk},v1={other}"), &[SECRET], 300, NOW),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn sign_produces_the_documented_header() {
        // Computed independently (Python's hmac): HMAC-SHA256("whsec_test_secret_1", "1721950000.{}").
        assert_eq!(
            sign(b"{}", SECRET, NOW),
            "t=1721950000,v1=0b1618e367c3ef1346b0d3bcd51dc16503888429e6a0518d4561aed9c21a370d"
        );
    }
}
