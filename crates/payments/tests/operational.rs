//! The subgraph binds a random port and answers health, readiness and metrics over HTTP, on
//! SQLite and PostgreSQL.

use payments::startup::{AppState, Application};
use service_core::testing::TestDb;

#[tokio::test]
async fn health_ready_and_metrics_over_http() {
    for t in TestDb::all().await {
        let app = Application::bind("127.0.0.1:0".parse().expect("addr"), AppState { db: t.conn.clone() })
            .await
            .expect("bind");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        tokio::spawn(app.run());
        let client = reqwest::Client::new();

        let health = client.get(format!("{base}/health")).send().await.expect("health");
        assert_eq!(health.status(), 200);
        let body: serde_json::Value = health.json().await.expect("json");
        assert_eq!(body["service"], "payments");

        let ready = client.get(format!("{base}/ready")).send().await.expect("ready");
        assert_eq!(ready.status(), 200, "{:?}", t.backend);

        let metrics = client.get(format!("{base}/metrics")).send().await.expect("metrics");
        assert_eq!(metrics.status(), 200);
        let text = metrics.text().await.expect("text");
        assert!(text.contains("http_requests_total"), "metrics exposes request counters: {text}");

        // A closed database makes the service unready, not dead.
        t.conn.clone().close().await.expect("close");
        let ready = client.get(format!("{base}/ready")).send().await.expect("ready");
        assert_eq!(ready.status(), 503);
        assert_eq!(client.get(format!("{base}/health")).send().await.expect("health").status(), 200);
    }
}
