//! Handlebars templates of one flow: compiled once into the flow's registry, rendered per request
//! against the execution context. Strict mode is on (a missing variable is an error, not an
//! empty string), HTML escaping is off, and a `json` helper writes any value as JSON.

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason, Template,
};

/// A compiled template's handle in its flow's [`Templates`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId(Box<str>);

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
        let id = TemplateId(format!("t{}", self.count).into_boxed_str());
        self.registry.register_template(&id.0, template);
        Ok(id)
    }

    /// Renders a compiled template against `ctx`.
    pub fn render(&self, id: &TemplateId, ctx: &Context) -> Result<String, String> {
        self.registry.render_with_context(&id.0, ctx).map_err(|e| render_message(&e))
    }
}

fn render_message(e: &RenderError) -> String {
    match e.reason() {
        RenderErrorReason::MissingVariable(Some(path)) => {
            format!("template variable `{path}` is missing (templates are strict)")
        }
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
    fn compile_errors_name_the_position() {
        let err = Templates::default().compile("hello {{#if x}}").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }
}
