//! Hot reload: one task makes every change to the served flows. The flows watcher, SIGHUP and
//! `POST /api/reload` send it a reload; the admin API's writes (a flow put or deleted, activated
//! or deactivated) send it their change. Reloads asked for while it works are taken together as
//! one. Every change goes the same way: read the flow files → compile and check them against
//! what serves ([`hookflow_core::deploy`]) → create the credentials new routes name → swap the
//! [`Deployed`] snapshot whole. Requests in flight finish on the snapshot they loaded. Each
//! reload is logged with its report, counted in `hookflow_reloads_total{outcome}` and kept as
//! the last report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use hookflow_core::deploy::{Deployment, FlowChange, Status, deploy};
use hookflow_core::diagnostic::render_all;
use hookflow_core::{Code, Diagnostic, Plan, Source, read_sources};
use hookflow_store::clock::now_ms;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::activation::Activation;
use crate::credentials::CredentialError;
use crate::deployed::Deployed;
use crate::engine::Engine;
use crate::metrics::RELOADS;
use crate::outbound::Outbound;
use crate::outbound::events::{
    Event, FLOW_ACTIVATED, FLOW_DEACTIVATED, FLOW_DEPLOYED, FLOW_REJECTED, FLOW_REMOVED,
};
use crate::store_errors::store_error;
use crate::{atomic_file, provision};

/// Commands that may wait for the task before senders wait.
const INBOX: usize = 64;

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Startup,
    /// A flow file changed (the flows watcher).
    Watch,
    /// SIGHUP.
    Signal,
    /// `POST /api/reload`.
    Api,
    /// `PUT /api/flows/{id}`.
    Put,
    /// `DELETE /api/flows/{id}`.
    Delete,
    /// `POST /api/flows/{id}/activate`.
    Activate,
    /// `POST /api/flows/{id}/deactivate`.
    Deactivate,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Watch => "watch",
            Trigger::Signal => "signal",
            Trigger::Api => "api",
            Trigger::Put => "put",
            Trigger::Delete => "delete",
            Trigger::Activate => "activate",
            Trigger::Deactivate => "deactivate",
        }
    }
}

/// How a reload went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every flow file deployed (or nothing changed).
    Applied,
    /// Some files were rejected, other changes were applied.
    Partial,
    /// Nothing was applied: the flow files could not be read, or every file that differs from
    /// what serves was rejected.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
        }
    }
}

/// One flow file in a reload report.
#[derive(Debug, Clone)]
pub struct FlowReport {
    pub id: Option<String>,
    pub file: String,
    pub status: Status,
    /// The version of the file as read.
    pub version: Option<String>,
    /// The version that serves after the reload.
    pub serving: Option<String>,
    /// The version that served before it.
    pub previous: Option<String>,
    /// Whether the serving version's routes answer.
    pub active: Option<bool>,
    pub diagnostics: Vec<Diagnostic>,
}

/// What one reload did.
#[derive(Debug, Clone)]
pub struct Report {
    /// 1 for the start-up load, then one more per reload.
    pub seq: u64,
    pub triggers: Vec<Trigger>,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub outcome: Outcome,
    /// Why nothing could be applied, when the flow files could not be read or the store failed.
    pub error: Option<String>,
    pub flows: Vec<FlowReport>,
    /// The names of the credentials created for new routes (their secrets are printed once to
    /// the server's standard output, never reported).
    pub credentials_created: Vec<String>,
    /// Every diagnostic, in the order `hookflow validate` prints them.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// The flows with `status`.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &FlowReport> {
        self.flows.iter().filter(move |f| f.status == status)
    }

    /// The report as the admin API answers it.
    pub fn to_json(&self) -> Value {
        let count = |status| self.with_status(status).count();
        let flows: Vec<Value> = self
            .flows
            .iter()
            .map(|f| {
                json!({
                    "id": f.id,
                    "file": f.file,
                    "status": f.status.as_str(),
                    "version": f.version,
                    "serving_version": f.serving,
                    "previous_version": f.previous,
                    "active": f.active,
                    "diagnostics": f.diagnostics,
                })
            })
            .collect();
        json!({
            "reload": self.seq,
            "triggers": self.triggers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "started_at": humantime::format_rfc3339_millis(self.started_at).to_string(),
            "duration_ms": u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            "outcome": self.outcome.as_str(),
            "error": self.error,
            "summary": {
                "added": count(Status::Added),
                "changed": count(Status::Changed),
                "removed": count(Status::Removed),
                "rejected": count(Status::Rejected),
                "unchanged": count(Status::Unchanged),
            },
            "flows": flows,
            "credentials_created": self.credentials_created,
        })
    }
}

/// A change the admin API asks for.
#[derive(Debug)]
pub enum Change {
    /// Write `text` as flow `id`'s file (its current file, or `<flows>/<id>.json`).
    Put { id: String, text: String },
    /// Remove flow `id`'s file (and its activation entry).
    Delete { id: String },
    /// Switch flow `id` on or off (kept in the data directory).
    SetActive { id: String, active: bool },
}

/// Why a change was not made.
#[derive(Debug)]
pub enum ChangeError {
    /// No flow has this id (none serves, no flow file names it).
    NoSuchFlow(String),
    /// Flow `id` would not deploy; nothing was written. `conflict` when it lost to another flow
    /// (a route or its id) rather than having errors of its own.
    Rejected { id: String, diagnostics: Vec<Diagnostic>, conflict: bool },
    /// The change cannot be made as asked; the message says why.
    Conflict(String),
    /// The flows path is missing or cannot be read; the message says which.
    Unreadable(String),
    /// Reading or writing the files failed; the details were logged.
    Internal,
}

/// What the reload task needs besides the engine whose flows it swaps.
pub(crate) struct ReloadConfig {
    /// The flows directory (or file).
    pub flows: PathBuf,
    /// The data directory, where the activation is kept.
    pub data: PathBuf,
    /// The activation as loaded at start-up.
    pub activation: Activation,
    /// Shows a new credential's secret to the operator, once (the server prints it).
    pub announce: Box<dyn Fn(&str) + Send + Sync>,
}

enum Command {
    Reload { trigger: Trigger, reply: Option<oneshot::Sender<Arc<Report>>> },
    Change { change: Change, reply: oneshot::Sender<Result<Arc<Report>, ChangeError>> },
}

/// A handle on the reload task: cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct Reloader {
    inbox: mpsc::Sender<Command>,
    last: Arc<ArcSwapOption<Report>>,
    /// Set once a reload has read the flow files and deployed what they hold.
    loaded: Arc<AtomicBool>,
    flows: Arc<PathBuf>,
}

impl Reloader {
    /// Asks for a reload without waiting for it. A reload already asked for and not started
    /// covers this one too.
    pub fn trigger(&self, trigger: Trigger) {
        if let Err(mpsc::error::TrySendError::Closed(_)) =
            self.inbox.try_send(Command::Reload { trigger, reply: None })
        {
            tracing::error!("the reload task has stopped; the flows are not reloaded");
        }
    }

    /// Reloads and answers the report of a reload that started after this call; `None` when
    /// the reload task has stopped.
    pub async fn reload(&self, trigger: Trigger) -> Option<Arc<Report>> {
        let (reply, answer) = oneshot::channel();
        self.inbox.send(Command::Reload { trigger, reply: Some(reply) }).await.ok()?;
        answer.await.ok()
    }

    /// Makes `change`, then reloads; answers that reload's report.
    pub async fn change(&self, change: Change) -> Result<Arc<Report>, ChangeError> {
        let (reply, answer) = oneshot::channel();
        // When the task has stopped, the command (and `reply` in it) is dropped.
        let _ = self.inbox.send(Command::Change { change, reply }).await;
        match answer.await {
            Ok(result) => result,
            Err(_) => {
                tracing::error!("the reload task has stopped; the change was not made");
                Err(ChangeError::Internal)
            }
        }
    }

    /// The report of the last reload.
    pub fn last(&self) -> Option<Arc<Report>> {
        self.last.load_full()
    }

    /// Whether the flow files have been loaded: a reload read them and deployed what they hold
    /// (every flow, some, or none when they all were rejected or there are none). Once true, it
    /// stays true: a later reload that fails leaves the flows that serve in place.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The flows directory (or file).
    pub fn flows(&self) -> &Path {
        &self.flows
    }
}

/// Starts the reload task for `engine`. Nothing is loaded until a reload is asked for.
pub(crate) fn start(engine: Weak<Engine>, config: ReloadConfig) -> Reloader {
    let (inbox, commands) = mpsc::channel(INBOX);
    let reloader = Reloader {
        inbox,
        last: Arc::new(ArcSwapOption::empty()),
        loaded: Arc::new(AtomicBool::new(false)),
        flows: Arc::new(config.flows.clone()),
    };
    let task = Task {
        engine,
        config,
        last: reloader.last.clone(),
        loaded: reloader.loaded.clone(),
        seq: 0,
    };
    tokio::spawn(task.run(commands));
    reloader
}

/// The flow files as read, and those that could not be.
struct Files {
    sources: Vec<Source>,
    unreadable: Vec<Diagnostic>,
}

struct Task {
    /// Reached once per batch of commands (the engine holds this task's handle).
    engine: Weak<Engine>,
    config: ReloadConfig,
    last: Arc<ArcSwapOption<Report>>,
    loaded: Arc<AtomicBool>,
    seq: u64,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(first) = commands.recv().await {
            let Some(engine) = self.engine.upgrade() else { return };
            let mut batch = vec![first];
            while let Ok(more) = commands.try_recv() {
                batch.push(more);
            }
            let mut triggers = Vec::new();
            let mut replies = Vec::new();
            for command in batch {
                match command {
                    Command::Reload { trigger, reply } => {
                        if !triggers.contains(&trigger) {
                            triggers.push(trigger);
                        }
                        replies.extend(reply);
                    }
                    Command::Change { change, reply } => {
                        let _ = reply.send(self.change(&engine, change).await);
                    }
                }
            }
            if !triggers.is_empty() {
                let report = self.reload(&engine, triggers).await;
                for reply in replies {
                    let _ = reply.send(report.clone());
                }
            }
        }
    }

    async fn reload(&mut self, engine: &Arc<Engine>, triggers: Vec<Trigger>) -> Arc<Report> {
        let started = (SystemTime::now(), Instant::now());
        match self.prepare(engine, self.config.activation.clone(), |_, _| Ok(())).await {
            Ok((files, deployment, ())) => {
                self.apply(engine, files, deployment, triggers, started).await
            }
            Err(e) => {
                let error = match e {
                    ChangeError::Unreadable(reason) => reason,
                    _ => "The flow files could not be read; see the log".into(),
                };
                self.failed(triggers, started, error)
            }
        }
    }

    async fn change(
        &mut self,
        engine: &Arc<Engine>,
        change: Change,
    ) -> Result<Arc<Report>, ChangeError> {
        let started = (SystemTime::now(), Instant::now());
        match change {
            Change::Put { id, text } => self.put(engine, id, text, started).await,
            Change::Delete { id } => self.delete(engine, id, started).await,
            Change::SetActive { id, active } => self.set_active(engine, id, active, started).await,
        }
    }

    /// Writes flow `id`'s file only when the flow, as `text`, deploys; then deploys it.
    async fn put(
        &mut self,
        engine: &Arc<Engine>,
        id: String,
        text: String,
        started: (SystemTime, Instant),
    ) -> Result<Arc<Report>, ChangeError> {
        let root = self.config.flows.clone();
        let (flow, draft) = (id.clone(), text.clone());
        let (files, deployment, file) = self
            .prepare(engine, self.config.activation.clone(), move |files, serving| {
                let file = target_file(&root, &flow, files, serving)?;
                let source = Source { file: file.clone(), text: draft };
                match files.sources.iter_mut().find(|s| s.file == file) {
                    Some(existing) => *existing = source,
                    None => {
                        files.sources.push(source);
                        files.sources.sort_by(|a, b| Path::new(&a.file).cmp(Path::new(&b.file)));
                    }
                }
                files.unreadable.retain(|d| d.location.file != file);
                Ok(file)
            })
            .await?;
        if let Some(change) = deployment.changes.iter().find(|c| c.file == file)
            && change.status == Status::Rejected
        {
            let conflict = change.diagnostics.iter().any(|d| {
                d.is_error() && matches!(d.code, Code::RouteConflict | Code::DuplicateFlowId)
            });
            tracing::info!(flow = %id, file = %file, "a flow sent to the admin API was refused; nothing was written");
            let diagnostics = change.diagnostics.clone();
            return Err(ChangeError::Rejected { id, diagnostics, conflict });
        }
        let path = PathBuf::from(&file);
        blocking("write a flow file", move || atomic_file::write(&path, text.as_bytes())).await?;
        tracing::info!(flow = %id, file = %file, "flow file written through the admin API");
        Ok(self.apply(engine, files, deployment, vec![Trigger::Put], started).await)
    }

    /// Removes flow `id`'s file and its activation entry, then deploys what is left.
    async fn delete(
        &mut self,
        engine: &Arc<Engine>,
        id: String,
        started: (SystemTime, Instant),
    ) -> Result<Arc<Report>, ChangeError> {
        let mut activation = self.config.activation.clone();
        let had_entry = activation.get(&id).is_some();
        activation.remove(&id);
        let flow = id.clone();
        let (files, deployment, file) = self
            .prepare(engine, activation.clone(), move |files, serving| {
                let file = known_file(&flow, files, serving)
                    .ok_or_else(|| ChangeError::NoSuchFlow(flow.clone()))?;
                std::fs::remove_file(&file).map_err(|e| {
                    tracing::error!(file = %file, error = %e, "cannot remove a flow file");
                    ChangeError::Internal
                })?;
                files.sources.retain(|s| s.file != file);
                files.unreadable.retain(|d| d.location.file != file);
                Ok(file)
            })
            .await?;
        tracing::info!(flow = %id, file = %file, "flow file removed through the admin API");
        // The file is gone: the flow is removed whether or not its entry can be dropped.
        if had_entry && self.save_activation(activation).await.is_err() {
            tracing::warn!(flow = %id, "the flow's activation entry stays; it applies again if a flow with this id comes back");
        }
        Ok(self.apply(engine, files, deployment, vec![Trigger::Delete], started).await)
    }

    /// Switches flow `id` on or off in the data directory, then deploys with it.
    async fn set_active(
        &mut self,
        engine: &Arc<Engine>,
        id: String,
        active: bool,
        started: (SystemTime, Instant),
    ) -> Result<Arc<Report>, ChangeError> {
        let mut activation = self.config.activation.clone();
        activation.set(&id, active);
        let flow = id.clone();
        let (files, deployment, ()) = self
            .prepare(engine, activation.clone(), move |files, serving| {
                known_file(&flow, files, serving).map(drop).ok_or(ChangeError::NoSuchFlow(flow))
            })
            .await?;
        self.save_activation(activation).await?;
        let trigger = if active { Trigger::Activate } else { Trigger::Deactivate };
        tracing::info!(flow = %id, active, "flow switched through the admin API");
        Ok(self.apply(engine, files, deployment, vec![trigger], started).await)
    }

    /// Writes `activation` to the data directory; it applies from now on.
    async fn save_activation(&mut self, activation: Activation) -> Result<(), ChangeError> {
        let (saved, data) = (activation.clone(), self.config.data.clone());
        blocking("write the flow activation", move || saved.save(&data)).await?;
        self.config.activation = activation;
        Ok(())
    }

    /// On the blocking pool: reads the flow files, lets `edit` change them (and say what it
    /// did), and compiles them against what serves, with `activation`.
    async fn prepare<T: Send + 'static>(
        &self,
        engine: &Arc<Engine>,
        activation: Activation,
        edit: impl FnOnce(&mut Files, &[Arc<Plan>]) -> Result<T, ChangeError> + Send + 'static,
    ) -> Result<(Files, Deployment, T), ChangeError> {
        let root = self.config.flows.clone();
        let serving = engine.deployed.load().plans.clone();
        let work = move || {
            let mut files = read(&root).map_err(ChangeError::Unreadable)?;
            let done = edit(&mut files, &serving)?;
            let deployment =
                deploy(&serving, &files.sources, &files.unreadable, &|p| activation.is_active(p));
            Ok((files, deployment, done))
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "reading and compiling the flow files failed");
                Err(ChangeError::Internal)
            }
        }
    }

    /// Creates the credentials new routes name, swaps the deployment in and reports.
    async fn apply(
        &mut self,
        engine: &Arc<Engine>,
        files: Files,
        deployment: Deployment,
        triggers: Vec<Trigger>,
        started: (SystemTime, Instant),
    ) -> Arc<Report> {
        let store = engine.store().clone();
        let public = engine.public_base.clone();
        let provisioned = tokio::task::spawn_blocking(move || {
            let created =
                provision::missing_credentials(&*store, &deployment.routes, &public, now_ms());
            (deployment, created)
        })
        .await;
        let provisioned =
            provisioned.map_err(|e| e.to_string()).and_then(|(deployment, created)| {
                let created = created.map_err(|e| {
                    if matches!(e, CredentialError::Store(_)) {
                        store_error("write_credentials");
                    }
                    e.to_string()
                })?;
                Ok((deployment, created))
            });
        let (deployment, created) = match provisioned {
            Ok(provisioned) => provisioned,
            Err(e) => {
                tracing::error!(error = %e, "cannot create the credentials the flows name");
                let error = "The credentials the flows name could not be created; see the log";
                return self.failed(triggers, started, error.into());
            }
        };
        if !created.is_empty() {
            for p in &created {
                (self.config.announce)(&p.announcement());
            }
            let engine = engine.clone();
            let reloaded = tokio::task::spawn_blocking(move || engine.reload_credentials()).await;
            let failed = match reloaded {
                Ok(Ok(())) => None,
                Ok(Err(e)) => {
                    store_error("read_credentials");
                    Some(e.to_string())
                }
                Err(e) => Some(e.to_string()),
            };
            if let Some(e) = failed {
                tracing::error!(error = %e, "cannot reload the credentials after creating some; new routes refuse calls until the next reload");
            }
        }

        let old = engine.deployed.load_full();
        let texts: HashMap<&str, &str> =
            files.sources.iter().map(|s| (s.file.as_str(), s.text.as_str())).collect();
        let documents = deployment
            .plans
            .iter()
            .filter_map(|plan| {
                let document = if old.plans.iter().any(|p| Arc::ptr_eq(p, plan)) {
                    old.documents.get(&plan.id).cloned()
                } else {
                    texts.get(plan.file.as_str()).map(|text| Arc::from(*text))
                };
                Some((plan.id.clone(), document?))
            })
            .collect();
        let activation = self.config.activation.clone();
        let flows: Vec<FlowReport> =
            deployment.changes.iter().map(|c| flow_report(c, &activation)).collect();
        let rejected = flows.iter().any(|f| f.status == Status::Rejected);
        let applied = flows
            .iter()
            .any(|f| matches!(f.status, Status::Added | Status::Changed | Status::Removed));
        let outcome = match (rejected, applied) {
            (false, _) => Outcome::Applied,
            (true, true) => Outcome::Partial,
            (true, false) => Outcome::Failed,
        };
        engine.deploy(Deployed {
            documents,
            activation,
            ..Deployed::new(deployment.plans, deployment.routes)
        });
        self.loaded.store(true, Ordering::Release);
        raise(&engine.outbound, &flows, &old, &self.config.activation);
        self.finish(Report {
            seq: 0,
            triggers,
            started_at: started.0,
            duration: started.1.elapsed(),
            outcome,
            error: None,
            flows,
            credentials_created: created.into_iter().map(|p| p.issued.name).collect(),
            diagnostics: deployment.diagnostics,
        })
    }

    /// A reload that applied nothing.
    fn failed(
        &mut self,
        triggers: Vec<Trigger>,
        started: (SystemTime, Instant),
        error: String,
    ) -> Arc<Report> {
        self.finish(Report {
            seq: 0,
            triggers,
            started_at: started.0,
            duration: started.1.elapsed(),
            outcome: Outcome::Failed,
            error: Some(error),
            flows: Vec::new(),
            credentials_created: Vec::new(),
            diagnostics: Vec::new(),
        })
    }

    /// Numbers, logs, counts and keeps `report`.
    fn finish(&mut self, mut report: Report) -> Arc<Report> {
        self.seq += 1;
        report.seq = self.seq;
        log(&report);
        count(report.outcome);
        let report = Arc::new(report);
        self.last.store(Some(report.clone()));
        report
    }
}

fn flow_report(change: &FlowChange, activation: &Activation) -> FlowReport {
    FlowReport {
        id: change.id.clone(),
        file: change.file.clone(),
        status: change.status,
        version: change.version.clone(),
        serving: change.after.as_ref().map(|p| p.version.clone()),
        previous: change.before.as_ref().map(|p| p.version.clone()),
        active: change.after.as_ref().map(|p| activation.is_active(p)),
        diagnostics: change.diagnostics.clone(),
    }
}

/// Raises the flow events of a reload: what deployed, was rejected or removed, and what was
/// switched on or off (against the activation `before` had).
fn raise(outbound: &Outbound, flows: &[FlowReport], before: &Deployed, activation: &Activation) {
    for flow in flows {
        let Some(id) = flow.id.as_deref() else { continue };
        let (kind, version) = match flow.status {
            Status::Added | Status::Changed => (FLOW_DEPLOYED, flow.serving.as_deref()),
            Status::Removed => (FLOW_REMOVED, flow.previous.as_deref()),
            Status::Rejected => (FLOW_REJECTED, flow.version.as_deref()),
            Status::Unchanged => {
                let was = before.plan(id).map(|p| before.activation.is_active(p));
                let now = before.plan(id).map(|p| activation.is_active(p));
                match (was, now) {
                    (Some(false), Some(true)) => (FLOW_ACTIVATED, flow.serving.as_deref()),
                    (Some(true), Some(false)) => (FLOW_DEACTIVATED, flow.serving.as_deref()),
                    _ => continue,
                }
            }
        };
        if !outbound.wants(kind) {
            continue;
        }
        let mut extra = Map::new();
        if flow.status == Status::Rejected {
            let lines: Vec<Value> =
                flow.diagnostics.iter().map(|d| Value::String(d.render())).collect();
            extra.insert("diagnostics".into(), Value::Array(lines));
        }
        outbound.publish(Event::flow(kind, id, version, &flow.file, extra));
    }
}

/// Counts a reload in `hookflow_reloads_total{outcome}` (nothing without a metrics recorder).
fn count(outcome: Outcome) {
    metrics::counter!(RELOADS, "outcome" => outcome.as_str()).increment(1);
}

/// Logs a reload: one line for the whole, one per flow that changed or was rejected.
fn log(report: &Report) {
    let triggers: Vec<&str> = report.triggers.iter().map(|t| t.as_str()).collect();
    let count = |status| report.with_status(status).count();
    let (added, changed, removed) =
        (count(Status::Added), count(Status::Changed), count(Status::Removed));
    let (rejected, unchanged) = (count(Status::Rejected), count(Status::Unchanged));
    let duration_ms = report.duration.as_millis();
    let outcome = report.outcome.as_str();
    if report.outcome == Outcome::Applied {
        tracing::info!(reload = report.seq, triggers = ?triggers, outcome, added, changed, removed, rejected, unchanged, duration_ms, "flows reloaded");
    } else {
        let error = report.error.as_deref().unwrap_or("");
        tracing::warn!(reload = report.seq, triggers = ?triggers, outcome, added, changed, removed, rejected, unchanged, duration_ms, error, "flows reloaded");
    }
    for flow in &report.flows {
        let id = flow.id.as_deref().unwrap_or("?");
        match flow.status {
            Status::Unchanged => {}
            Status::Rejected => {
                let serving = flow.serving.as_deref().unwrap_or("none");
                tracing::warn!(flow = id, file = %flow.file, serving, "flow rejected; the version serving before goes on serving:\n{}", render_all(&flow.diagnostics));
            }
            status => {
                let version = flow.serving.as_deref().or(flow.previous.as_deref()).unwrap_or("");
                tracing::info!(flow = id, file = %flow.file, version, "flow {}", status.as_str());
            }
        }
    }
    // What concerns several flows at once (a cycle of flows that start each other) belongs to
    // none of them: logged on its own.
    let own = |d: &Diagnostic| report.flows.iter().any(|f| f.diagnostics.contains(d));
    for d in report.diagnostics.iter().filter(|d| !own(d)) {
        tracing::warn!(reload = report.seq, "{}", d.render());
    }
}

/// Reads the flow files under `root` (a directory, or one file). A missing or unreadable root
/// is an error (nothing is applied), not the removal of every flow.
fn read(root: &Path) -> Result<Files, String> {
    if !root.exists() {
        return Err(format!("The flows path {} does not exist", root.display()));
    }
    let (sources, unreadable) = read_sources(&[root.to_path_buf()]);
    let shown = root.display().to_string();
    if let Some(d) = unreadable.iter().find(|d| d.location.file == shown) {
        return Err(format!("The flows path {shown} cannot be read: {}", d.message));
    }
    Ok(Files { sources, unreadable })
}

/// The file of flow `id`: the one it serves from, else a flow file that names it.
fn known_file(id: &str, files: &Files, serving: &[Arc<Plan>]) -> Option<String> {
    serving.iter().find(|p| p.id == id).map(|p| p.file.clone()).or_else(|| {
        files
            .sources
            .iter()
            .find(|s| flow_id_of(&s.text).as_deref() == Some(id))
            .map(|s| s.file.clone())
    })
}

/// Where flow `id` is written: its file, else `<flows>/<id>.json` when that is free.
fn target_file(
    root: &Path,
    id: &str,
    files: &Files,
    serving: &[Arc<Plan>],
) -> Result<String, ChangeError> {
    if let Some(file) = known_file(id, files, serving) {
        return Ok(file);
    }
    if !root.is_dir() {
        return Err(ChangeError::Conflict(format!(
            "The flows path {} is one file, so a new flow cannot be added beside it",
            root.display()
        )));
    }
    let file = root.join(format!("{id}.json")).display().to_string();
    if let Some(source) = files.sources.iter().find(|s| s.file == file) {
        let holds = flow_id_of(&source.text).map_or_else(
            || "something that is not a flow with an id".to_owned(),
            |other| format!("flow `{other}`"),
        );
        return Err(ChangeError::Conflict(format!(
            "{file} holds {holds}; rename that file or change its flow first"
        )));
    }
    if files.unreadable.iter().any(|d| d.location.file == file) {
        return Err(ChangeError::Conflict(format!("{file} exists but cannot be read")));
    }
    Ok(file)
}

/// The `id` a flow file's text declares, if it is JSON with a string `id`.
pub fn flow_id_of(text: &str) -> Option<String> {
    match serde_json::from_str::<Value>(text).ok()?.get("id")? {
        Value::String(id) => Some(id.clone()),
        _ => None,
    }
}

/// Runs file I/O on the blocking pool; a failure is logged and becomes `Internal`.
async fn blocking<E: std::fmt::Display + Send + 'static>(
    what: &'static str,
    call: impl FnOnce() -> Result<(), E> + Send + 'static,
) -> Result<(), ChangeError> {
    match tokio::task::spawn_blocking(call).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot {what}");
            Err(ChangeError::Internal)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot {what}: the task failed");
            Err(ChangeError::Internal)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };

    use super::*;

    /// Every counter registered, as `name{label=value,...}`, with its value.
    #[derive(Default)]
    struct Counters(Mutex<Vec<(String, Arc<AtomicU64>)>>);

    impl Recorder for Counters {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let labels: Vec<String> =
                key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            let value = Arc::new(AtomicU64::new(0));
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            self.0.lock().unwrap().push((name, value.clone()));
            Counter::from_arc(value)
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[test]
    fn each_reload_is_counted_by_its_outcome() {
        let counters = Counters::default();
        metrics::with_local_recorder(&counters, || {
            count(Outcome::Applied);
            count(Outcome::Partial);
            count(Outcome::Failed);
        });
        let seen: Vec<(String, u64)> = counters
            .0
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|(name, value)| (name, value.load(Ordering::Relaxed)))
            .collect();
        let expected = ["applied", "partial", "failed"]
            .map(|o| (format!("hookflow_reloads_total{{outcome={o}}}"), 1));
        assert_eq!(seen, expected);
    }
}
