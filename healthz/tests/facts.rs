//! Facts written in more than one place: `healthz/Cargo.toml`'s
//! `[features]` is the source of the feature list, which the crate docs
//! generate from its `##` lines and the README repeats in its tables; and
//! the links of the READMEs and doc comments, which crates.io and docs.rs
//! show away from the repository.

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

/// The targets of the links of a Markdown text outside its code blocks:
/// `[text](target)`, images, `[label]: target` and HTML `href`/`src`.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code_block = false;
    for line in markdown.lines().map(str::trim_start) {
        if line.starts_with("```") {
            in_code_block = !in_code_block;
            continue;
        }
        if in_code_block {
            continue;
        }
        let inline = line.split("](").skip(1).map(|rest| rest.split(')').next());
        let html = ["href=\"", "src=\""]
            .into_iter()
            .flat_map(|attribute| line.split(attribute).skip(1))
            .map(|rest| rest.split('"').next());
        let definition = line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("]:"))
            .map(|(_, rest)| rest.split_whitespace().next());
        targets.extend(
            inline
                .chain(html)
                .chain(definition)
                .flatten()
                .map(str::to_owned),
        );
    }
    targets
}

/// A link that leaves the page for the web or stays on it: it works on
/// crates.io and docs.rs as on the repository's page.
fn works_anywhere(target: &str) -> bool {
    ["https://", "http://", "mailto:", "#"]
        .iter()
        .any(|prefix| target.starts_with(prefix))
}

/// The doc comments of the Rust files under `directory`, each file's as
/// one Markdown text.
fn doc_comments(directory: &Path, docs: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()));
    for path in entries.map(|entry| entry.unwrap().path()) {
        if path.is_dir() {
            doc_comments(&path, docs);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let markdown: Vec<&str> = text
                .lines()
                .map(str::trim_start)
                .filter_map(|line| {
                    line.strip_prefix("//!")
                        .or_else(|| line.strip_prefix("///"))
                })
                .collect();
            docs.push((path.display().to_string(), markdown.join("\n")));
        }
    }
}

/// crates.io shows the READMEs and docs.rs the doc comments away from the
/// repository, where a relative link (`CONTRIBUTING.md`, `examples/…`)
/// leads nowhere: link to `https://github.com/healthz-rs/healthz/blob/main/…`.
#[test]
fn no_link_works_only_in_the_repository() {
    let mut broken = Vec::new();
    for readme in ["README.md", "../healthz-derive/README.md"] {
        let targets = link_targets(&read(readme));
        assert!(!targets.is_empty(), "{readme}: no links parsed");
        let relative = targets.into_iter().filter(|target| !works_anywhere(target));
        broken.extend(relative.map(|target| format!("{readme}: {target}")));
    }
    // In doc comments a target without a scheme is an intra-doc link
    // (`Probes::drain`, `self`); a path or a file name is not.
    let mut docs = Vec::new();
    for source in ["src", "../healthz-derive/src"] {
        doc_comments(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(source),
            &mut docs,
        );
    }
    for (file, markdown) in docs {
        let file_like = |target: &String| {
            target.contains('/')
                || [".md", ".rs", ".toml", ".yaml"]
                    .iter()
                    .any(|ext| target.ends_with(ext))
        };
        let relative = link_targets(&markdown)
            .into_iter()
            .filter(|target| !works_anywhere(target) && file_like(target));
        broken.extend(relative.map(|target| format!("{file}: {target}")));
    }
    assert!(
        broken.is_empty(),
        "links that only work in the repository (make them \
         https://github.com/healthz-rs/healthz/blob/main/… links): {broken:#?}"
    );
}
