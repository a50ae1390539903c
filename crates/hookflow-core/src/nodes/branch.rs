//! The `branch` node: picks one output by conditions on context values; only the edges leaving
//! that output fire.

use regex::Regex;
use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::{Node, NodeError, NodeType, Outcome, Role, RunCx};
use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;
use crate::expr::{Expr, Scope};
use crate::path::{JsonPath, Selection};

pub static TYPE: NodeType = NodeType {
    name: "branch",
    role: Role::Step,
    doc: "Routes to one output. `cases` are tried in order; the first whose `when` holds names \
          the output, else `default`. A condition is `{\"path\", \"op\", \"value\"}` with op \
          `eq ne gt gte lt lte in contains exists missing matches` (`value` is a value \
          expression; `matches` takes a regular expression; `exists`/`missing` take none), or \
          `{\"all\": [...]}`, `{\"any\": [...]}`, `{\"not\": {...}}`, or `{\"js\": \"...\"}`, a \
          JavaScript expression that holds when its value is truthy. Edges leaving the node name \
          their `output`. The node's output is `{\"output\": name}`.",
    example: r#"{ "id": "size", "type": "branch", "default": "small",
  "cases": [ { "output": "large", "when": { "path": "$.request.body.total", "op": "gt", "value": 100 } } ] }"#,
    schema: |g| g.root_schema_for::<BranchConfig>(),
    compile,
};

/// The fields of a `branch` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchConfig {
    /// Tried in order; the first that holds picks the output.
    pub cases: Vec<Case>,
    /// The output taken when no case holds.
    pub default: String,
}

/// One case of a `branch` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub output: String,
    pub when: Condition,
}

/// A condition.
#[derive(Debug, JsonSchema)]
#[schemars(untagged)]
pub enum Condition {
    All(AllOf),
    Any(AnyOf),
    Not(NotOf),
    Js(JsOf),
    Test(Test),
}

// Read by the key that says which kind of condition it is (`all`, `any`, `not`, else a test),
// so that a mistake is reported against that kind: an unknown `op` or field by name.
impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let Some(fields) = value.as_object() else {
            return Err(D::Error::custom(
                "a condition is an object: {\"path\", \"op\", \"value\"}, {\"all\": [...]}, \
                 {\"any\": [...]}, {\"not\": {...}} or {\"js\": \"...\"}",
            ));
        };
        let kind = ["all", "any", "not", "js"].into_iter().find(|key| fields.contains_key(*key));
        let read = match kind {
            Some("all") => serde_path_to_error::deserialize(value).map(Condition::All),
            Some("any") => serde_path_to_error::deserialize(value).map(Condition::Any),
            Some("js") => serde_path_to_error::deserialize(value).map(Condition::Js),
            Some(_) => serde_path_to_error::deserialize(value).map(Condition::Not),
            None => serde_path_to_error::deserialize(value).map(Condition::Test),
        };
        read.map_err(|e| {
            let inner = e.inner().to_string();
            let path = e.path().to_string();
            // An unknown field of this very object is named by the message already.
            let top_level = !path.contains(['.', '[']);
            if path == "." || (inner.starts_with("unknown field") && top_level) {
                D::Error::custom(inner)
            } else {
                D::Error::custom(format!("{inner} (at `{path}`)"))
            }
        })
    }
}

/// Holds when every condition holds.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllOf {
    pub all: Vec<Condition>,
}

/// Holds when any condition holds.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnyOf {
    pub any: Vec<Condition>,
}

/// Holds when the condition does not.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotOf {
    pub not: Box<Condition>,
}

/// Holds when the JavaScript expression's value is truthy.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsOf {
    pub js: String,
}

/// A test of the value at `path`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Test {
    /// A JSONPath into the context.
    pub path: String,
    pub op: Op,
    /// A value expression (a regular expression string for `matches`; absent for `exists` and
    /// `missing`).
    #[serde(default)]
    pub value: Option<Value>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Contains,
    Exists,
    Missing,
    Matches,
}

#[derive(Debug)]
enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Js(Expr),
    Test { path: JsonPath, op: Op, value: Operand },
}

#[derive(Debug)]
enum Operand {
    None,
    Expr(Expr),
    Regex(Regex),
}

#[derive(Debug)]
struct Branch {
    outputs: Vec<String>,
    cases: Vec<(Cond, usize)>,
    default: usize,
}

impl Node for Branch {
    fn outputs(&self) -> &[String] {
        &self.outputs
    }

    fn run(&self, scope: Scope<'_>, _: RunCx<'_>) -> Result<Outcome, NodeError> {
        let mut output = self.default;
        for (cond, index) in &self.cases {
            if cond.holds(scope)? {
                output = *index;
                break;
            }
        }
        Ok(Outcome::Branch { output, value: json!({ "output": self.outputs[output] }) })
    }
}

impl Cond {
    fn holds(&self, scope: Scope<'_>) -> Result<bool, NodeError> {
        Ok(match self {
            Cond::All(conds) => {
                for c in conds {
                    if !c.holds(scope)? {
                        return Ok(false);
                    }
                }
                true
            }
            Cond::Any(conds) => {
                for c in conds {
                    if c.holds(scope)? {
                        return Ok(true);
                    }
                }
                false
            }
            Cond::Not(c) => !c.holds(scope)?,
            Cond::Js(e) => truthy(e.eval(scope)?.as_ref()),
            Cond::Test { path, op, value } => {
                let selection = path.select(scope.ctx.data());
                let owned;
                let actual = match &selection {
                    Selection::One(v) => v.filter(|v| !v.is_null()),
                    Selection::Many(values) => {
                        owned = Value::Array(values.clone());
                        Some(&owned)
                    }
                };
                let expected = match value {
                    Operand::Expr(e) => e.eval(scope)?,
                    Operand::None | Operand::Regex(_) => None,
                };
                test(*op, actual, expected.as_ref(), value)
            }
        })
    }
}

fn test(op: Op, actual: Option<&Value>, expected: Option<&Value>, operand: &Operand) -> bool {
    match op {
        Op::Exists => actual.is_some(),
        Op::Missing => actual.is_none(),
        Op::Ne => !matches!((actual, expected), (Some(a), Some(e)) if same(a, e)),
        _ => {
            let Some(a) = actual else { return false };
            match op {
                Op::Eq => expected.is_some_and(|e| same(a, e)),
                Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                    let Some(ordering) = expected.and_then(|e| order(a, e)) else { return false };
                    match op {
                        Op::Gt => ordering.is_gt(),
                        Op::Gte => ordering.is_ge(),
                        Op::Lt => ordering.is_lt(),
                        _ => ordering.is_le(),
                    }
                }
                Op::In => match expected {
                    Some(Value::Array(items)) => items.iter().any(|i| same(a, i)),
                    Some(Value::String(s)) => a.as_str().is_some_and(|a| s.contains(a)),
                    _ => false,
                },
                Op::Contains => match (a, expected) {
                    (Value::Array(items), Some(e)) => items.iter().any(|i| same(i, e)),
                    (Value::String(s), Some(Value::String(e))) => s.contains(e.as_str()),
                    (Value::Object(map), Some(Value::String(key))) => map.contains_key(key),
                    _ => false,
                },
                Op::Matches => match (a, operand) {
                    (Value::String(s), Operand::Regex(re)) => re.is_match(s),
                    _ => false,
                },
                Op::Exists | Op::Missing | Op::Ne => unreachable!("handled above"),
            }
        }
    }
}

/// Whether JavaScript holds a value (as JSON: `undefined` is `None`) true.
fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_) | Value::Object(_)) => true,
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn compile(cx: &mut CompileCx<'_>, config: Value) -> Option<Box<dyn Node>> {
    let config: BranchConfig = cx.config(config)?;
    let mut outputs: Vec<String> = Vec::new();
    let mut index_of = |name: &str| match outputs.iter().position(|o| o == name) {
        Some(i) => i,
        None => {
            outputs.push(name.to_owned());
            outputs.len() - 1
        }
    };
    let mut ok = true;
    let mut cases = Vec::with_capacity(config.cases.len());
    let mut indexes = Vec::with_capacity(config.cases.len());
    for case in &config.cases {
        indexes.push(index_of(&case.output));
    }
    let default = index_of(&config.default);
    for (i, (case, index)) in config.cases.iter().zip(indexes).enumerate() {
        match compile_cond(cx, &case.when, &format!("/cases/{i}/when")) {
            Some(cond) => cases.push((cond, index)),
            None => ok = false,
        }
    }
    if config.cases.is_empty() {
        cx.report(
            Code::InvalidValue,
            "/cases",
            "`cases` is empty: the branch always takes `default`",
        )
        .set_help("add a case, or remove the branch");
        ok = false;
    }
    ok.then(|| Box::new(Branch { outputs, cases, default }) as Box<dyn Node>)
}

fn compile_cond(cx: &mut CompileCx<'_>, cond: &Condition, rel: &str) -> Option<Cond> {
    let list = |cx: &mut CompileCx<'_>, conds: &[Condition], key: &str| {
        let compiled: Vec<Option<Cond>> = conds
            .iter()
            .enumerate()
            .map(|(i, c)| compile_cond(cx, c, &format!("{rel}/{key}/{i}")))
            .collect();
        compiled.into_iter().collect::<Option<Vec<_>>>()
    };
    match cond {
        Condition::All(AllOf { all }) => list(cx, all, "all").map(Cond::All),
        Condition::Any(AnyOf { any }) => list(cx, any, "any").map(Cond::Any),
        Condition::Not(NotOf { not }) => {
            compile_cond(cx, not, &format!("{rel}/not")).map(|c| Cond::Not(Box::new(c)))
        }
        Condition::Js(JsOf { js }) => {
            let expr = serde_json::json!({ "js": js });
            Expr::compile(cx, &expr, rel).map(Cond::Js)
        }
        Condition::Test(t) => {
            let path = cx.path(&t.path, &format!("{rel}/path"));
            let value_at = format!("{rel}/value");
            let operand = match (t.op, &t.value) {
                (Op::Exists | Op::Missing, None) => Some(Operand::None),
                (Op::Exists | Op::Missing, Some(_)) => {
                    cx.report(
                        Code::UnknownField,
                        &value_at,
                        format!("`{:?}` takes no `value`", t.op).to_lowercase(),
                    );
                    None
                }
                (_, None) => {
                    cx.report(Code::MissingField, rel, "this condition needs a `value`");
                    None
                }
                (Op::Matches, Some(Value::String(re))) => match Regex::new(re) {
                    Ok(re) => Some(Operand::Regex(re)),
                    Err(e) => {
                        let reason = e.to_string();
                        let reason = reason
                            .lines()
                            .last()
                            .unwrap_or_default()
                            .trim_start_matches("error: ")
                            .to_owned();
                        cx.report(
                            Code::InvalidRegex,
                            &value_at,
                            format!("invalid regular expression `{re}`: {reason}"),
                        );
                        None
                    }
                },
                (Op::Matches, Some(_)) => {
                    cx.report(
                        Code::InvalidValue,
                        &value_at,
                        "`matches` takes a regular expression string",
                    );
                    None
                }
                (_, Some(v)) => Expr::compile(cx, v, &value_at).map(Operand::Expr),
            };
            Some(Cond::Test { path: path?, op: t.op, value: operand? })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators() {
        let n = |x: f64| json!(x);
        let e = Operand::None;
        assert!(test(Op::Eq, Some(&json!(1)), Some(&n(1.0)), &e));
        assert!(test(Op::Ne, None, Some(&json!(1)), &e));
        assert!(test(Op::Gt, Some(&json!(120.5)), Some(&json!(100)), &e));
        assert!(!test(Op::Gt, Some(&json!("120")), Some(&json!(100)), &e));
        assert!(test(Op::Lte, Some(&json!("a")), Some(&json!("b")), &e));
        assert!(test(Op::In, Some(&json!("eu")), Some(&json!(["us", "eu"])), &e));
        assert!(test(Op::Contains, Some(&json!(["A1", "B7"])), Some(&json!("B7")), &e));
        assert!(test(Op::Contains, Some(&json!("hello")), Some(&json!("ell")), &e));
        assert!(test(Op::Exists, Some(&json!(0)), None, &e));
        assert!(test(Op::Missing, None, None, &e));
        let re = Operand::Regex(Regex::new("^ORD-[0-9]+$").unwrap());
        assert!(test(Op::Matches, Some(&json!("ORD-12")), None, &re));
        assert!(!test(Op::Matches, Some(&json!(12)), None, &re));
        let holds: Vec<bool> =
            [json!(0), json!(""), json!(null), json!(2), json!("x"), json!([]), json!(false)]
                .iter()
                .map(|v| truthy(Some(v)))
                .collect();
        assert_eq!(holds, [false, false, false, true, true, true, false]);
        assert!(!truthy(None));
    }
}
