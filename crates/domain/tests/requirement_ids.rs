//! The requirement ids (`R-…`) that code, tests and documents cite are defined in
//! `docs/product.md`, and no file of the repository points outside it for them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every text file of the repository worth reading (sources, docs, configuration).
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | ".git" | "data" | "fixtures") {
                files(&path, out);
            }
        } else if ["rs", "md", "toml", "yml", "yaml", "graphql", "sh"]
            .iter()
            .any(|ext| name.ends_with(&format!(".{ext}")))
        {
            out.push(path);
        }
    }
}

/// The `R-AREA-n` ids in `text`.
fn ids(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while let Some(at) = text.get(i..).and_then(|rest| rest.find("R-")).map(|p| p + i) {
        let mut end = at + 2;
        while end < bytes.len() && bytes[end].is_ascii_uppercase() {
            end += 1;
        }
        let area_end = end;
        if area_end > at + 2 && bytes.get(end) == Some(&b'-') {
            end += 1;
            let digits = end;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            let boundary_before = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
            if end > digits && boundary_before {
                found.insert(text[at..end].to_owned());
            }
        }
        i = at + 2;
    }
    found
}

#[test]
fn every_cited_requirement_id_is_defined_in_the_product_document() {
    let root = repo_root();
    let product = std::fs::read_to_string(root.join("docs/product.md")).expect("docs/product.md");
    let defined: BTreeSet<String> = product
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- **"))
        .filter_map(|l| l.split("**").next())
        .map(str::to_owned)
        .collect();
    let mut all = Vec::new();
    files(&root, &mut all);
    assert!(all.len() > 50, "the repository was read ({} files)", all.len());
    let mut missing = Vec::new();
    for path in &all {
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        for id in ids(&text) {
            if !defined.contains(&id) {
                missing.push(format!("{id} in {}", path.strip_prefix(&root).unwrap_or(path).display()));
            }
        }
    }
    assert!(missing.is_empty(), "cited but not defined in docs/product.md: {missing:?}");
    assert!(defined.contains("R-COMM-6") && defined.contains("R-LEDGER-1"), "{defined:?}");
}

#[test]
fn no_file_points_outside_the_repository_for_the_product() {
    let root = repo_root();
    let mut all = Vec::new();
    files(&root, &mut all);
    let outside: Vec<String> = all
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "requirement_ids.rs"))
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("../shared/")))
        .map(|p| p.strip_prefix(&root).unwrap_or(p).display().to_string())
        .collect();
    assert!(outside.is_empty(), "files referring to a path outside the repository: {outside:?}");
}

#[test]
fn ids_are_read_whole() {
    let found = ids("see R-COMM-6, (R-REF-1) and XR-NOPE-1 but not R-x-1 or R-A- or R-");
    assert_eq!(found, BTreeSet::from(["R-COMM-6".to_owned(), "R-REF-1".to_owned()]));
}
