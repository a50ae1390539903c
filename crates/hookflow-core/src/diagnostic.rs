//! Flow diagnostics: stable codes, where a problem is, and the one renderer used by the CLI, the
//! admin API and the tests.

use std::fmt::{self, Write as _};

use serde::Serialize;

/// How bad a diagnostic is: an error keeps a flow from deploying, a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Every kind of problem the compiler reports. The `id` and `name` of a code never change: tools
/// and integrators match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    JsonSyntax,
    InvalidValue,
    UnknownField,
    MissingField,
    UnknownNodeType,
    DuplicateNodeId,
    UnknownEdgeEndpoint,
    UnknownBranchOutput,
    Cycle,
    NoTrigger,
    MultipleTriggers,
    InvalidJsonPath,
    InvalidTemplate,
    InvalidSuffix,
    RouteConflict,
    InvalidHeader,
    InvalidStatus,
    MissingEdgeOutput,
    UnexpectedEdgeOutput,
    DuplicateFlowId,
    InvalidRegex,
    UnreadableFile,
    RespondWithoutCaller,
    InvalidJavaScript,
    UnreachableNode,
    OutputGoesNowhere,
    EventCycle,
}

impl Code {
    /// Every code, in id order (used by the docs test and the schema).
    pub const ALL: &'static [Code] = &[
        Code::JsonSyntax,
        Code::InvalidValue,
        Code::UnknownField,
        Code::MissingField,
        Code::UnknownNodeType,
        Code::DuplicateNodeId,
        Code::UnknownEdgeEndpoint,
        Code::UnknownBranchOutput,
        Code::Cycle,
        Code::NoTrigger,
        Code::MultipleTriggers,
        Code::InvalidJsonPath,
        Code::InvalidTemplate,
        Code::InvalidSuffix,
        Code::RouteConflict,
        Code::InvalidHeader,
        Code::InvalidStatus,
        Code::MissingEdgeOutput,
        Code::UnexpectedEdgeOutput,
        Code::DuplicateFlowId,
        Code::InvalidRegex,
        Code::UnreadableFile,
        Code::RespondWithoutCaller,
        Code::InvalidJavaScript,
        Code::UnreachableNode,
        Code::OutputGoesNowhere,
        Code::EventCycle,
    ];

    /// The stable short id, e.g. `E012`.
    pub fn id(self) -> &'static str {
        self.meta().0
    }

    /// The stable readable name, e.g. `invalid-jsonpath`.
    pub fn name(self) -> &'static str {
        self.meta().1
    }

    pub fn severity(self) -> Severity {
        if self.id().starts_with('W') { Severity::Warning } else { Severity::Error }
    }

    fn meta(self) -> (&'static str, &'static str) {
        match self {
            Code::JsonSyntax => ("E001", "json-syntax"),
            Code::InvalidValue => ("E002", "invalid-value"),
            Code::UnknownField => ("E003", "unknown-field"),
            Code::MissingField => ("E004", "missing-field"),
            Code::UnknownNodeType => ("E005", "unknown-node-type"),
            Code::DuplicateNodeId => ("E006", "duplicate-node-id"),
            Code::UnknownEdgeEndpoint => ("E007", "unknown-edge-endpoint"),
            Code::UnknownBranchOutput => ("E008", "unknown-branch-output"),
            Code::Cycle => ("E009", "cycle"),
            Code::NoTrigger => ("E010", "no-trigger"),
            Code::MultipleTriggers => ("E011", "multiple-triggers"),
            Code::InvalidJsonPath => ("E012", "invalid-jsonpath"),
            Code::InvalidTemplate => ("E013", "invalid-template"),
            Code::InvalidSuffix => ("E014", "invalid-suffix"),
            Code::RouteConflict => ("E015", "route-conflict"),
            Code::InvalidHeader => ("E016", "invalid-header"),
            Code::InvalidStatus => ("E017", "invalid-status"),
            Code::MissingEdgeOutput => ("E018", "missing-edge-output"),
            Code::UnexpectedEdgeOutput => ("E019", "unexpected-edge-output"),
            Code::DuplicateFlowId => ("E020", "duplicate-flow-id"),
            Code::InvalidRegex => ("E021", "invalid-regex"),
            Code::UnreadableFile => ("E022", "unreadable-file"),
            Code::RespondWithoutCaller => ("E023", "respond-without-caller"),
            Code::InvalidJavaScript => ("E024", "invalid-javascript"),
            Code::UnreachableNode => ("W001", "unreachable-node"),
            Code::OutputGoesNowhere => ("W002", "output-goes-nowhere"),
            Code::EventCycle => ("W003", "event-cycle"),
        }
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// A place in a flow file: the file, a JSON pointer into it and, once resolved against the file's
/// text, a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub pointer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// A place inside the string value at the pointer (its 1-based line and column, as the
    /// string reads decoded): `line` and `column` are then that place in the file.
    #[serde(skip)]
    pub within: Option<(usize, usize)>,
}

impl Location {
    pub fn new(file: impl Into<String>, pointer: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            pointer: pointer.into(),
            line: None,
            column: None,
            within: None,
        }
    }

    /// Fills `line` and `column` from the file's text, when the pointer can be found in it.
    pub fn resolve(&mut self, text: &str) {
        let found = match self.within {
            Some(within) => crate::locate::line_column_within(text, &self.pointer, within)
                .or_else(|| crate::locate::line_column(text, &self.pointer)),
            None => crate::locate::line_column(text, &self.pointer),
        };
        if self.line.is_none()
            && let Some((line, column)) = found
        {
            self.line = Some(line);
            self.column = Some(column);
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        Ok(())
    }
}

/// Something else a diagnostic points at (e.g. the other flow of a route conflict).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Related {
    pub message: String,
    pub location: Location,
}

/// One problem found in a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub name: &'static str,
    pub message: String,
    pub location: Location,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: code.severity(),
            code,
            name: code.name(),
            message: message.into(),
            location,
            node: None,
            related: Vec::new(),
            help: None,
        }
    }

    pub fn with_node(mut self, node: Option<&str>) -> Self {
        self.node = node.map(str::to_owned);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a hint in place (for a diagnostic already in a sink).
    pub fn set_help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(mut self, related: Related) -> Self {
        self.related.push(related);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The human form, as the CLI prints it:
    ///
    /// ```text
    /// error[E015 route-conflict]: POST /hooks/orders/{id} is already served by flow `legacy`
    ///  --> flows/orders.json:9:17 (#/nodes/0/suffix, node `hook`)
    ///   = note: flows/legacy.json:5:3 (#/nodes/0/suffix): the other route
    ///   = help: change the suffix, or drop POST from `methods`
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{level}[{} {}]: {}", self.code.id(), self.code.name(), self.message);
        let _ = write!(out, " --> {} (#{}", self.location, self.location.pointer);
        if let Some(node) = &self.node {
            let _ = write!(out, ", node `{node}`");
        }
        out.push_str(")\n");
        for related in &self.related {
            let _ = writeln!(
                out,
                "  = note: {} (#{}): {}",
                related.location, related.location.pointer, related.message
            );
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

/// Renders every diagnostic followed by a summary line (`2 errors, 1 warning`).
pub fn render_all(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&d.render());
        out.push('\n');
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let _ = writeln!(out, "{}, {}", plural(errors, "error"), plural(warnings, "warning"));
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_stable() {
        let mut ids: Vec<_> = Code::ALL.iter().map(|c| c.id()).collect();
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.name()).collect();
        ids.sort_unstable();
        ids.dedup();
        names.sort_unstable();
        names.dedup();
        assert_eq!(ids.len(), Code::ALL.len());
        assert_eq!(names.len(), Code::ALL.len());
        assert_eq!(Code::InvalidJsonPath.id(), "E012");
        assert_eq!(Code::UnreachableNode.severity(), Severity::Warning);
    }

    #[test]
    fn renders_location_node_related_and_help() {
        let mut location = Location::new("flows/a.json", "/nodes/0/suffix");
        location.line = Some(9);
        location.column = Some(17);
        let d = Diagnostic::new(Code::RouteConflict, location, "POST /hooks/x is already served")
            .with_node(Some("hook"))
            .with_related(Related {
                message: "the other route".into(),
                location: Location::new("flows/b.json", "/nodes/0/suffix"),
            })
            .with_help("change the suffix");
        expect_test::expect![[r#"
            error[E015 route-conflict]: POST /hooks/x is already served
             --> flows/a.json:9:17 (#/nodes/0/suffix, node `hook`)
              = note: flows/b.json (#/nodes/0/suffix): the other route
              = help: change the suffix
        "#]]
        .assert_eq(&d.render());
    }
}
