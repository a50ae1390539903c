//! What a node type's compile step works with: its flow's template registry and a diagnostics
//! sink that knows the file, the node and the node's JSON pointer.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic, Location};
use crate::path::JsonPath;
use crate::template::{TemplateId, Templates};

pub struct CompileCx<'a> {
    file: &'a str,
    node: Option<String>,
    base: String,
    templates: &'a mut Templates,
    reads: &'a mut Reads,
    diagnostics: &'a mut Vec<Diagnostic>,
}

/// What a flow's paths and templates may read of the context, gathered as they compile: a part
/// that nothing reads need not be built for each request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reads {
    /// `request.headers`, or the whole request or document.
    pub headers: bool,
    /// `request.received_at` (a timestamp formatted for each request), or what contains it.
    pub received_at: bool,
    /// `execution` (the ids of the execution, its flow and credential), or the whole document.
    pub execution: bool,
}

impl Reads {
    /// Adds what a path or template that `reaches` (see [`JsonPath::reaches`]) may read.
    fn add(&mut self, reaches: impl Fn(&[&str]) -> bool) {
        self.headers |= reaches(&["request", "headers"]);
        self.received_at |= reaches(&["request", "received_at"]);
        self.execution |= reaches(&["execution"]);
    }
}

impl<'a> CompileCx<'a> {
    pub fn new(
        file: &'a str,
        templates: &'a mut Templates,
        reads: &'a mut Reads,
        diagnostics: &'a mut Vec<Diagnostic>,
    ) -> Self {
        CompileCx { file, node: None, base: String::new(), templates, reads, diagnostics }
    }

    /// Points the context at node `id`, found at JSON pointer `base` (e.g. `/nodes/2`).
    pub fn enter_node(&mut self, id: &str, base: String) {
        self.node = Some(id.to_owned());
        self.base = base;
    }

    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The absolute JSON pointer of `rel`, a pointer relative to the current node.
    pub fn pointer(&self, rel: &str) -> String {
        format!("{}{rel}", self.base)
    }

    /// Reports a problem at `rel` and answers it so that a hint can be added.
    pub fn report(&mut self, code: Code, rel: &str, message: impl Into<String>) -> &mut Diagnostic {
        let location = Location::new(self.file, self.pointer(rel));
        let d = Diagnostic::new(code, location, message).with_node(self.node.as_deref());
        self.diagnostics.push(d);
        self.diagnostics.last_mut().expect("just pushed")
    }

    /// Deserializes a node's configuration, reporting the first field error with its exact
    /// pointer.
    pub fn config<T: DeserializeOwned>(&mut self, value: Value) -> Option<T> {
        self.config_at("", value)
    }

    /// [`CompileCx::config`] for a part of a node's configuration, found at `base` (a pointer
    /// relative to the node), so that its errors point into it.
    pub fn config_at<T: DeserializeOwned>(&mut self, base: &str, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(config) => Some(config),
            Err(err) => {
                let (code, rel, message) = classify(&err);
                let help = suggestion(&message);
                let diagnostic = self.report(code, &format!("{base}{rel}"), message);
                if let Some(help) = help {
                    diagnostic.set_help(help);
                }
                None
            }
        }
    }

    /// Parses a JSONPath found at `rel`.
    pub fn path(&mut self, source: &str, rel: &str) -> Option<JsonPath> {
        match JsonPath::parse(source) {
            Ok(path) => {
                self.reads.add(|target| path.reaches(target));
                Some(path)
            }
            Err(message) => {
                self.report(Code::InvalidJsonPath, rel, format!("invalid JSONPath `{source}`: {message}"))
                    .set_help(
                        "names with `-` need brackets (`$.request.headers['x-api-key']`); a literal string starting with `$` is written {\"value\": \"$...\"}",
                    );
                None
            }
        }
    }

    /// Compiles a Handlebars template found at `rel`.
    pub fn template(&mut self, source: &str, rel: &str) -> Option<TemplateId> {
        match self.templates.compile(source) {
            Ok(id) => {
                self.reads.add(|target| id.reaches(target));
                Some(id)
            }
            Err(message) => {
                self.report(Code::InvalidTemplate, rel, format!("invalid template: {message}"));
                None
            }
        }
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown variant"): the closest
/// of the names it expected, when one is close.
fn suggestion(message: &str) -> Option<String> {
    if !(message.starts_with("unknown field `") || message.starts_with("unknown variant `")) {
        return None;
    }
    let mut quoted = message.split('`').skip(1).step_by(2);
    let word = quoted.next()?;
    crate::compiler::did_you_mean(word, quoted)
}

/// Turns a serde error into a code, a relative pointer and a message.
fn classify(err: &serde_path_to_error::Error<serde_json::Error>) -> (Code, String, String) {
    // A node's config is a JSON value: every key a string, so every segment named.
    let rel = crate::pointer::of_path(err.path());
    let inner = err.inner().to_string();
    let message = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
    let message = match message.strip_prefix("data did not match any variant of untagged enum ") {
        Some(name) => format!(
            "not a valid {}: check its field names and values against the node reference",
            name.to_lowercase()
        ),
        None => message,
    };
    let code = if message.starts_with("unknown field") {
        Code::UnknownField
    } else if message.starts_with("missing field") {
        Code::MissingField
    } else {
        Code::InvalidValue
    };
    (code, rel, message)
}
