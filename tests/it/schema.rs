//! `schemas/flow.schema.json` and `schemas/cases.schema.json` are generated from the code: they
//! must be up to date, every example flow and cases file must conform, and the flow schema must
//! refuse what the compiler refuses structurally.

use hookflow_core::cases::cases_schema;
use hookflow_core::schema::flow_schema;
use serde_json::{Value, json};

use crate::{golden, root};

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&flow_schema()).expect("the flow schema is a valid 2020-12 schema")
}

#[test]
fn schema_file_is_up_to_date() {
    let text = serde_json::to_string_pretty(&flow_schema()).expect("schema serializes") + "\n";
    golden::check(&root().join("schemas/flow.schema.json"), &text);
}

#[test]
fn example_flows_conform() {
    let validator = validator();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("flows")).expect("flows/") {
        let path = entry.expect("entry").path();
        if !hookflow_core::flowset::is_flow_file(&path) {
            continue;
        }
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        assert_eq!(
            doc["$schema"],
            "../schemas/flow.schema.json",
            "{} references the schema",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} example flows");
}

#[test]
fn schema_refuses_structural_mistakes() {
    let validator = validator();
    let hook = json!({ "id": "h", "type": "webhook", "suffix": "/x", "auth": { "type": "none" } });
    let ok = json!({ "id": "f", "name": "F", "nodes": [hook.clone()] });
    assert!(validator.is_valid(&ok));
    let bad = [
        json!({ "id": "f", "name": "F", "nodes": [hook.clone()], "colour": 1 }),
        json!({ "id": "f", "name": "F", "nodes": [{ "id": "h", "type": "mapp", "fields": {} }] }),
        json!({ "id": "f", "name": "F", "nodes": [{ "id": "m", "type": "map", "fields": {}, "extra": 1 }] }),
        json!({ "id": "f", "name": "F", "nodes": [{ "id": "h", "type": "webhook", "suffix": "/x" }] }),
        json!({ "id": "f", "name": "F", "nodes": [hook.clone()], "edges": [{ "from": "h" }] }),
        json!({ "id": "f", "name": "F", "nodes": [{ "id": "b", "type": "branch", "default": "x",
                 "cases": [{ "output": "y", "when": { "path": "$.a", "op": "like", "value": 1 } }] }] }),
    ];
    for doc in bad {
        assert!(!validator.is_valid(&doc), "accepted: {doc}");
    }
}

#[test]
fn cases_schema_file_is_up_to_date() {
    let text = serde_json::to_string_pretty(&cases_schema()).expect("schema serializes") + "\n";
    golden::check(&root().join("schemas/cases.schema.json"), &text);
}

#[test]
fn example_cases_files_conform() {
    let validator = jsonschema::draft202012::new(&cases_schema()).expect("a valid 2020-12 schema");
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("flows")).expect("flows/") {
        let path = entry.expect("entry").path();
        if !path.to_string_lossy().ends_with(".cases.json") {
            continue;
        }
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        assert_eq!(doc["$schema"], "../schemas/cases.schema.json", "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} cases files");
    let bad = json!({ "flow": "f", "cases": [ { "name": "n", "expect": { "status": 200,
        "headers": { "a": { "regexp": "x" } } } } ] });
    assert!(!validator.is_valid(&bad));
}
