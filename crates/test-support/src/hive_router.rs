//! Hive Router (crate `hive-router`) for the end-to-end tests and the benchmark: where its binary
//! is, and its configuration for one run (`router/hive-router.yaml` with the supergraph's path,
//! the run's port and its subgraphs' URLs).

use std::path::{Path, PathBuf};

/// The version the repository is tested and measured with (`.ci/run` installs it).
pub const VERSION: &str = "0.2.0";

/// The Hive Router binary: `HIVE_ROUTER_BIN`, else `hive_router` on the `PATH` (where
/// `cargo install hive-router` puts it).
pub fn binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("HIVE_ROUTER_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("hive_router")).find(|p| p.is_file())
}

/// The configuration of a run on `port` in front of the given subgraph GraphQL URLs, from the
/// repository's `router/hive-router.yaml` (under `root`): the same settings, with the absolute
/// supergraph path, that port, `log_level`, and `override_subgraph_urls`.
pub fn config(
    root: &Path,
    port: u16,
    payments_url: &str,
    murchases_url: &str,
    log_level: &str,
) -> std::io::Result<String> {
    let base = std::fs::read_to_string(root.join("router/hive-router.yaml"))?;
    let supergraph = root.join("schema/supergraph.graphql");
    let mut config = String::new();
    for line in base.lines() {
        let line = match line.trim_start() {
            l if l.starts_with("path: ") => format!("  path: {}", supergraph.display()),
            l if l.starts_with("port: ") => format!("  port: {port}"),
            l if l.starts_with("level: ") => format!("  level: {log_level}"),
            _ => line.to_owned(),
        };
        config.push_str(&line);
        config.push('\n');
    }
    config.push_str(&format!(
        "override_subgraph_urls:\n  subgraphs:\n    payments:\n      url: {payments_url}\n    murchases:\n      url: {murchases_url}\n"
    ));
    Ok(config)
}

/// The `Authorization` header of each request a stand-in subgraph received (`None`: none sent).
pub type SeenAuthorization = std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>;

/// A stand-in subgraph for router tests: `POST /graphql` answers `answer` and keeps each
/// request's `Authorization`. Returns its GraphQL URL; it stops with the test's runtime.
pub async fn stub_subgraph(answer: serde_json::Value) -> (String, SeenAuthorization) {
    let seen = SeenAuthorization::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/graphql",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let (kept, answer) = (kept.clone(), answer.clone());
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(auth);
                axum::Json(answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let url = format!("http://{}/graphql", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_run_configuration_keeps_the_repository_settings() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let c = super::config(&root, 4555, "http://127.0.0.1:1/graphql", "http://127.0.0.1:2/graphql", "error")
            .expect("router/hive-router.yaml");
        for expected in [
            "  port: 4555",
            "  level: error",
            "named: Authorization",
            "error_masking:\n  enabled: false",
            "introspection: false",
            "    payments:\n      url: http://127.0.0.1:1/graphql",
            "    murchases:\n      url: http://127.0.0.1:2/graphql",
        ] {
            assert!(c.contains(expected), "{expected:?} in\n{c}");
        }
        assert!(c.contains(&format!("  path: {}", root.join("schema/supergraph.graphql").display())), "{c}");
    }

    #[test]
    fn ci_installs_the_version_the_tests_expect() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
        assert!(ci.contains(&format!("HIVE_ROUTER_VERSION={}", super::VERSION)), ".ci/run installs another version");
        let compose = std::fs::read_to_string(root.join("docker-compose.yml")).expect("docker-compose.yml");
        assert!(
            compose.contains(&format!("ghcr.io/graphql-hive/router:{}", super::VERSION)),
            "docker-compose.yml runs another version"
        );
    }

    use std::path::Path;
}
