//! R-API-3: `schema/supergraph.graphql` is what Apollo's composition (@apollo/composition, run by
//! router/compose.mjs from supergraph.yaml) makes of the checked-in subgraph schemas.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{ensure_router_deps, repo_root};
use test_support::TempDir;

fn compose(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let root = repo_root();
    let mut cmd = Command::new("node");
    cmd.arg(root.join("router/compose.mjs")).args(args).current_dir(&root);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run node router/compose.mjs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn checked_in_supergraph_matches_a_fresh_composition() {
    ensure_router_deps();
    let out = compose(&["--check"], &[]);
    assert!(
        out.status.success(),
        "schema/supergraph.graphql is stale or composition failed: run `node router/compose.mjs` \
         (after scripts/export-schema when a subgraph changed) and commit the result.\n{}",
        text(&out)
    );
}

#[test]
fn the_check_detects_drift_and_composition_errors() {
    ensure_router_deps();
    let root = repo_root();
    let tmp = TempDir::new("mallnline-compose");

    // A supergraph that differs from the composition by one line.
    let stale = tmp.path().join("stale.graphql");
    let current = std::fs::read_to_string(root.join("schema/supergraph.graphql")).expect("checked-in supergraph");
    std::fs::write(&stale, format!("{current}type Drift {{ id: ID }}\n")).expect("write stale");
    let out = compose(&["--check"], &[("SUPERGRAPH_OUT", &stale)]);
    assert!(!out.status.success(), "a stale supergraph must fail the check:\n{}", text(&out));
    assert!(text(&out).contains("out of date"), "{}", text(&out));

    // Two subgraphs that disagree on a field type do not compose.
    let a = tmp.path().join("a.graphql");
    let b = tmp.path().join("b.graphql");
    let link =
        "extend schema @link(url: \"https://specs.apollo.dev/federation/v2.5\", import: [\"@key\", \"@shareable\"])\n";
    std::fs::write(
        &a,
        format!("{link}type Query {{ a: T }}\ntype T @key(fields: \"id\") @shareable {{ id: ID! n: Int }}\n"),
    )
    .expect("write a");
    std::fs::write(
        &b,
        format!("{link}type Query {{ b: T }}\ntype T @key(fields: \"id\") @shareable {{ id: ID! n: String }}\n"),
    )
    .expect("write b");
    let installed = std::fs::read_to_string(root.join("supergraph.yaml")).expect("supergraph.yaml");
    let version = installed.lines().find(|l| l.starts_with("federation_version:")).expect("federation_version line");
    let config = tmp.path().join("supergraph.yaml");
    std::fs::write(
        &config,
        format!(
            "{version}\nsubgraphs:\n  a:\n    routing_url: http://a/graphql\n    schema:\n      file: ./a.graphql\n  \
             b:\n    routing_url: http://b/graphql\n    schema:\n      file: ./b.graphql\n"
        ),
    )
    .expect("write config");
    let out = compose(&["--check"], &[("SUPERGRAPH_CONFIG", &config), ("SUPERGRAPH_OUT", &stale)]);
    assert!(!out.status.success(), "incompatible subgraphs must fail composition:\n{}", text(&out));
    assert!(text(&out).contains("composition error"), "{}", text(&out));
}
