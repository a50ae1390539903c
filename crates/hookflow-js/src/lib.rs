//! Sandboxed JavaScript for flows: a script is compiled once to QuickJS bytecode, then run many
//! times on an engine kept per thread, over JSON values, within a time and a memory limit.
//!
//! The sandbox: ES2023 without `eval`, `WeakRef`, `FinalizationRegistry`, network, files,
//! timers, `require` or modules to import. Every built-in object is frozen when an engine starts,
//! and a script's globals (`request`, `nodes`, `execution`, `event`) are copies made for each
//! run, so that nothing one run does is visible to the next; `globalThis` is a fresh object for
//! each run. `console.log` lines are collected (bounded) for the caller.

mod budget;
mod convert;
mod engine;
mod uses;

pub use uses::{Need, Uses};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

/// What a script's source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One expression; its value is the result.
    Expression,
    /// The body of a function; what it returns is the result.
    Body,
}

/// How long a run may take and how much memory it may allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl Limits {
    /// The limits of a `{"js": ...}` expression.
    pub const EXPRESSION: Limits =
        Limits { timeout: Duration::from_millis(100), memory_bytes: 16 << 20 };
}

/// The names a script sees besides the built-ins, in the order the compiled function takes them.
pub const GLOBALS: [&str; 4] = ["request", "nodes", "execution", "event"];

/// The values of [`GLOBALS`] for one run; an absent one is `undefined`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Globals<'a> {
    pub request: Option<&'a Value>,
    pub nodes: Option<&'a Value>,
    pub execution: Option<&'a Value>,
    pub event: Option<&'a Value>,
}

/// A syntax error, at a 1-based line and column of the script's own source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// Why a run produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The script threw: the message, and the line of the script it was thrown at when known.
    Thrown { message: String, line: Option<usize> },
    /// The script was stopped at its time limit.
    Timeout(Duration),
    /// The script was stopped at its memory limit (bytes).
    Memory(usize),
    /// The script's result cannot be JSON (a `BigInt`, a value nested too deep, a promise that
    /// never settles).
    Result(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Thrown { message, line: Some(line) } => write!(f, "{message} (line {line})"),
            RunError::Thrown { message, line: None } => f.write_str(message),
            RunError::Timeout(limit) => {
                write!(f, "stopped at its time limit of {} ms", limit.as_millis())
            }
            RunError::Memory(limit) => {
                write!(f, "stopped at its memory limit of {} MiB", limit.div_ceil(1 << 20))
            }
            RunError::Result(message) => f.write_str(message),
        }
    }
}

/// What a run produced: its value (`None` for `undefined`) or why it failed, and the lines it
/// logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub result: Result<Option<Value>, RunError>,
    pub logs: Vec<String>,
}

/// A compiled script, cheap to clone and to share between threads: its bytecode is loaded into
/// each thread's engine the first time that thread runs it.
#[derive(Debug, Clone)]
pub struct Script {
    inner: Arc<Compiled>,
}

#[derive(Debug)]
struct Compiled {
    /// Unique in the process: the key of the loaded function in each engine.
    id: u64,
    bytecode: Box<[u8]>,
    /// Which of [`GLOBALS`] the source names, and whether it names `globalThis`: only those are
    /// built for a run.
    uses: Uses,
    limits: Limits,
}

/// The line the wrapper adds before the script's source (see [`wrap`]).
const WRAPPER_LINES: usize = 1;

/// The module a script compiles to: its source inside a function taking [`GLOBALS`] and
/// `globalThis`, on a line of its own so that lines map by [`WRAPPER_LINES`] and columns as they
/// are.
fn wrap(source: &str, kind: Kind) -> String {
    let params = GLOBALS.join(", ");
    match kind {
        Kind::Expression => {
            let expr = source.trim_end().trim_end_matches(';');
            format!("export default function ({params}, globalThis) {{ return (\n{expr}\n); }}")
        }
        Kind::Body => format!("export default function ({params}, globalThis) {{\n{source}\n}}"),
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Script {
    /// Compiles `source`; a syntax error names its line and column in `source`.
    pub fn compile(source: &str, kind: Kind, limits: Limits) -> Result<Script, SyntaxError> {
        let bytecode = engine::compile(&wrap(source, kind)).map_err(|mut e| {
            // Found in what the wrapper closes with: the source ended too soon.
            let lines = source.lines().count().max(1);
            if e.line > lines {
                let what = if kind == Kind::Expression { "expression" } else { "code" };
                e.message = format!("the {what} ends too soon: {}", e.message);
                e.line = lines;
                e.column = source.lines().last().map_or(0, |l| l.chars().count()) + 1;
            }
            e
        })?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let uses = Uses::of(source);
        Ok(Script { inner: Arc::new(Compiled { id, bytecode, uses, limits }) })
    }

    /// What the script may read.
    pub fn uses(&self) -> &Uses {
        &self.inner.uses
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Runs the script on this thread's engine.
    pub fn run(&self, globals: Globals<'_>) -> Run {
        engine::run(&self.inner, globals)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn expr(source: &str) -> Script {
        Script::compile(source, Kind::Expression, Limits::EXPRESSION).expect("compiles")
    }

    fn body(source: &str, limits: Limits) -> Script {
        Script::compile(source, Kind::Body, limits).expect("compiles")
    }

    const CODE: Limits = Limits { timeout: Duration::from_millis(200), memory_bytes: 8 << 20 };

    #[test]
    fn an_expression_computes_over_the_request() {
        let request = json!({ "body": { "items": [{ "q": 1 }, { "q": 3 }], "total": 99.99 } });
        let globals = Globals { request: Some(&request), ..Globals::default() };
        let count = expr("request.body.items.length").run(globals);
        assert_eq!(count.result, Ok(Some(json!(2))));
        let vat = expr("Math.round(request.body.total * 1.2 * 100) / 100;").run(globals);
        assert_eq!(vat.result, Ok(Some(json!(119.99))));
        let first = expr("request.body.items.find(i => i.q > 1)").run(globals);
        assert_eq!(first.result, Ok(Some(json!({ "q": 3 }))));
        let nothing = expr("request.body.nope").run(globals);
        assert_eq!(nothing.result, Ok(None));
        let date = expr("new Date(0)").run(globals);
        assert_eq!(date.result, Ok(Some(json!("1970-01-01T00:00:00.000Z"))));
        let odd = expr("[1 / 0, NaN, undefined, () => 1, 2 ** 53]").run(globals);
        assert_eq!(odd.result, Ok(Some(json!([null, null, null, null, 9007199254740992_u64]))));
        let object = expr("({ a: undefined, f() {}, b: [1.5, 'x', true, null] })").run(globals);
        assert_eq!(object.result, Ok(Some(json!({ "b": [1.5, "x", true, null] }))));
    }

    #[test]
    fn a_body_returns_logs_and_throws_with_its_line() {
        let request = json!({ "body": { "name": "ada" } });
        let globals = Globals { request: Some(&request), ..Globals::default() };
        let run =
            body("console.log('hi', { a: 1 }, 2);\nreturn request.body.name.toUpperCase();", CODE)
                .run(globals);
        assert_eq!(run.result, Ok(Some(json!("ADA"))));
        assert_eq!(run.logs, vec![r#"hi {"a":1} 2"#.to_owned()]);
        let thrown = body("const a = 1;\n\nthrow new Error('no ' + a);", CODE).run(globals);
        assert_eq!(
            thrown.result,
            Err(RunError::Thrown { message: "Error: no 1".into(), line: Some(3) })
        );
        let typed = body("return request.body.missing.deep;", CODE).run(globals);
        let Err(RunError::Thrown { message, line }) = typed.result else { panic!("{typed:?}") };
        assert!(message.starts_with("TypeError: cannot read property 'deep'"), "{message}");
        assert_eq!(line, Some(1));
        let string = body("throw 'plain';", CODE).run(globals);
        assert_eq!(string.result, Err(RunError::Thrown { message: "plain".into(), line: None }));
        assert_eq!(body("let x = 1;", CODE).run(globals).result, Ok(None));
    }

    #[test]
    fn syntax_errors_name_their_line_and_column() {
        let err = Script::compile("let a = 1;\n  a = = 2;", Kind::Body, CODE).unwrap_err();
        assert_eq!((err.line, err.column), (2, 7), "{err:?}");
        assert!(err.message.contains("unexpected token"), "{err:?}");
        let err = Script::compile("1 +", Kind::Expression, CODE).unwrap_err();
        assert_eq!(err.line, 1, "{err:?}");
        let err = Script::compile("import x from 'y'; return x", Kind::Body, CODE).unwrap_err();
        assert_eq!(err.line, 1, "{err:?}");
    }

    #[test]
    fn limits_stop_a_loop_and_an_allocation() {
        let globals = Globals::default();
        let looping = body("while (true) {}", CODE).run(globals);
        assert_eq!(looping.result, Err(RunError::Timeout(CODE.timeout)));
        let catching = body("for (;;) { try { while (true) {} } catch (e) {} }", CODE).run(globals);
        assert_eq!(catching.result, Err(RunError::Timeout(CODE.timeout)));
        let growing =
            body("const a = []; for (;;) a.push('x'.repeat(1000) + a.length);", CODE).run(globals);
        assert_eq!(growing.result, Err(RunError::Memory(CODE.memory_bytes)));
        let swallowed = body(
            "const a = []; try { for (;;) a.push(new Array(1e5).fill(1)); } catch (e) {} return 1;",
            CODE,
        )
        .run(globals);
        assert_eq!(swallowed.result, Err(RunError::Memory(CODE.memory_bytes)));
        let deep = body("function f(n) { return f(n + 1) + 1; }\nreturn f(0);", CODE).run(globals);
        let Err(RunError::Thrown { message, .. }) = deep.result else { panic!("{deep:?}") };
        assert!(message.contains("Maximum call stack size exceeded"), "{message}");
        let nested = body("let a = []; for (let i = 0; i < 1000; i++) a = [a]; return a;", CODE)
            .run(globals);
        let Err(RunError::Result(message)) = nested.result else { panic!("{nested:?}") };
        assert!(message.contains("deeper than 128"), "{message}");
        // The engine is whole again afterwards.
        assert_eq!(body("return 1 + 1;", CODE).run(globals).result, Ok(Some(json!(2))));
    }

    #[test]
    fn no_io_no_modules_and_nothing_kept_between_runs() {
        let globals = Globals::default();
        let kinds = "[typeof fetch, typeof require, typeof setTimeout, typeof eval, \
                     typeof XMLHttpRequest, typeof WeakRef, typeof process]";
        assert_eq!(expr(kinds).run(globals).result, Ok(Some(json!(vec!["undefined"; 7]))));
        let import = body("return import('fs');", CODE).run(globals);
        let Err(RunError::Thrown { message, .. }) = import.result else { panic!("{import:?}") };
        assert!(message.contains("fs"), "{message}");
        let write =
            body("globalThis.count = (globalThis.count || 0) + 1; return globalThis.count;", CODE);
        assert_eq!(write.run(globals).result, Ok(Some(json!(1))));
        assert_eq!(write.run(globals).result, Ok(Some(json!(1))));
        let pollute = body("Array.prototype.evil = 1;", CODE).run(globals);
        assert!(pollute.result.is_err(), "{pollute:?}");
        assert_eq!(expr("[].evil").run(globals).result, Ok(None));
        let overridden = body(
            "class Oops extends Error { constructor() { super('x'); this.name = 'Oops'; } }\n\
             const o = {}; o.toString = () => 'mine'; return [new Oops().name, String(o)];",
            CODE,
        )
        .run(globals);
        assert_eq!(overridden.result, Ok(Some(json!(["Oops", "mine"]))));
        let request = json!({ "body": { "a": 1 } });
        let with = Globals { request: Some(&request), ..Globals::default() };
        let mutate = body("request.body.a = 2; return request.body.a;", CODE).run(with);
        assert_eq!(mutate.result, Ok(Some(json!(2))));
        assert_eq!(request, json!({ "body": { "a": 1 } }), "the caller's value is untouched");
        let promise = body("return Promise.resolve(5).then(x => x * 2);", CODE).run(globals);
        assert_eq!(promise.result, Ok(Some(json!(10))));
    }

    #[test]
    fn scripts_run_on_any_thread() {
        let script = expr("request.n * 2");
        let handles: Vec<_> = (0..4)
            .map(|n| {
                let script = script.clone();
                std::thread::spawn(move || {
                    let request = json!({ "n": n });
                    script.run(Globals { request: Some(&request), ..Globals::default() }).result
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results, (0..4).map(|n| Ok(Some(json!(n * 2)))).collect::<Vec<_>>());
    }
}
