//! Handlebars templates of one flow: compiled once into the flow's registry, rendered per request
//! against the execution context. Strict mode is on (a missing variable is an error, not an
//! empty string), HTML escaping is off, and a `json` helper writes any value as JSON.
//!
//! Most templates are text with plain `{{a.b.c}}` variables. Those are rendered directly from
//! Handlebars' own parse of the template (same values, same rendering of each JSON type, same
//! strict-mode error), without the registry's per-render set-up; a test holds the two paths to
//! the same output. Anything else (helpers, blocks, `this`, `../`, `@` variables) goes through
//! the registry.

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperResult, JsonRender, Output, PathSeg, RenderContext,
    RenderError, RenderErrorReason, Template,
};
use serde_json::Value;

use crate::member::member;

/// A compiled template's handle in its flow's [`Templates`].
#[derive(Debug, Clone)]
pub struct TemplateId {
    name: Box<str>,
    /// The template as text and variables, when it is nothing else.
    direct: Option<Box<[Piece]>>,
}

impl TemplateId {
    /// Whether rendering may read the value at `target` (see [`JsonPath::reaches`]): `true` for
    /// a template that uses anything but plain variables (helpers, blocks, `this`), since those
    /// may read any of it.
    ///
    /// [`JsonPath::reaches`]: crate::path::JsonPath::reaches
    pub fn reaches(&self, target: &[&str]) -> bool {
        let Some(pieces) = &self.direct else { return true };
        pieces.iter().any(|piece| match piece {
            Piece::Text(_) => false,
            Piece::Variable { path, .. } => {
                crate::path::reaches(path.iter().map(|name| Some(name.as_str())), target)
            }
        })
    }
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Variable { path: Box<[String]>, raw: String },
}

/// The registry holding every template of one flow.
#[derive(Debug)]
pub struct Templates {
    registry: Handlebars<'static>,
    count: usize,
}

impl Default for Templates {
    fn default() -> Self {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        registry.register_helper("json", Box::new(json_helper));
        Templates { registry, count: 0 }
    }
}

impl Templates {
    /// Compiles `source`, or answers a message with the line and column inside the template.
    pub fn compile(&mut self, source: &str) -> Result<TemplateId, String> {
        let template = Template::compile(source).map_err(|e| {
            let at = match e.pos() {
                Some((l, c)) => format!(" (template line {l}, column {c})"),
                None => String::new(),
            };
            let reason = e.reason().to_string();
            // The grammar's list of every token it could have taken says nothing useful.
            let reason = reason.split(": expected escape").next().unwrap_or(&reason).to_owned();
            format!("{reason}{at}")
        })?;
        self.count += 1;
        let name = format!("t{}", self.count).into_boxed_str();
        let direct = self.direct_pieces(&template);
        self.registry.register_template(&name, template);
        Ok(TemplateId { name, direct })
    }

    /// Renders a compiled template against `ctx`.
    pub fn render(&self, id: &TemplateId, ctx: &Context) -> Result<String, String> {
        match &id.direct {
            Some(pieces) => render_direct(pieces, ctx.data()),
            None => {
                self.registry.render_with_context(&id.name, ctx).map_err(|e| render_message(&e))
            }
        }
    }

    /// The template as text and plain variables, or `None` when it uses anything else.
    fn direct_pieces(&self, template: &Template) -> Option<Box<[Piece]>> {
        let mut pieces = Vec::with_capacity(template.elements.len());
        for element in &template.elements {
            match element {
                TemplateElement::RawString(text) => pieces.push(Piece::Text(text.clone())),
                TemplateElement::Comment(_) => {}
                TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h)
                    if h.params.is_empty()
                        && h.hash.is_empty()
                        && !h.block
                        && h.template.is_none()
                        && h.block_param.is_none() =>
                {
                    let (path, raw) = match &h.name {
                        Parameter::Path(handlebars::Path::Relative((segments, raw))) => {
                            let named: Option<Vec<String>> = segments
                                .iter()
                                .map(|s| match s {
                                    PathSeg::Named(n) if !is_special(n) => Some(n.clone()),
                                    _ => None,
                                })
                                .collect();
                            let named = named.filter(|n| !n.is_empty())?;
                            (named, raw.clone())
                        }
                        _ => return None,
                    };
                    pieces.push(Piece::Variable { path: path.into_boxed_slice(), raw });
                }
                _ => return None,
            }
        }
        Some(pieces.into_boxed_slice())
    }
}

/// Segments that Handlebars resolves against its own scope, not the data.
fn is_special(segment: &str) -> bool {
    matches!(segment, "this" | "." | "..") || segment.starts_with('@')
}

fn render_direct(pieces: &[Piece], data: &Value) -> Result<String, String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Variable { path, raw } => {
                let mut value = data;
                for segment in path.iter() {
                    let next = match value {
                        Value::Object(map) => member(map, segment),
                        Value::Array(items) => {
                            segment.parse::<usize>().ok().and_then(|i| items.get(i))
                        }
                        _ => None,
                    };
                    value = next.ok_or_else(|| missing(raw))?;
                }
                match value {
                    Value::String(s) => out.push_str(s),
                    other => out.push_str(&other.render()),
                }
            }
        }
    }
    Ok(out)
}

fn missing(path: &str) -> String {
    format!("template variable `{path}` is missing (templates are strict)")
}

fn render_message(e: &RenderError) -> String {
    match e.reason() {
        RenderErrorReason::MissingVariable(Some(path)) => missing(path),
        other => other.to_string(),
    }
}

fn json_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let param = h.param(0).ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex("json", 0))?;
    if param.is_value_missing() {
        let path = param.relative_path().cloned().unwrap_or_default();
        return Err(RenderErrorReason::MissingVariable(Some(path)).into());
    }
    let text = serde_json::to_string(param.value())
        .map_err(|e| RenderErrorReason::Other(format!("json helper: {e}")))?;
    out.write(&text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(source: &str, data: serde_json::Value) -> Result<String, String> {
        let mut t = Templates::default();
        let id = t.compile(source)?;
        t.render(&id, &Context::from(data))
    }

    #[test]
    fn a_template_reaches_a_target_its_variables_may_read() {
        let headers = ["request", "headers"];
        let reaches =
            |source: &str| Templates::default().compile(source).unwrap().reaches(&headers);
        for source in [
            "{{request.headers.[x-id]}}",
            "id {{request.headers}}",
            "{{request}}",
            "{{json request.body}}",
            "{{#each request.body.items}}{{sku}}{{/each}}",
            "{{this}}",
        ] {
            assert!(reaches(source), "{source} may read the headers");
        }
        for source in ["Order {{request.body.id}}", "{{nodes.order.id}} for {{execution.id}}", "x"]
        {
            assert!(!reaches(source), "{source} cannot read the headers");
        }
    }

    #[test]
    fn renders_without_html_escaping() {
        assert_eq!(render("{{a}}", json!({"a": "<b>&"})).unwrap(), "<b>&");
    }

    #[test]
    fn json_helper_writes_json() {
        let out = render("{\"x\": {{json a}}}", json!({"a": {"q": "say \"hi\"", "n": [1, 2]}}));
        assert_eq!(out.unwrap(), r#"{"x": {"q":"say \"hi\"","n":[1,2]}}"#);
    }

    #[test]
    fn strict_mode_refuses_missing_variables() {
        let err = render("{{a.b}}", json!({"a": {}})).unwrap_err();
        assert!(err.contains("`a.b` is missing"), "{err}");
        let err = render("{{json nope}}", json!({})).unwrap_err();
        assert!(err.contains("`nope` is missing"), "{err}");
    }

    #[test]
    fn direct_rendering_matches_the_registry() {
        let templates = [
            "Order {{nodes.order.id}} for {{nodes.order.customer}}",
            "{{a}}",
            "{{ a }}-{{{a}}}",
            "x {{~a~}} y",
            "{{!-- note --}}{{a}}!",
            "{{list}} {{list.1}} {{obj}} {{n}} {{f}} {{t}} {{z}}",
            "{{obj.[key with space]}}",
            "{{deep.missing}}",
            "{{a.b}}",
            "{{n.x}}",
            "{{z.x}}",
            "{{list.9}}",
            "plain text",
            "{{this}}",
            "{{this.a}}",
            "{{./a}}",
        ];
        let data = json!({
            "a": "A", "n": 1.5, "f": false, "t": true, "z": null, "list": [1, "two", [3]],
            "obj": {"key with space": "spaced"}, "deep": {},
            "nodes": {"order": {"id": "ORD-1", "customer": "Ada"}}
        });
        let ctx = Context::from(data);
        let direct_count = templates
            .iter()
            .filter(|s| Templates::default().compile(s).unwrap().direct.is_some())
            .count();
        assert!(direct_count >= 13, "only {direct_count} templates render directly");
        for source in templates {
            let mut t = Templates::default();
            let id = t.compile(source).unwrap();
            let direct = t.render(&id, &ctx);
            let registry =
                t.registry.render_with_context(&id.name, &ctx).map_err(|e| render_message(&e));
            assert_eq!(direct, registry, "{source}");
        }
        for source in
            ["{{json a}}", "{{#if a}}x{{/if}}", "{{../a}}", "{{@root.a}}", "{{lookup list 1}}"]
        {
            let id = Templates::default().compile(source).unwrap();
            assert!(id.direct.is_none(), "{source} goes through the registry");
        }
    }

    #[test]
    fn compile_errors_name_the_position() {
        let err = Templates::default().compile("hello {{#if x}}").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }
}
