//! hookflow's engine: what flows rely on at run time. [`Engine`] holds it all (the store, the
//! deployed flows, the credential snapshot, history, the worker pool and the reload task), and
//! [`run`] is the one path every execution takes.
//!
//! [`credentials`] issues, rotates and checks the secrets that webhook routes require, and
//! [`auth`] checks a call against its route's auth (and says what its challenge, credential kind
//! and redactions are);
//! [`http_client`] sends the outbound calls of `http_request` nodes, with retries and an SSRF
//! guard on every destination. [`history`] records executions off the request path, built by
//! [`record`]; [`queue`] runs calls answered `202` on a bounded pool of workers and recovers the
//! unfinished ones at start-up, from requests rebuilt by [`rebuild`]; [`retention`] keeps history
//! within its age and count limits; [`replay`] runs a recorded call again on the current version
//! of its flow and compares the two responses. [`provision`] creates the credentials deployed
//! routes name and the store lacks; [`watch`] reports changes of the flow files, [`activation`]
//! keeps the flows switched on or off through the admin API, and [`atomic_file`] writes files
//! whole or not at all ([`cases_file`] writes flow test cases with it). [`store_errors`] counts and logs the store calls that fail.
//! [`collections`] keeps the records of `store` nodes; [`flow_events`] writes the events of
//! `emit` nodes to the outbox and dispatches them to subscriptions and event-triggered flows.

pub mod activation;
pub mod atomic_file;
pub mod auth;
pub mod cases_file;
pub mod collections;
pub mod credentials;
pub mod deployed;
pub mod engine;
pub mod flow_events;
mod group_commit;
pub mod history;
pub mod http_client;
mod idempotency;
pub mod limits;
pub mod metrics;
pub mod outbound;
mod pace;
pub mod provision;
mod queue;
pub mod rebuild;
pub mod record;
pub mod reload;
pub mod replay;
pub mod retention;
pub mod run;
pub mod store_errors;
pub mod watch;

pub use deployed::Deployed;
pub use engine::{Engine, EngineConfig, StartError};
pub use reload::Reloader;
pub use run::CallError;
