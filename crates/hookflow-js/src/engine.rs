//! The engine each thread keeps: one QuickJS runtime and context, locked down when it starts,
//! with the functions of the scripts this thread has run, loaded once from their bytecode.
//!
//! A run sets a deadline (checked by the runtime's interrupt handler) and a memory budget (kept
//! by the allocator), builds the globals the script names, calls its function, drives promise
//! jobs until its result settles, and converts the result. An engine that stopped a run at a
//! limit, or that has loaded many modules (each flow version's scripts stay loaded until the
//! engine goes), is dropped and started afresh at the next run.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use rquickjs::function::{Func, Rest};
use rquickjs::module::WriteOptions;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Module, Object, Persistent};
use rquickjs::{Runtime, Value as JsValue};

use crate::budget::{Budget, Counting};
use crate::convert::{from_js, needed_to_js};
use crate::{Compiled, Globals, Run, RunError, SyntaxError, WRAPPER_LINES};

/// The name every script's module has, as it appears in stack traces.
const MODULE: &str = "script";
/// How many modules an engine loads before it is started afresh.
const MAX_MODULES: usize = 1024;
/// How much the engine allocates between two runs of the cycle collector.
const GC_THRESHOLD: usize = 4 << 20;
/// The native stack a script may use.
const MAX_STACK: usize = 512 << 10;
/// The lines of `console` output a run keeps, and the characters of each.
const MAX_LOG_LINES: usize = 100;
const MAX_LOG_CHARS: usize = 1000;

/// Freezes the built-ins and removes what a sandbox has no use for (see the file).
const LOCKDOWN: &str = include_str!("lockdown.js");

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// What `console` has written during a run.
#[derive(Debug, Default)]
struct Logs {
    lines: Vec<String>,
    dropped: usize,
}

// Fields drop in order: the loaded functions before the context, the context before the runtime.
struct Engine {
    functions: Loaded,
    context: Context,
    _runtime: Runtime,
    budget: Rc<Budget>,
    deadline: Rc<Cell<Option<Instant>>>,
    interrupted: Rc<Cell<bool>>,
    logs: Rc<RefCell<Logs>>,
    modules: usize,
}

impl Engine {
    fn start() -> rquickjs::Result<Engine> {
        let budget = Budget::new();
        let runtime = Runtime::new_with_alloc(Counting { budget: budget.clone() })?;
        runtime.set_max_stack_size(MAX_STACK);
        // Reference counting frees what a run leaves; the cycle collector, which walks every
        // object (the frozen built-ins included), need not run every few hundred kilobytes.
        runtime.set_gc_threshold(GC_THRESHOLD);
        let deadline = Rc::new(Cell::new(None::<Instant>));
        let interrupted = Rc::new(Cell::new(false));
        let (d, i) = (deadline.clone(), interrupted.clone());
        runtime.set_interrupt_handler(Some(Box::new(move || {
            let late = d.get().is_some_and(|at| Instant::now() >= at);
            i.set(i.get() | late);
            late
        })));
        let context = Context::full(&runtime)?;
        let logs = Rc::new(RefCell::new(Logs::default()));
        context.with(|ctx| {
            install_console(&ctx, &logs)?;
            ctx.eval::<(), _>(LOCKDOWN)
        })?;
        Ok(Engine {
            functions: Loaded::default(),
            context,
            _runtime: runtime,
            budget,
            deadline,
            interrupted,
            logs,
            modules: 0,
        })
    }
}

/// `console.log` and its siblings, writing to `logs` (bounded).
fn install_console(ctx: &Ctx<'_>, logs: &Rc<RefCell<Logs>>) -> rquickjs::Result<()> {
    let console = Object::new(ctx.clone())?;
    for (name, prefix) in
        [("log", ""), ("info", ""), ("debug", ""), ("warn", "warn: "), ("error", "error: ")]
    {
        let logs = logs.clone();
        let write = move |args: Rest<JsValue<'_>>| {
            let mut logs = logs.borrow_mut();
            if logs.lines.len() >= MAX_LOG_LINES {
                logs.dropped += 1;
                return;
            }
            let mut line = String::from(prefix);
            for (n, arg) in args.0.into_iter().enumerate() {
                if n > 0 {
                    line.push(' ');
                }
                line.push_str(&show(arg));
            }
            if line.chars().count() > MAX_LOG_CHARS {
                line = line.chars().take(MAX_LOG_CHARS).collect::<String>() + "…";
            }
            logs.lines.push(line);
        };
        console.set(name, Func::from(write))?;
    }
    ctx.globals().set("console", console)
}

/// A value as `console.log` shows it: a string as it is, an error as its message, anything
/// else as JSON.
fn show(value: JsValue<'_>) -> String {
    if let Some(s) = value.as_string() {
        return s.to_string().unwrap_or_default();
    }
    if value.is_error()
        && let Some(e) = value.as_exception()
    {
        return e.message().map_or_else(|| "Error".to_owned(), |m| format!("Error: {m}"));
    }
    if value.is_undefined() {
        return "undefined".to_owned();
    }
    match from_js(value) {
        Ok(Ok(Some(json))) => json.to_string(),
        Ok(Ok(None)) => "undefined".to_owned(),
        Ok(Err(e)) => format!("[{e}]"),
        Err(e) => format!("[{e}]"),
    }
}

/// Runs `f` on this thread's engine, starting one when there is none (or the last was dropped).
fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> R {
    ENGINE.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.as_ref().is_some_and(|e| e.modules >= MAX_MODULES) {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(Engine::start().expect("a JavaScript engine starts"));
        }
        f(slot.as_mut().expect("started above"))
    })
}

/// Drops this thread's engine (after a run it stopped at a limit).
fn drop_engine() {
    ENGINE.with(|slot| slot.borrow_mut().take());
}

/// Compiles the module `source` to bytecode.
pub fn compile(source: &str) -> Result<Box<[u8]>, SyntaxError> {
    with_engine(|engine| {
        engine.modules += 1;
        engine.context.with(|ctx| {
            let declared = Module::declare(ctx.clone(), MODULE, source).catch(&ctx);
            let written = declared.and_then(|m| m.write(WriteOptions::default()).catch(&ctx));
            written.map(Vec::into_boxed_slice).map_err(|e| {
                let (message, at) = caught(e);
                let (line, column) = at.unwrap_or((WRAPPER_LINES + 1, 1));
                SyntaxError { message, line: line.saturating_sub(WRAPPER_LINES).max(1), column }
            })
        })
    })
}

/// An error's message and where in the module it arose (line, column), when it says.
fn caught(e: CaughtError<'_>) -> (String, Option<(usize, usize)>) {
    match e {
        CaughtError::Exception(e) => {
            let message = e.message().unwrap_or_default();
            let name: Option<String> = e.get("name").ok();
            let message = match name {
                Some(name) if !name.is_empty() && name != "SyntaxError" => {
                    format!("{name}: {message}")
                }
                _ => message,
            };
            (message, e.stack().as_deref().and_then(position))
        }
        CaughtError::Value(v) => (show(v), None),
        CaughtError::Error(e) => (e.to_string(), None),
    }
}

/// The first `script:line:column` of a stack trace.
fn position(stack: &str) -> Option<(usize, usize)> {
    let at = stack.find(&format!("{MODULE}:"))? + MODULE.len() + 1;
    let mut numbers = stack[at..].split(|c: char| !c.is_ascii_digit());
    let line = numbers.next()?.parse().ok()?;
    let column = numbers.next()?.parse().ok()?;
    Some((line, column))
}

/// Runs `script` with `globals` on this thread's engine.
pub fn run(script: &Arc<Compiled>, globals: Globals<'_>) -> Run {
    let limits = script.limits;
    let (result, stopped, logs) = with_engine(|engine| {
        let deadline = Instant::now() + limits.timeout;
        engine.deadline.set(Some(deadline));
        engine.interrupted.set(false);
        engine.budget.limit(limits.memory_bytes);
        let Engine { functions, context, modules, .. } = &mut *engine;
        let result = context.with(|ctx| {
            let result = call(Functions { loaded: functions, modules }, &ctx, script, globals);
            // Jobs a run left (a promise it did not wait for) run now, within its limits.
            while ctx.execute_pending_job() && Instant::now() < deadline {}
            result
        });
        engine.deadline.set(None);
        let refused = engine.budget.lift();
        let interrupted = engine.interrupted.replace(false);
        let result = if interrupted {
            Err(RunError::Timeout(limits.timeout))
        } else if refused {
            Err(RunError::Memory(limits.memory_bytes))
        } else {
            result
        };
        let mut logs = std::mem::take(&mut *engine.logs.borrow_mut());
        if logs.dropped > 0 {
            logs.lines.push(format!("… {} more lines not kept", logs.dropped));
        }
        (result, interrupted || refused, logs.lines)
    });
    if stopped {
        drop_engine();
    }
    Run { result, logs }
}

/// The functions an engine has loaded, by script id.
type Loaded =
    HashMap<u64, (Arc<Compiled>, Persistent<Function<'static>>), BuildHasherDefault<IdHasher>>;

/// Hashes a script id as it is: ids are distinct counters, not chosen by anyone.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The parts of the engine a call works with.
struct Functions<'e> {
    loaded: &'e mut Loaded,
    modules: &'e mut usize,
}

/// Calls `script`'s function: its result converted, or the error it ended with.
fn call<'js>(
    functions: Functions<'_>,
    ctx: &Ctx<'js>,
    script: &Arc<Compiled>,
    globals: Globals<'_>,
) -> Result<Option<serde_json::Value>, RunError> {
    let thrown = |e: CaughtError<'_>| {
        let (message, at) = caught(e);
        RunError::Thrown { message, line: at.map(|(line, _)| line.saturating_sub(WRAPPER_LINES)) }
    };
    let function = load(functions, ctx, script).map_err(thrown)?;
    let uses = &script.uses;
    let arg = |value: Option<&serde_json::Value>, need: &crate::Need| match value {
        Some(value) if need.any() => needed_to_js(ctx, value, need).catch(ctx).map_err(thrown),
        _ => Ok(JsValue::new_undefined(ctx.clone())),
    };
    let [request, nodes, execution, event] = &uses.globals;
    let global_this = if uses.global_this {
        Object::new(ctx.clone()).catch(ctx).map_err(thrown)?.into_value()
    } else {
        JsValue::new_undefined(ctx.clone())
    };
    let args = (
        arg(globals.request, request)?,
        arg(globals.nodes, nodes)?,
        arg(globals.execution, execution)?,
        arg(globals.event, event)?,
        global_this,
    );
    let mut value: JsValue = function.call(args).catch(ctx).map_err(thrown)?;
    if let Some(promise) = value.as_promise().cloned() {
        value = match promise.finish::<JsValue>() {
            Err(rquickjs::Error::WouldBlock) => {
                return Err(RunError::Result(
                    "the script returned a promise that never settles".into(),
                ));
            }
            other => other.catch(ctx).map_err(thrown)?,
        };
    }
    match from_js(value).catch(ctx).map_err(thrown)? {
        Ok(json) => Ok(json),
        Err(message) => Err(RunError::Result(message)),
    }
}

/// `script`'s function on this engine, loaded from its bytecode the first time.
fn load<'js>(
    functions: Functions<'_>,
    ctx: &Ctx<'js>,
    script: &Arc<Compiled>,
) -> Result<Function<'js>, CaughtError<'js>> {
    if let Some((_, function)) = functions.loaded.get(&script.id) {
        return function.clone().restore(ctx).catch(ctx);
    }
    *functions.modules += 1;
    // SAFETY: the bytecode was written by `compile` above, by this same QuickJS, and is never
    // changed afterwards.
    #[allow(unsafe_code)]
    let module = unsafe { Module::load(ctx.clone(), &script.bytecode) }.catch(ctx)?;
    let (module, evaluated) = module.eval().catch(ctx)?;
    evaluated.finish::<()>().catch(ctx)?;
    let function: Function = module.get("default").catch(ctx)?;
    functions.loaded.insert(script.id, (script.clone(), Persistent::save(ctx, function.clone())));
    Ok(function)
}
