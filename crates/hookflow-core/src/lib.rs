//! hookflow's core: the flow model, diagnostics, the compiler, the route table, the node types
//! and the executor. No sockets and no storage here: the runtime and the server build on it.

pub mod cases;
pub mod chains;
pub mod compile_cx;
pub mod compiler;
pub mod context;
pub mod cors;
pub mod deploy;
pub mod diagnostic;
pub mod execute;
pub mod expr;
pub mod flowset;
pub mod idempotency;
pub mod intake;
pub mod json_diff;
pub mod json_object;
pub mod json_schema;
pub mod layout;
pub mod limits;
mod locate;
mod member;
pub mod message;
pub mod networks;
pub mod nodes;
pub mod offline;
pub mod path;
pub mod plan;
pub mod pointer;
pub mod response;
pub mod routes;
pub mod schema;
pub mod services;
pub mod template;
pub mod trace;
pub mod trigger;

pub use compiler::{Compiled, Source, compile};
pub use context::{ExecutionMeta, Request, RequestHead};
pub use diagnostic::{Code, Diagnostic, Severity};
pub use execute::{Execution, Prepared, execute};
pub use flowset::{FlowSet, compile_all, read_sources};
pub use plan::Plan;
pub use response::{Body, Response};
pub use routes::{Lookup, RouteTable};
pub use trigger::Trigger;
