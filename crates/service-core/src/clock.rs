//! Time helpers: one notion of "now" (UTC, microsecond precision so stored text timestamps
//! on SQLite compare in the same order as the instants they denote).

use chrono::{DateTime, Timelike, Utc};

pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

/// Exponential backoff for retries: 2^attempts seconds, capped at one hour.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let exp = attempts.clamp(0, 12) as u32;
    chrono::Duration::seconds(i64::from(2u32.pow(exp)).min(3600))
}

/// A short, stable hex digest of a text (for idempotency keys derived from free text).
pub fn short_hash(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    hex::encode(&digest[..8])
}
