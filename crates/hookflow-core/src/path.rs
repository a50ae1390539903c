//! Compiled JSONPath (RFC 9535) selections: parsed once when a flow compiles, run per request.
//!
//! A query of name, index and wildcard selectors (e.g. `$.request.body.items[0].sku`,
//! `$.request.body.items[*].sku`) is lowered to a list of steps that are walked directly: a
//! singular one (no wildcard) yields one value or nothing, one with wildcards an array. Any other
//! query (slices, filters, descendants, unions) runs through `jsonpath-rust` and yields an array.

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde_json::Value;

use crate::member::member;

/// A parsed JSONPath, ready to run.
#[derive(Debug, Clone)]
pub struct JsonPath {
    source: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Singular(Vec<Step>),
    Wildcards(Vec<Step>),
    Query(JpQuery),
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(i64),
    Wildcard,
}

impl JsonPath {
    /// Parses `source`, or answers the parser's message.
    pub fn parse(source: &str) -> Result<JsonPath, String> {
        let query = parse_json_path(source).map_err(|e| condense(&e.to_string()))?;
        let steps: Option<Vec<Step>> = query
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Selector(Selector::Name(name)) => Some(Step::Key(name.clone())),
                Segment::Selector(Selector::Index(i)) => Some(Step::Index(*i)),
                Segment::Selector(Selector::Wildcard) => Some(Step::Wildcard),
                _ => None,
            })
            .collect();
        let kind = match steps {
            Some(steps) if steps.iter().any(|s| matches!(s, Step::Wildcard)) => {
                Kind::Wildcards(steps)
            }
            Some(steps) => Kind::Singular(steps),
            None => Kind::Query(query),
        };
        Ok(JsonPath { source: source.to_owned(), kind })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the path may select the value at `target` (a path of names from the root), a
    /// value inside it, or one that contains it. Answers `true` when unsure (a wildcard, a
    /// descendant or filter query on the way there).
    pub fn reaches(&self, target: &[&str]) -> bool {
        let names: Vec<Option<&str>> = match &self.kind {
            Kind::Singular(steps) | Kind::Wildcards(steps) => steps
                .iter()
                .map(|step| match step {
                    Step::Key(name) => Some(name.as_str()),
                    // An index selects nothing of an object, the target's parents included.
                    Step::Index(_) => Some(""),
                    Step::Wildcard => None,
                })
                .collect(),
            Kind::Query(query) => query
                .segments
                .iter()
                .map(|segment| match segment {
                    Segment::Selector(Selector::Name(name)) => Some(name.as_str()),
                    Segment::Selector(Selector::Index(_)) => Some(""),
                    _ => None,
                })
                .collect(),
        };
        reaches(names.into_iter(), target)
    }

    /// Whether the path selects at most one value.
    pub fn is_singular(&self) -> bool {
        matches!(self.kind, Kind::Singular(_))
    }

    /// Selects from `root`: a singular path borrows the value (or `None` when absent); any other
    /// path answers an array of every match (possibly empty).
    pub fn select<'a>(&self, root: &'a Value) -> Selection<'a> {
        match &self.kind {
            Kind::Singular(steps) => {
                let mut current = root;
                for step in steps {
                    match child(step, current) {
                        Some(v) => current = v,
                        None => return Selection::One(None),
                    }
                }
                Selection::One(Some(current))
            }
            Kind::Wildcards(steps) => {
                let mut found = Vec::new();
                walk(steps, root, &mut found);
                Selection::Many(found)
            }
            Kind::Query(query) => {
                let found = js_path_process(query, root)
                    .map(|refs| refs.into_iter().map(|r| r.val().clone()).collect())
                    .unwrap_or_default();
                Selection::Many(found)
            }
        }
    }
}

/// Whether a path whose steps are `steps` (a name, or `None` for a step that may select any
/// child) may select `target`, something inside it or something containing it.
pub(crate) fn reaches<'a>(
    mut steps: impl Iterator<Item = Option<&'a str>>,
    target: &[&str],
) -> bool {
    for want in target {
        match steps.next() {
            // The path ends above the target: it selects the target whole.
            None => return true,
            Some(None) => return true,
            Some(Some(name)) if name == *want => {}
            Some(Some(_)) => return false,
        }
    }
    true
}

/// Turns the parser's multi-line report into one line: what was expected, and at which column.
fn condense(report: &str) -> String {
    let expected = report.lines().find_map(|l| l.trim().strip_prefix("= ")).map(str::trim);
    let column = report
        .find("--> ")
        .and_then(|at| report[at + 4..].lines().next())
        .and_then(|at| at.split(':').nth(1))
        .map(str::trim);
    match (expected, column) {
        (Some(expected), Some(column)) => format!("{expected} at column {column}"),
        _ => report.lines().next().unwrap_or(report).to_owned(),
    }
}

/// The child a name or index step selects.
fn child<'a>(step: &Step, value: &'a Value) -> Option<&'a Value> {
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => member(map, key),
        (Step::Index(i), Value::Array(items)) => index(items, *i),
        _ => None,
    }
}

/// Collects every value `steps` lead to from `value` (RFC 9535 order: members, then elements).
fn walk(steps: &[Step], value: &Value, found: &mut Vec<Value>) {
    let Some((step, rest)) = steps.split_first() else {
        found.push(value.clone());
        return;
    };
    match (step, value) {
        (Step::Wildcard, Value::Object(map)) => map.values().for_each(|v| walk(rest, v, found)),
        (Step::Wildcard, Value::Array(items)) => items.iter().for_each(|v| walk(rest, v, found)),
        (Step::Wildcard, _) => {}
        _ => {
            if let Some(v) = child(step, value) {
                walk(rest, v, found);
            }
        }
    }
}

fn index(items: &[Value], i: i64) -> Option<&Value> {
    let len = i64::try_from(items.len()).ok()?;
    let i = if i < 0 { len + i } else { i };
    usize::try_from(i).ok().and_then(|i| items.get(i))
}

/// What a path selected.
#[derive(Debug, PartialEq)]
pub enum Selection<'a> {
    One(Option<&'a Value>),
    Many(Vec<Value>),
}

impl Selection<'_> {
    /// The selection as an owned value: the value (or `None`) of a singular path, the array of
    /// matches of any other.
    pub fn into_value(self) -> Option<Value> {
        match self {
            Selection::One(v) => v.cloned(),
            Selection::Many(values) => Some(Value::Array(values)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> Value {
        json!({"a": {"b": [ {"sku": "A1", "qty": 2}, {"sku": "B7", "qty": 1} ], "c-d": 3}})
    }

    #[test]
    fn a_path_reaches_a_target_it_may_select_or_contain() {
        let headers = ["request", "headers"];
        let reaches = |source: &str| JsonPath::parse(source).unwrap().reaches(&headers);
        for source in [
            "$.request.headers['x-api-key']",
            "$.request.headers",
            "$['request']['headers']",
            "$.request",
            "$",
            "$.request.*",
            "$.*.headers",
            "$..x",
            "$.request[?@.a]",
            "$.request['headers', 'body']",
        ] {
            assert!(reaches(source), "{source} may read the headers");
        }
        for source in [
            "$.request.body.items[*].sku",
            "$.request.body..sku",
            "$.request.body[?@.x > 1]",
            "$.request.params.region",
            "$.nodes.order.total",
            "$.nodes.*.headers",
            "$[0]",
            "$.request[0]",
        ] {
            assert!(!reaches(source), "{source} cannot read the headers");
        }
    }

    #[test]
    fn singular_paths_walk_directly() {
        let p = JsonPath::parse("$.a.b[1].sku").unwrap();
        assert!(p.is_singular());
        assert_eq!(p.select(&doc()).into_value(), Some(json!("B7")));
        let p = JsonPath::parse("$.a.b[-1].qty").unwrap();
        assert_eq!(p.select(&doc()).into_value(), Some(json!(1)));
        let p = JsonPath::parse("$['a']['c-d']").unwrap();
        assert_eq!(p.select(&doc()).into_value(), Some(json!(3)));
        let p = JsonPath::parse("$.a.nope.deeper").unwrap();
        assert_eq!(p.select(&doc()).into_value(), None);
    }

    #[test]
    fn other_paths_give_arrays() {
        let p = JsonPath::parse("$.a.b[*].sku").unwrap();
        assert!(!p.is_singular());
        assert_eq!(p.select(&doc()).into_value(), Some(json!(["A1", "B7"])));
        let p = JsonPath::parse("$.a.b[?@.qty > 1].sku").unwrap();
        assert_eq!(p.select(&doc()).into_value(), Some(json!(["A1"])));
        let p = JsonPath::parse("$.zzz[*]").unwrap();
        assert_eq!(p.select(&doc()).into_value(), Some(json!([])));
        let p = JsonPath::parse("$.a.*").unwrap();
        assert_eq!(p.select(&doc()).into_value().unwrap().as_array().unwrap().len(), 2);
        let p = JsonPath::parse("$.a.b[*].*").unwrap();
        assert_eq!(p.select(&doc()).into_value(), Some(json!(["A1", 2, "B7", 1])));
        let p = JsonPath::parse("$.a.b[*].sku.x").unwrap();
        assert_eq!(p.select(&doc()).into_value(), Some(json!([])));
    }

    #[test]
    fn the_direct_walk_agrees_with_jsonpath_rust() {
        let doc = json!({"a": {"b": [ {"sku": "A1", "n": [1, 2]}, {"sku": "B7"}, 3 ], "c": {"d": 1}}, "e": [[1], [2, 3]]});
        for path in [
            "$.a.b[*].sku",
            "$.a.*",
            "$.a.b[*].n[*]",
            "$.e[*][0]",
            "$.e[*][-1]",
            "$.*.c",
            "$.a.b[*].*",
        ] {
            let direct = JsonPath::parse(path).unwrap().select(&doc).into_value();
            let query = parse_json_path(path).unwrap();
            let reference: Vec<Value> = js_path_process(&query, &doc)
                .unwrap()
                .into_iter()
                .map(|r| r.val().clone())
                .collect();
            assert_eq!(direct, Some(Value::Array(reference)), "{path}");
        }
    }

    #[test]
    fn parse_errors_are_reported() {
        assert_eq!(JsonPath::parse("$.a[").unwrap_err(), "expected selector at column 5");
        assert!(JsonPath::parse("$5 off").is_err());
    }
}
