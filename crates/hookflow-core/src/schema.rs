//! The JSON Schema (2020-12) of the flow format, generated from the node types' config structs
//! so that `schemas/flow.schema.json` can never drift from the code. The schema of one node type
//! (served by the admin API) comes from the same code.

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::nodes::{NODE_TYPES, NodeType};

const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The schema of a whole flow file.
pub fn flow_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut defs = Map::new();
    let mut variants = Vec::new();
    for t in NODE_TYPES {
        let (variant, own) = node_variant(t, &mut generator);
        defs.extend(own);
        variants.push(variant);
    }
    defs.insert("node_id".into(), node_id());
    defs.insert("node".into(), json!({ "oneOf": variants }));
    defs.insert(
        "edge".into(),
        json!({
            "type": "object",
            "properties": {
                "from": { "type": "string", "description": "Id of the node the edge leaves." },
                "to": { "type": "string", "description": "Id of the node the edge enters." },
                "output": { "type": "string", "description": "The output of a branching node the edge leaves from." }
            },
            "required": ["from", "to"],
            "additionalProperties": false
        }),
    );
    json!({
        "$schema": DIALECT,
        "title": "hookflow flow",
        "description": "A hookflow flow: a webhook trigger and the nodes it runs, as a JSON graph. See docs/flow-format.md.",
        "type": "object",
        "properties": {
            "$schema": { "type": "string" },
            "id": { "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", "description": "Unique across the flows directory." },
            "name": { "type": "string" },
            "description": { "type": "string" },
            "active": { "type": "boolean", "default": true, "description": "An inactive flow keeps its URL and keys but answers 404." },
            "nodes": { "type": "array", "items": { "$ref": "#/$defs/node" } },
            "edges": { "type": "array", "items": { "$ref": "#/$defs/edge" }, "default": [] }
        },
        "required": ["id", "name", "nodes"],
        "additionalProperties": false,
        "$defs": defs,
    })
}

/// The schema of one node of type `t`, as it appears in a flow's `nodes`: `id`, `type` and the
/// type's own fields, with the definitions they use under `$defs`.
pub fn node_schema(t: &NodeType) -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let (mut schema, mut defs) = node_variant(t, &mut generator);
    defs.insert("node_id".into(), node_id());
    if let Value::Object(schema) = &mut schema {
        schema.insert("$schema".into(), json!(DIALECT));
        schema.insert("$defs".into(), Value::Object(defs));
    }
    schema
}

/// A node of type `t` (referring to `#/$defs/node_id`), and the definitions its fields use.
fn node_variant(t: &NodeType, generator: &mut SchemaGenerator) -> (Value, Map<String, Value>) {
    let mut schema = (t.schema)(generator).to_value();
    let defs = match schema.as_object_mut().and_then(|s| s.remove("$defs")) {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    let mut properties = Map::new();
    properties.insert("id".into(), json!({ "$ref": "#/$defs/node_id" }));
    properties.insert("type".into(), json!({ "const": t.name }));
    if let Some(Value::Object(own)) = schema.get("properties") {
        properties.extend(own.clone());
    }
    let mut required = vec![json!("id"), json!("type")];
    if let Some(Value::Array(own)) = schema.get("required") {
        required.extend(own.iter().cloned());
    }
    let variant = json!({
        "title": t.name,
        "description": t.doc,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    (variant, defs)
}

fn node_id() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "Unique in the flow; read as `nodes.<id>` in paths and templates." })
}
