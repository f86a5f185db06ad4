//! The TikTok Shop Partner API client (version 202309): two reads, because a notification
//! carries no amounts: Get Order Detail (`GET /order/202309/orders?ids=…`) and, for a return or
//! cancellation notification, Search Returns and Search Cancellations
//! (`POST /return_refund/202309/{returns,cancellations}/search` with the order's id in the body,
//! 50 a page, following `next_page_token`).
//!
//! Every request is signed (TikTok's "Sign your API request"): the query parameters except `sign`
//! and `access_token`, sorted by key, concatenated as `key` + `value`, after the path and before
//! the body, wrapped in the app secret on both sides, HMAC-SHA256 keyed with the app secret, in
//! lowercase hex. `app_key`, `timestamp` (seconds; TikTok accepts 5 minutes early to 30 seconds
//! late) and the shop's `shop_cipher` are in the query; the shop's access token goes in the
//! `x-tts-access-token` header, never in the signature. The base is
//! `https://open-api.tiktokglobalshop.com` (configurable for tests); plain HTTP only to a
//! loopback base, and only outside production.

use std::time::Duration;

use domain::money::Currency;
use domain::storefront::{StorefrontOrder, StorefrontRefund};
use secrecy::{ExposeSecret as _, SecretString};

use super::transformers::{self, DetailError, RefundSource};

/// TikTok Shop's API base.
pub const DEFAULT_BASE: &str = "https://open-api.tiktokglobalshop.com";
/// Get Order Detail.
pub const ORDER_DETAIL_PATH: &str = "/order/202309/orders";
/// Search Returns.
pub const RETURNS_SEARCH_PATH: &str = "/return_refund/202309/returns/search";
/// Search Cancellations.
pub const CANCELLATIONS_SEARCH_PATH: &str = "/return_refund/202309/cancellations/search";
/// Returns read per page, and pages read at most for one order (an order has a few returns).
pub const RETURNS_PAGE_SIZE: u32 = 50;
pub const MAX_RETURN_PAGES: usize = 10;
/// The largest answer read (one order's detail is a few kilobytes).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// The request signature of `path` with `query` and `body`.
pub fn sign_request(app_secret: &[u8], path: &str, query: &[(&str, String)], body: &[u8]) -> String {
    let mut params: Vec<&(&str, String)> = query.iter().filter(|(k, _)| *k != "sign" && *k != "access_token").collect();
    params.sort_by(|a, b| a.0.cmp(b.0));
    let mut text = String::from(path);
    for (k, v) in params {
        text.push_str(k);
        text.push_str(v);
    }
    crate::signature::hex_hmac(app_secret, &[app_secret, text.as_bytes(), body, app_secret])
}

#[derive(Debug, thiserror::Error)]
pub enum TikTokError {
    #[error("TikTok Shop API base {0:?} is not an https URL (http only to a loopback address, not in production)")]
    InvalidBase(String),
    #[error("TikTok Shop is unreachable: {0}")]
    Unreachable(String),
    #[error("TikTok Shop answered HTTP {status} code {code}: {message}")]
    Refused { status: u16, code: i64, message: String },
    #[error(transparent)]
    Detail(#[from] DetailError),
}

impl TikTokError {
    /// Whether trying again later may succeed (the network, TikTok's own errors, rate limits),
    /// rather than needing an admin (bad credentials, an answer we cannot read).
    pub fn is_transient(&self) -> bool {
        match self {
            TikTokError::Unreachable(_) => true,
            TikTokError::Refused { status, code, .. } => *status >= 500 || *status == 429 || *code == 36009002,
            TikTokError::InvalidBase(_) | TikTokError::Detail(_) => false,
        }
    }
}

/// A shop's credentials: the app's key and secret, and the shop's cipher and access token.
pub struct TikTokShopCredentials {
    pub app_key: String,
    pub app_secret: SecretString,
    pub shop_cipher: String,
    pub access_token: SecretString,
}

pub struct TikTokClient {
    http: reqwest::Client,
    base: String,
    credentials: TikTokShopCredentials,
}

impl std::fmt::Debug for TikTokClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TikTokClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl TikTokClient {
    pub fn new(
        base: &str,
        credentials: TikTokShopCredentials,
        allow_loopback: bool,
    ) -> Result<TikTokClient, TikTokError> {
        let invalid = || TikTokError::InvalidBase(base.to_owned());
        let url = reqwest::Url::parse(base).map_err(|_| invalid())?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback && allow_loopback)) {
            return Err(invalid());
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| invalid())?;
        Ok(TikTokClient { http, base: base.trim_end_matches('/').to_owned(), credentials })
    }

    /// The detail of order `order_id`: its JSON answer and the order it describes.
    pub async fn order_detail(&self, order_id: &str) -> Result<(String, StorefrontOrder), TikTokError> {
        check_id(order_id)?;
        let body = self.call(ORDER_DETAIL_PATH, vec![("ids", order_id.to_owned())], None).await?;
        let order = transformers::order_detail(&body, order_id)?;
        Ok((body, order))
    }

    /// The refunds TikTok made on order `order_id` (in `currency`): its completed returns and
    /// cancellations (of the whole order or of some of its items).
    pub async fn refunds(&self, order_id: &str, currency: Currency) -> Result<Vec<StorefrontRefund>, TikTokError> {
        let mut refunds = self.refunds_from(RefundSource::Returns, order_id, currency).await?;
        refunds.extend(self.refunds_from(RefundSource::Cancellations, order_id, currency).await?);
        Ok(refunds)
    }

    async fn refunds_from(
        &self,
        source: RefundSource,
        order_id: &str,
        currency: Currency,
    ) -> Result<Vec<StorefrontRefund>, TikTokError> {
        check_id(order_id)?;
        let path = match source {
            RefundSource::Returns => RETURNS_SEARCH_PATH,
            RefundSource::Cancellations => CANCELLATIONS_SEARCH_PATH,
        };
        let request = serde_json::json!({ "order_ids": [order_id] }).to_string();
        let mut refunds = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_RETURN_PAGES {
            let mut query = vec![
                ("page_size", RETURNS_PAGE_SIZE.to_string()),
                ("sort_field", "create_time".to_owned()),
                ("sort_order", "ASC".to_owned()),
            ];
            if let Some(t) = &token {
                query.push(("page_token", t.clone()));
            }
            let body = self.call(path, query, Some(request.as_bytes())).await?;
            let page = transformers::refunds_page(source, &body, order_id, currency)?;
            refunds.extend(page.refunds);
            match page.next_page_token {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => return Ok(refunds),
            }
        }
        Err(TikTokError::Refused {
            status: 200,
            code: 0,
            message: format!(
                "order {order_id} has more than {} returns or cancellations",
                RETURNS_PAGE_SIZE as usize * MAX_RETURN_PAGES
            ),
        })
    }

    /// A signed request to `path` (GET, or POST of a JSON `body`) with the app's and shop's
    /// parameters and `extra`: the answer's body, or TikTok's error.
    async fn call(&self, path: &str, extra: Vec<(&str, String)>, body: Option<&[u8]>) -> Result<String, TikTokError> {
        let c = &self.credentials;
        let mut query = vec![
            ("app_key", c.app_key.clone()),
            ("shop_cipher", c.shop_cipher.clone()),
            ("timestamp", chrono::Utc::now().timestamp().to_string()),
        ];
        query.extend(extra);
        let sign = sign_request(c.app_secret.expose_secret().as_bytes(), path, &query, body.unwrap_or_default());
        query.push(("sign", sign));
        let url = format!("{}{path}", self.base);
        let request = match body {
            None => self.http.get(url),
            Some(b) => self.http.post(url).body(b.to_vec()),
        };
        let res = request
            .header("x-tts-access-token", c.access_token.expose_secret())
            .header("content-type", "application/json")
            .query(&query)
            .send()
            .await
            .map_err(|e| TikTokError::Unreachable(e.without_url().to_string()))?;
        let status = res.status();
        let mut res = res;
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| TikTokError::Unreachable(e.without_url().to_string()))? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(TikTokError::Refused {
                    status: status.as_u16(),
                    code: 0,
                    message: "answer too large".into(),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&bytes).into_owned();
        // TikTok's errors keep the envelope: {"code": 106001, "message": …, "data": null}.
        let envelope = serde_json::from_str::<serde_json::Value>(&body).ok();
        let code = envelope.as_ref().and_then(|v| v["code"].as_i64());
        if !status.is_success() || code.is_some_and(|c| c != 0) {
            let message = envelope
                .as_ref()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "no message".into());
            return Err(TikTokError::Refused { status: status.as_u16(), code: code.unwrap_or(0), message });
        }
        Ok(body)
    }
}

fn check_id(order_id: &str) -> Result<(), TikTokError> {
    if order_id.is_empty() || order_id.len() > 64 || !order_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(DetailError::Malformed(crate::events::MalformedEvent(format!("order id {order_id:?}"))).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_request_signatures_match() {
        // TikTok's "Sign your API request" example.
        let query = [("app_key", "29a39d".to_owned()), ("timestamp", "1623812664".to_owned())];
        assert_eq!(
            sign_request(b"e59af819cc", "/authorization/202309/shops", &query, b""),
            "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
        );
        // An SDK's tests (fudiwei/DotNetCore.SKIT.FlurlHttpClient.ByteDance): with a shop cipher,
        // parameters out of order, and with a body; `sign` and `access_token` are never signed.
        let query = [
            ("timestamp", "1696909648".to_owned()),
            ("shop_cipher", "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK".to_owned()),
            ("app_key", "68xu9ks5p4i8".to_owned()),
            ("access_token", "not signed".to_owned()),
            ("sign", "not signed".to_owned()),
        ];
        assert_eq!(
            sign_request(b"e59af819cc", "/event/202309/webhooks", &query, b""),
            "ed58e1b5e59865c22a7b828c1cab65007441f43cc91a6cb2f2cdc638e0995a37"
        );
        let body = br#"{"event_type":"PACKAGE_UPDATE","address":"https://partner.tiktokshop.com"}"#;
        assert_eq!(
            sign_request(b"e59af819cc", "/event/202309/webhooks", &query, body),
            "701dd6deb2389fe4c469b89bd37fc56f96a6da6afeb4d01c9077a65169752fa7"
        );
    }

    #[test]
    fn only_https_or_a_loopback_base_outside_production() {
        let creds = || TikTokShopCredentials {
            app_key: "k".into(),
            app_secret: "s".to_owned().into(),
            shop_cipher: "c".into(),
            access_token: "t".to_owned().into(),
        };
        assert!(TikTokClient::new(DEFAULT_BASE, creds(), false).is_ok());
        assert!(TikTokClient::new("http://127.0.0.1:9/", creds(), true).is_ok());
        assert!(TikTokClient::new("http://127.0.0.1:9/", creds(), false).is_err());
        assert!(TikTokClient::new("http://example.com/", creds(), true).is_err());
        assert!(TikTokClient::new("ftp://example.com/", creds(), true).is_err());
    }
}
