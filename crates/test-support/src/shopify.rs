//! Shopify deliveries for tests: the fixtures of `tests/fixtures/shopify/`, signed as Shopify
//! signs them (base64 HMAC-SHA256 of the raw body with the app's secret).

/// The Shopify app secret the test configurations use (`SHOPIFY_WEBHOOK_SECRET`).
pub const TEST_SHOPIFY_SECRET: &str = "shpss_test_secret";

/// A fixture of `tests/fixtures/shopify/` as JSON.
pub fn fixture(name: &str) -> serde_json::Value {
    crate::fixture_json("shopify", name)
}

/// One delivery: what Shopify would send.
pub struct Delivery<'a> {
    pub shop: &'a str,
    pub topic: &'a str,
    pub webhook_id: &'a str,
    pub body: String,
    /// The key it is signed with (the test secret unless a test says otherwise).
    pub secret: &'a str,
}

impl<'a> Delivery<'a> {
    pub fn new(shop: &'a str, topic: &'a str, webhook_id: &'a str, body: &serde_json::Value) -> Self {
        Delivery { shop, topic, webhook_id, body: body.to_string(), secret: TEST_SHOPIFY_SECRET }
    }

    /// Posts it to `<base>/webhooks/shopify`; returns the status and the JSON answer.
    pub async fn post(&self, http: &reqwest::Client, base: &str) -> (u16, serde_json::Value) {
        let signature = providers::shopify::webhook::sign(self.secret.as_bytes(), self.body.as_bytes());
        let res = http
            .post(format!("{base}/webhooks/shopify"))
            .header("X-Shopify-Hmac-Sha256", signature)
            .header("X-Shopify-Topic", self.topic)
            .header("X-Shopify-Shop-Domain", self.shop)
            .header("X-Shopify-Webhook-Id", self.webhook_id)
            .header("X-Shopify-Event-Id", format!("evt-{}", self.webhook_id))
            .header("X-Shopify-API-Version", "2025-10")
            .header("content-type", "application/json")
            .body(self.body.clone())
            .send()
            .await
            .expect("shopify webhook");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }
}
