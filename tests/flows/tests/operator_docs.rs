//! Issue 16: the operator guide's configuration reference lists exactly the variables the
//! binaries read, with their defaults and whether they are secret (read from the binaries' own
//! argument definitions, so the document cannot drift from the code).

use std::collections::BTreeMap;

/// (default, secret) of every environment variable a subgraph reads.
fn variables_of(cmd: clap::Command, out: &mut BTreeMap<String, (String, bool)>) {
    for arg in cmd.get_arguments() {
        let Some(env) = arg.get_env() else { continue };
        let default = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>();
        let default = match default.as_slice() {
            [] => "—".to_owned(),
            [one] if one.is_empty() => "(empty)".to_owned(),
            many => many.join(","),
        };
        out.insert(env.to_string_lossy().into_owned(), (default, arg.is_hide_env_values_set()));
    }
}

fn read_by_binaries() -> BTreeMap<String, (String, bool)> {
    let mut vars = BTreeMap::new();
    variables_of(<payments::config::Config as clap::Args>::augment_args(clap::Command::new("payments")), &mut vars);
    variables_of(<murchases::config::Config as clap::Args>::augment_args(clap::Command::new("murchases")), &mut vars);
    // Read by the logging set-up itself (tracing's filter and the format switch).
    vars.insert("RUST_LOG".into(), ("info".into(), false));
    vars.insert("LOG_FORMAT".into(), ("text".into(), false));
    vars
}

/// The rows of the guide's configuration table: `| `VAR` | `default` | yes/no | meaning |`.
fn documented() -> BTreeMap<String, (String, bool)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operator.md");
    let text = std::fs::read_to_string(path).expect("docs/operator.md");
    let start = text.find("<!-- configuration:start -->").expect("table start marker");
    let end = text.find("<!-- configuration:end -->").expect("table end marker");
    let mut rows = BTreeMap::new();
    for line in text[start..end].lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let name = cells[0].trim_matches('`').to_owned();
        let default = cells[1].trim_matches('`').to_owned();
        let secret = match cells[2] {
            "yes" => true,
            "no" => false,
            other => panic!("{name}: secret must be yes or no, got {other:?}"),
        };
        assert!(rows.insert(name.clone(), (default, secret)).is_none(), "{name} is listed twice");
    }
    rows
}

#[test]
fn the_configuration_reference_lists_exactly_what_the_binaries_read() {
    let actual = read_by_binaries();
    let doc = documented();
    let table: String =
        actual.iter().map(|(k, (d, s))| format!("| `{k}` | `{d}` | {} |\n", if *s { "yes" } else { "no" })).collect();
    assert_eq!(doc, actual, "docs/operator.md must list exactly these (name, default, secret):\n{table}");
}
