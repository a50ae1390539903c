//! The JSON Schema (2020-12) of the flow format, generated from the compiler's `FlowDoc` and the
//! node types' config structs so that `schemas/flow.schema.json` can never drift from the code.
//! The schema of one node type (served by the admin API) comes from the same code.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::compiler::{EdgeDoc, FlowDoc};
use crate::nodes::{NODE_TYPES, NodeType};

const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The schema of a whole flow file: its top level and `#/$defs/edge` from [`FlowDoc`], the node
/// types' variants (`#/$defs/node`) and the definitions they use from the registry.
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
    let edge = EdgeDoc::json_schema(&mut generator).to_value();
    defs.insert(EdgeDoc::schema_name().into(), Value::Object(object(&edge)));
    let flow = FlowDoc::json_schema(&mut generator).to_value();
    let mut schema = Map::from_iter([
        ("$schema".to_owned(), json!(DIALECT)),
        ("title".to_owned(), flow["title"].clone()),
        ("description".to_owned(), flow["description"].clone()),
    ]);
    schema.extend(object(&flow));
    schema.insert("$defs".into(), Value::Object(defs));
    Value::Object(schema)
}

/// A struct's schema as the flow schema writes an object: its type, properties, required
/// properties and additional properties, in that order (and no description of its own).
fn object(schema: &Value) -> Map<String, Value> {
    let keys = ["type", "properties", "required", "additionalProperties"];
    keys.into_iter().map(|key| (key.to_owned(), schema[key].clone())).collect()
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
