//! Facts written in more than one place: `healthz/Cargo.toml`'s
//! `[features]` is the source of the feature list, which the crate docs
//! generate from its `##` lines and the README repeats in its tables.

use std::collections::BTreeSet;
use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The features of `[features]` (without `default`), each with whether a
/// `##` line documents it.
fn cargo_features(manifest: &str) -> Vec<(String, bool)> {
    let mut features = Vec::new();
    let mut in_features = false;
    let mut documented = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
            continue;
        }
        if !in_features {
            continue;
        }
        if line.starts_with("##") {
            documented = true;
        } else if let Some((name, _)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            let name = name.trim().trim_matches('"');
            if name != "default" {
                features.push((name.to_owned(), documented));
            }
            documented = false;
        }
    }
    features
}

/// Every `` `name` `` in the first column of the first table after the
/// line `heading`.
fn first_column_names(markdown: &str, heading: &str) -> BTreeSet<String> {
    let rows = markdown
        .lines()
        .skip_while(|line| line.trim() != heading)
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2);
    let mut names = BTreeSet::new();
    for row in rows {
        let first_cell = row.trim_matches('|').split('|').next().unwrap_or_default();
        names.extend(first_cell.split('`').skip(1).step_by(2).map(str::to_owned));
    }
    names
}

fn feature_names() -> BTreeSet<String> {
    cargo_features(&read("Cargo.toml"))
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn every_feature_is_documented_in_cargo_toml() {
    let features = cargo_features(&read("Cargo.toml"));
    assert!(features.len() > 10, "no features parsed: {features:?}");
    let undocumented: Vec<&str> = features
        .iter()
        .filter(|(_, documented)| !documented)
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        undocumented.is_empty(),
        "features without a `##` line in healthz/Cargo.toml, so missing from the crate docs: \
         {undocumented:?}"
    );
}

#[test]
fn the_readme_feature_table_lists_the_features_of_cargo_toml() {
    let features = feature_names();
    let readme = first_column_names(&read("../README.md"), "## Feature flags");
    let missing: Vec<&String> = features.difference(&readme).collect();
    let unknown: Vec<&String> = readme.difference(&features).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "README.md's feature table: missing {missing:?}, not features of healthz {unknown:?}"
    );
}

#[test]
fn the_readme_checks_table_names_only_features() {
    let features = feature_names();
    let named = first_column_names(&read("../README.md"), "## Checks");
    assert!(named.len() > 5, "no checks table found: {named:?}");
    let unknown: Vec<&String> = named.difference(&features).collect();
    assert!(
        unknown.is_empty(),
        "README.md's checks table names features healthz does not have: {unknown:?}"
    );
}
