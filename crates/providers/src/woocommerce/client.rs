//! The WooCommerce REST API v3 client (`<site>/wp-json/wc/v3/…`, HTTP Basic with the store's
//! consumer key and secret, which WooCommerce accepts over HTTPS only; plain HTTP is allowed for
//! a loopback site, i.e. tests and local development, never in production). A store's name must
//! resolve to public addresses (private, link-local and shared ranges are refused, and loopback
//! outside development), so a registered URL cannot reach internal services. Two reads:
//! - `GET /orders/<id>/refunds`: a refund's lines, which the order webhook does not carry;
//! - `GET /orders?after=…&before=…&dates_are_gmt=true&page=N&per_page=100`: the backfill of orders
//!   created in a window, page by page (`X-WP-TotalPages` says how many).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::money::Currency;
use domain::storefront::StorefrontRefund;
use secrecy::{ExposeSecret as _, SecretString};

use super::transformers::{self, OrderDelivery};

/// Orders per page of the backfill (WordPress's maximum).
pub const PAGE_SIZE: u32 = 100;
/// Whether a store may be reached at `ip`: a public address, or loopback where allowed.
fn public_or_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
                && v6.to_ipv4_mapped().is_none_or(|v4| public_or_allowed(IpAddr::V4(v4), allow_loopback))
        }
    }
}

/// Resolves a store's name to its public addresses only.
struct PublicOnly {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (host, allow_loopback) = (name.as_str().to_owned(), self.allow_loopback);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                found.into_iter().filter(|a| public_or_allowed(a.ip(), allow_loopback)).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Pages of one order's refunds at most.
pub const MAX_REFUND_PAGES: u32 = 10;

/// `X-WP-TotalPages`: how many pages the list has (1 when absent).
fn total_pages(headers: &reqwest::header::HeaderMap) -> u32 {
    headers.get("x-wp-totalpages").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(1)
}

/// The largest answer read from a store.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WooError {
    #[error("WooCommerce site {0:?} is not an https URL (http only on a loopback address)")]
    InvalidSite(String),
    #[error("WooCommerce API unreachable: {0}")]
    Unreachable(String),
    #[error("WooCommerce API answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error(transparent)]
    Malformed(#[from] crate::events::MalformedEvent),
}

impl WooError {
    /// Whether trying again later may succeed (the network, the store's own errors, rate
    /// limits), rather than needing an admin (bad credentials, an answer we cannot read).
    pub fn is_transient(&self) -> bool {
        match self {
            WooError::Unreachable(_) => true,
            WooError::Refused { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            WooError::InvalidSite(_) | WooError::Malformed(_) => false,
        }
    }
}

pub struct WooClient {
    http: reqwest::Client,
    /// `<site>/wp-json/wc/v3`
    api: String,
    key: String,
    secret: SecretString,
}

impl std::fmt::Debug for WooClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooClient").field("api", &self.api).field("key", &self.key).finish_non_exhaustive()
    }
}

impl WooClient {
    /// A client of the site at `site` (its home URL, as `X-WC-Webhook-Source` gives it). Plain
    /// HTTP is allowed only to a loopback site and only when `allow_loopback` (not in production).
    pub fn new(site: &str, key: String, secret: SecretString, allow_loopback: bool) -> Result<WooClient, WooError> {
        let invalid = || WooError::InvalidSite(site.to_owned());
        let url = reqwest::Url::parse(site).map_err(|_| invalid())?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback && allow_loopback))
            || url.host_str().is_none()
        {
            return Err(invalid());
        }
        // A store is on the internet: an address of our own networks (a literal one, or one its
        // name resolves to) is refused, so a registered URL cannot reach internal services.
        if let Ok(ip) = url.host_str().unwrap_or_default().trim_matches(['[', ']']).parse::<IpAddr>()
            && !public_or_allowed(ip, allow_loopback)
        {
            return Err(invalid());
        }
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| invalid())?;
        Ok(WooClient { http, api: format!("{}/wp-json/wc/v3", site.trim_end_matches('/')), key, secret })
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(String, reqwest::header::HeaderMap), WooError> {
        let res = self
            .http
            .get(format!("{}{path}", self.api))
            .basic_auth(&self.key, Some(self.secret.expose_secret()))
            .query(query)
            .send()
            .await
            .map_err(|e| WooError::Unreachable(e.without_url().to_string()))?;
        let status = res.status();
        let headers = res.headers().clone();
        // At most MAX_BODY of an answer is read (a page of 100 orders is well below it).
        let mut res = res;
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| WooError::Unreachable(e.without_url().to_string()))? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(WooError::Refused { status: status.as_u16(), message: "answer too large".into() });
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            // WooCommerce's error body: {"code": "woocommerce_rest_cannot_view", "message": …}.
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "no error code".into());
            return Err(WooError::Refused { status: status.as_u16(), message });
        }
        Ok((body, headers))
    }

    /// The refunds of order `order_id` (in the order's `currency`), with their lines.
    pub async fn refunds(&self, order_id: &str, currency: Currency) -> Result<Vec<StorefrontRefund>, WooError> {
        if !order_id.bytes().all(|b| b.is_ascii_digit()) || order_id.is_empty() {
            return Err(WooError::Malformed(crate::events::MalformedEvent(format!("order id {order_id:?}"))));
        }
        let mut all = Vec::new();
        for page in 1..=MAX_REFUND_PAGES {
            let query = [("per_page", PAGE_SIZE.to_string()), ("page", page.to_string())];
            let (body, headers) = self.get(&format!("/orders/{order_id}/refunds"), &query).await?;
            all.extend(transformers::refunds(order_id, currency, &body)?);
            if page >= total_pages(&headers) {
                return Ok(all);
            }
        }
        // More refunds than any order has: a partial list would under-refund, so none.
        Err(WooError::Refused { status: 200, message: format!("order {order_id} lists too many refunds") })
    }

    /// Page `page` (from 1) of the orders created in [`after`, `before`): each order's JSON and
    /// what it says, and the number of pages.
    pub async fn orders(
        &self,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
        page: u32,
    ) -> Result<(Vec<(String, OrderDelivery)>, u32), WooError> {
        let format = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
        let query = [
            ("after", format(after)),
            ("before", format(before)),
            ("dates_are_gmt", "true".to_owned()),
            ("orderby", "date".to_owned()),
            ("order", "asc".to_owned()),
            ("page", page.to_string()),
            ("per_page", PAGE_SIZE.to_string()),
        ];
        let (body, headers) = self.get("/orders", &query).await?;
        Ok((transformers::orders(&body)?, total_pages(&headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_stores_are_reached() {
        let key = || SecretString::from("cs".to_owned());
        assert!(WooClient::new("https://shop.example", "ck".into(), key(), false).is_ok());
        assert!(WooClient::new("http://shop.example", "ck".into(), key(), true).is_err(), "plain HTTP");
        assert!(WooClient::new("http://127.0.0.1:8080", "ck".into(), key(), true).is_ok(), "loopback in tests");
        assert!(WooClient::new("http://127.0.0.1:8080", "ck".into(), key(), false).is_err(), "not in production");
        for internal in [
            "https://10.0.0.5",
            "https://192.168.1.1",
            "https://169.254.169.254",
            "https://[fd00::1]",
            "https://100.64.0.1",
        ] {
            assert!(WooClient::new(internal, "ck".into(), key(), true).is_err(), "{internal}");
        }
        assert!(public_or_allowed("93.184.216.34".parse().expect("ip"), false));
        assert!(!public_or_allowed("::ffff:10.0.0.1".parse().expect("ip"), false));
    }
}
