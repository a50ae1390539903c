//! Invariants of ARCHITECTURE.md that a test holds: the dependency arrows between the workspace
//! crates point toward `hookflow-core`, and `docs/nodes.md` has one section per registered node
//! type, and no other type section.

use std::collections::BTreeSet;
use std::fs;

use hookflow_core::nodes::NODE_TYPES;
use toml::{Table, Value};

use crate::root;

/// Each workspace crate and the workspace crates it may depend on (in any dependency table).
const ARROWS: &[(&str, &[&str])] = &[
    ("hookflow-js", &[]),
    ("hookflow-core", &["hookflow-js"]),
    ("hookflow-store", &[]),
    ("hookflow-runtime", &["hookflow-core", "hookflow-store"]),
    ("hookflow-server", &["hookflow-core", "hookflow-runtime", "hookflow-store"]),
    ("hookflow", &["hookflow-core", "hookflow-runtime", "hookflow-server", "hookflow-store"]),
];

/// The binary: nothing depends on it.
const BINARY: &str = "hookflow";
/// The HTTP layer: only the binary depends on it.
const SERVER: &str = "hookflow-server";

/// The tables of a manifest that name dependencies.
const DEPENDENCY_TABLES: &[&str] = &["dependencies", "dev-dependencies", "build-dependencies"];

/// A crate's manifest, as far as the arrows go.
struct Manifest {
    name: String,
    /// Each dependency with the table it is in (`[dev-dependencies]`, ...).
    dependencies: Vec<(String, String)>,
}

/// Reads `crates/*/Cargo.toml`.
fn manifests() -> Vec<Manifest> {
    let mut manifests = Vec::new();
    for entry in fs::read_dir(root().join("crates")).expect("crates/") {
        let path = entry.expect("entry").path().join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&path) else { continue };
        let manifest: Table = text.parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = manifest["package"]["name"].as_str().expect("package.name").to_owned();
        let mut dependencies = Vec::new();
        let mut scopes = vec![(String::new(), &manifest)];
        for (cfg, scope) in manifest.get("target").and_then(Value::as_table).into_iter().flatten() {
            scopes.extend(scope.as_table().map(|t| (format!("target.{cfg}."), t)));
        }
        for (prefix, scope) in scopes {
            for table in DEPENDENCY_TABLES {
                let Some(deps) = scope.get(*table).and_then(Value::as_table) else { continue };
                for (key, spec) in deps {
                    // A renamed dependency names its crate in `package`.
                    let package = spec.get("package").and_then(Value::as_str).unwrap_or(key);
                    dependencies.push((package.to_owned(), format!("[{prefix}{table}]")));
                }
            }
        }
        manifests.push(Manifest { name, dependencies });
    }
    manifests
}

/// The rule that an arrow `from` → `to` between workspace crates breaks, if any.
fn broken_rule(from: &str, to: &str) -> Option<String> {
    if to == BINARY {
        return Some(format!("nothing depends on `{BINARY}`, the binary"));
    }
    if to == SERVER && from != BINARY {
        return Some(format!("only `{BINARY}` depends on `{SERVER}`"));
    }
    let (_, allowed) = ARROWS.iter().find(|(name, _)| *name == from)?;
    if allowed.contains(&to) {
        return None;
    }
    let may = if allowed.is_empty() {
        "no workspace crate".to_owned()
    } else {
        allowed.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ") + " only"
    };
    Some(format!("arrows point toward `hookflow-core`: `{from}` depends on {may}"))
}

/// Every wrong arrow and every crate the table of arrows does not know, one line each.
fn violations(manifests: &[Manifest]) -> Vec<String> {
    let crates: BTreeSet<&str> = manifests.iter().map(|m| m.name.as_str()).collect();
    let known: BTreeSet<&str> = ARROWS.iter().map(|(name, _)| *name).collect();
    let mut found = Vec::new();
    for new in crates.difference(&known) {
        found.push(format!(
            "crate `{new}` is not in the table of arrows (tests/it/architecture.rs): add it with \
             the workspace crates it may depend on, and to ARCHITECTURE.md"
        ));
    }
    for gone in known.difference(&crates) {
        found.push(format!("the table of arrows names `{gone}`, which is no crate of crates/"));
    }
    for manifest in manifests {
        for (dependency, table) in &manifest.dependencies {
            if !crates.contains(dependency.as_str()) {
                continue;
            }
            if let Some(rule) = broken_rule(&manifest.name, dependency) {
                found.push(format!(
                    "`{}` depends on `{dependency}` in {table}, which breaks the rule: {rule}",
                    manifest.name
                ));
            }
        }
    }
    found
}

#[test]
fn dependency_arrows_point_toward_core() {
    let found = violations(&manifests());
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn wrong_arrows_and_unknown_crates_are_named() {
    let manifest = |name: &str, deps: &[&str]| Manifest {
        name: name.to_owned(),
        dependencies: deps.iter().map(|d| ((*d).to_owned(), "[dev-dependencies]".into())).collect(),
    };
    let mut manifests = vec![
        manifest("hookflow-js", &[]),
        manifest("hookflow-core", &["serde", "hookflow-js", "hookflow-runtime"]),
        manifest("hookflow-store", &[]),
        manifest("hookflow-runtime", &["hookflow-server"]),
        manifest("hookflow-server", &["hookflow"]),
        manifest("hookflow", &["hookflow-server"]),
    ];
    manifests.push(manifest("hookflow-extra", &[]));
    assert_eq!(
        violations(&manifests),
        [
            "crate `hookflow-extra` is not in the table of arrows (tests/it/architecture.rs): add \
             it with the workspace crates it may depend on, and to ARCHITECTURE.md",
            "`hookflow-core` depends on `hookflow-runtime` in [dev-dependencies], which breaks \
             the rule: arrows point toward `hookflow-core`: `hookflow-core` depends on \
             `hookflow-js` only",
            "`hookflow-runtime` depends on `hookflow-server` in [dev-dependencies], which breaks \
             the rule: only `hookflow` depends on `hookflow-server`",
            "`hookflow-server` depends on `hookflow` in [dev-dependencies], which breaks the \
             rule: nothing depends on `hookflow`, the binary",
        ]
    );
}

/// The node types `docs/nodes.md` has a section for: its "## `type`" headings outside code
/// blocks.
fn documented_node_types(markdown: &str) -> Vec<&str> {
    let mut in_code = false;
    let mut types = Vec::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code
            && let Some(name) = line.strip_prefix("## `").and_then(|l| l.strip_suffix('`'))
        {
            types.push(name);
        }
    }
    types
}

#[test]
fn the_node_reference_has_a_section_per_node_type() {
    let markdown = fs::read_to_string(root().join("docs/nodes.md")).expect("docs/nodes.md");
    let documented = documented_node_types(&markdown);
    let registered: Vec<&str> = NODE_TYPES.iter().map(|t| t.name).collect();
    let missing: Vec<&&str> = registered.iter().filter(|t| !documented.contains(t)).collect();
    let unknown: Vec<&&str> = documented.iter().filter(|t| !registered.contains(t)).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/nodes.md needs a \"## `type`\" section for each node type: missing {missing:?}, \
         sections for no registered type {unknown:?}"
    );
    let mut once = documented.clone();
    once.sort_unstable();
    once.dedup();
    assert_eq!(once.len(), documented.len(), "docs/nodes.md has a section twice: {documented:?}");
}
