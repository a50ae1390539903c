//! What a node type's compile step works with: its flow's template registry and a diagnostics
//! sink that knows the file, the node and the node's JSON pointer.

use serde::de::DeserializeOwned;
use serde_json::Value;

use hookflow_js::{Kind, Limits, Script};

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
    /// The text of every file the flow's nodes read besides the flow file (see
    /// [`CompileCx::js_file`]), when the flow's version is being made.
    includes: Option<&'a mut Vec<String>>,
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
        CompileCx {
            file,
            node: None,
            base: String::new(),
            templates,
            reads,
            diagnostics,
            includes: None,
        }
    }

    /// Gathers the text of the files the nodes read into `includes`.
    pub fn with_includes(mut self, includes: &'a mut Vec<String>) -> Self {
        self.includes = Some(includes);
        self
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

    /// Compiles JavaScript `source` found at `rel` (a JSON string of the flow file); a syntax
    /// error points at its place inside that string.
    pub fn js(&mut self, source: &str, rel: &str, kind: Kind, limits: Limits) -> Option<Script> {
        match Script::compile(source, kind, limits) {
            Ok(script) => {
                self.reads_script(&script);
                Some(script)
            }
            Err(e) => {
                let d = self.report(Code::InvalidJavaScript, rel, e.message);
                d.location.within = Some((e.line, e.column));
                None
            }
        }
    }

    /// Adds what `script` may read of the context.
    pub fn reads_script(&mut self, script: &Script) {
        let uses = script.uses();
        self.reads.add(|target| uses.reaches(target));
    }

    /// Reads and compiles the JavaScript file `path` (relative to the flow file, inside its
    /// directory), named at `rel`. A syntax error points into the script's file; the file's text
    /// is part of the flow's version.
    pub fn js_file(&mut self, path: &str, rel: &str, kind: Kind, limits: Limits) -> Option<Script> {
        let inside = std::path::Path::new(path)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        if !inside || !path.ends_with(".js") {
            self.report(
                Code::InvalidValue,
                rel,
                format!("`{path}` is not a `.js` file inside the flow file's directory"),
            )
            .set_help("write a relative path such as `code/normalize.js`, without `..`");
            return None;
        }
        let dir = std::path::Path::new(self.file).parent().unwrap_or(std::path::Path::new(""));
        let full = dir.join(path);
        let text = match std::fs::read_to_string(&full) {
            Ok(text) => text,
            Err(e) => {
                let message = format!("cannot read `{}`: {e}", full.display());
                self.report(Code::UnreadableFile, rel, message);
                return None;
            }
        };
        let compiled = Script::compile(&text, kind, limits);
        if let Some(includes) = self.includes.as_deref_mut() {
            includes.push(text);
        }
        match compiled {
            Ok(script) => {
                self.reads_script(&script);
                Some(script)
            }
            Err(e) => {
                let mut location = Location::new(full.display().to_string(), "");
                (location.line, location.column) = (Some(e.line), Some(e.column));
                let related = crate::diagnostic::Related {
                    message: "the code node that loads it".into(),
                    location: Location::new(self.file, self.pointer(rel)),
                };
                let d = Diagnostic::new(Code::InvalidJavaScript, location, e.message)
                    .with_node(self.node.as_deref())
                    .with_related(related);
                self.diagnostics.push(d);
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
