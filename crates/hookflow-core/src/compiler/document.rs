//! The top level of a flow file, [`FlowDoc`], and the passes that read it: parse (JSON syntax),
//! shape (every top-level field known, of its type, present when required) and the flow id.

use std::borrow::Cow;
use std::sync::LazyLock;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema, schema_for};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use super::{FlowCx, did_you_mean, is_flow_id};
use crate::diagnostic::{Code, Diagnostic};

/// The top level of a flow file as written: the one definition of it. The shape pass checks a
/// file's fields against its schema, and the flow schema's top level is that schema.
///
/// Each node stays raw JSON, read in two steps by the nodes pass (envelope, then its type's
/// config); each edge is read as an [`EdgeDoc`] by the edges pass. A required field is an
/// `Option`, so that a flow missing it is still read and checked.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "hookflow flow",
    description = "A hookflow flow: a webhook trigger and the nodes it runs, as a JSON graph. See docs/flow-format.md."
)]
pub struct FlowDoc {
    // The schema an editor checks the file with; the compiler takes any value and ignores it.
    // (`default, skip_serializing_if` here and below: optional in the schema, with no default.)
    #[serde(rename = "$schema")]
    #[schemars(with = "String", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<IgnoredAny>,
    #[schemars(required, regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"))]
    #[schemars(extend("description" = "Unique across the flows directory."))]
    pub id: Option<String>,
    #[schemars(required)]
    pub name: Option<String>,
    #[schemars(with = "String", default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "active")]
    #[schemars(extend("description" = "An inactive flow keeps its URL and keys but answers 404."))]
    pub active: bool,
    #[schemars(required, with = "Vec<NodeDoc>")]
    pub nodes: Option<Vec<Value>>,
    #[serde(default)]
    #[schemars(with = "Vec<EdgeDoc>")]
    pub edges: Vec<Value>,
}

fn active() -> bool {
    true
}

/// An edge as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "edge")]
pub struct EdgeDoc {
    /// Id of the node the edge leaves.
    pub from: String,
    /// Id of the node the edge enters.
    pub to: String,
    /// The output of a branching node the edge leaves from.
    #[serde(default)]
    #[schemars(with = "String", skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// A node in `nodes`, in the schema: `#/$defs/node`, which the flow schema builds from the node
/// registry.
struct NodeDoc;

impl JsonSchema for NodeDoc {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "node".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "$ref": "#/$defs/node" })
    }
}

/// A top-level field as the shape pass checks it, read from [`FlowDoc`]'s schema.
struct Field {
    name: String,
    required: bool,
    /// `None` for a field only editors read (`$schema`): any value will do, and hints do not
    /// list it.
    kind: Option<Kind>,
}

/// A top-level field's JSON type.
struct Kind {
    /// Whether a value is of the type.
    admits: fn(&Value) -> bool,
    /// The type as a message says it: "`name` must be {words}".
    words: String,
}

/// [`FlowDoc`]'s fields, in order.
static FIELDS: LazyLock<Vec<Field>> = LazyLock::new(|| {
    let schema = schema_for!(FlowDoc);
    let required = schema.get("required").and_then(Value::as_array);
    let properties = schema.get("properties").and_then(Value::as_object);
    let properties = properties.expect("FlowDoc's schema has properties");
    properties
        .iter()
        .map(|(name, property)| Field {
            name: name.clone(),
            required: required.is_some_and(|r| r.iter().any(|n| n == name)),
            kind: (!name.starts_with('$')).then(|| kind(name, property)),
        })
        .collect()
});

/// The type of field `name`, from its schema `property`.
fn kind(name: &str, property: &Value) -> Kind {
    let items = property["items"]["$ref"].as_str().and_then(|r| r.rsplit('/').next());
    let (admits, words): (fn(&Value) -> bool, _) = match (property["type"].as_str(), items) {
        (Some("string"), _) => (Value::is_string, "a string".into()),
        (Some("boolean"), _) => (Value::is_boolean, "true or false".into()),
        (Some("array"), Some(items)) => (Value::is_array, format!("an array of {items}s")),
        _ => panic!("the shape pass has no words for the type of FlowDoc's field `{name}`"),
    };
    Kind { admits, words }
}

/// The parse pass: the file's text, which must be a JSON object.
pub(super) fn parse(text: &str, cx: &mut FlowCx) -> Option<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(fields)) => Some(fields),
        Ok(_) => {
            cx.report(Diagnostic::new(Code::InvalidValue, cx.at(""), "a flow is a JSON object"));
            None
        }
        Err(e) => {
            let mut location = cx.at("");
            location.line = Some(e.line());
            location.column = Some(e.column());
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            let message = format!("invalid JSON: {message}");
            cx.report(Diagnostic::new(Code::JsonSyntax, location, message));
            None
        }
    }
}

/// The shape pass: each top-level field known, of its type, and present when required. An
/// unknown field, or one of the wrong type, is reported and dropped; what is left reads as a
/// [`FlowDoc`].
pub(super) fn shape(mut fields: Map<String, Value>, cx: &mut FlowCx) -> FlowDoc {
    fields.retain(|name, _| known(name, cx));
    for field in FIELDS.iter() {
        check(field, &mut fields, cx);
    }
    serde_json::from_value(Value::Object(fields))
        .expect("the fields left are FlowDoc's, each of the type its schema says")
}

/// Whether `name` is a top-level field; reports it when not.
fn known(name: &str, cx: &mut FlowCx) -> bool {
    if FIELDS.iter().any(|f| f.name == name) {
        return true;
    }
    let help = did_you_mean(name, FIELDS.iter().map(|f| f.name.as_str())).unwrap_or_else(|| {
        let read = FIELDS.iter().filter(|f| f.kind.is_some()).map(|f| f.name.as_str());
        format!("a flow has {}", read.collect::<Vec<_>>().join(", "))
    });
    let message = format!("unknown field `{name}`");
    cx.report(
        Diagnostic::new(Code::UnknownField, cx.at(&format!("/{name}")), message).with_help(help),
    );
    false
}

/// Reports `field` when it is missing but required, or of the wrong type (then drops it).
fn check(field: &Field, fields: &mut Map<String, Value>, cx: &mut FlowCx) {
    let name = field.name.as_str();
    match (fields.get(name), &field.kind) {
        (None, _) if field.required => {
            let message = format!("missing field `{name}`");
            cx.report(Diagnostic::new(Code::MissingField, cx.at(""), message));
        }
        (Some(value), Some(kind)) if !(kind.admits)(value) => {
            let message = format!("`{name}` must be {}", kind.words);
            cx.report(Diagnostic::new(Code::InvalidValue, cx.at(&format!("/{name}")), message));
            fields.remove(name);
        }
        _ => {}
    }
}

/// The flow id pass: the id, when it is a string, must be a valid flow id.
pub(super) fn flow_id(id: Option<&str>, cx: &mut FlowCx) {
    if let Some(id) = id
        && !is_flow_id(id)
    {
        cx.report(
            Diagnostic::new(
                Code::InvalidValue,
                cx.at("/id"),
                format!("flow id `{id}` is not valid"),
            )
            .with_help(
                "use letters, digits, `-` and `_` (at most 64), starting with a letter or digit",
            ),
        );
    }
}
