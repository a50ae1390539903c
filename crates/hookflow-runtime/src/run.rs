//! The one run path. Every execution — a call answered by its flow, an `accepted` call run by a
//! worker (now or after a restart), a replay — is prepared once ([`Prepared`]: its metadata and
//! its context), run by [`Engine::run`], and finished in [`Engine::finished`], the one place
//! where "an execution finished" happens: it is logged, counted and recorded there, and whatever
//! else must follow an execution (outbound events) hooks in there.

use std::sync::Arc;
use std::task::Poll;
use std::time::SystemTime;

use hookflow_core::execute::{Execution, Prepared, Status, execute};
use hookflow_core::nodes::webhook::{OnTimeout, ResponseMode, Webhook};
use hookflow_core::routes::HOOKS_BASE;
use hookflow_core::{ExecutionMeta, Plan, Request, Response};
use hookflow_store::{ExecutionRecord, ExecutionStatus, RecordedError, StoreError, clock};
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::idempotency;
use crate::outbound::events::{self, Event, EventContext, WEBHOOK_REJECTED};
use crate::queue::Job;
use crate::rebuild;
use crate::record::{self, Call, Limits, Sent, Served};
use crate::store_errors;

/// Where the status-check URLs live under `/hooks` (suffixes may not start with `_`).
pub const STATUS_PREFIX: &str = "/_executions/";

/// Why a call that reached its flow got no answer from it. The server gives each its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The flow did not answer before the route's deadline (it goes on, and is recorded).
    #[error("no response before the route's deadline")]
    Timeout,
    /// `accepted` mode: no place is left in the queue.
    #[error("the queue of accepted calls is full")]
    QueueFull,
    /// The call could not be stored where the route promises it is.
    #[error("the call could not be stored")]
    Unavailable,
    /// An idempotent route's first call with this key is still running past the deadline.
    #[error("the first call with this idempotency key is still running")]
    IdempotencyPending,
    /// Something that should not fail did; the details were logged.
    #[error("the call could not be handled")]
    Internal,
}

/// The statuses of a refused call that subscribers hear of (`webhook.rejected`).
const REJECTED_STATUSES: [u16; 6] = [401, 403, 404, 413, 422, 429];

impl Engine {
    /// Whether a call refused before its flow ran is wanted: recorded by history, or heard of
    /// by a subscription. When it is not, the ingress builds nothing for it.
    pub fn records_rejections(&self) -> bool {
        self.history.enabled() || self.outbound.wants(WEBHOOK_REJECTED)
    }

    /// A call refused before its flow ran, answered `answer` because of `reason`: recorded
    /// (within the rejected budget) and, for the statuses subscribers hear of, raised as
    /// `webhook.rejected` (never with the request's headers or body).
    pub fn rejected(&self, call: Call, served: Option<Served>, answer: Response, reason: String) {
        let status = answer.status;
        if REJECTED_STATUSES.contains(&status) && self.outbound.wants(WEBHOOK_REJECTED) {
            let plan = served.as_ref().map(|s| &*s.plan);
            let data = json!({
                "flow_id": plan.map(|p| &p.id),
                "route": plan.map(|p| p.trigger().label()),
                "method": call.method,
                "path": call.path,
                "status": status,
                "reason": reason,
            });
            let context =
                EventContext { flow_id: plan.map(|p| p.id.clone()), ..EventContext::default() };
            self.outbound.publish(Event::new(WEBHOOK_REJECTED, data, context));
        }
        self.history.rejected(call, served, answer, reason);
    }
}

/// Where a run came from, and so how its record is written when it finishes and what the run
/// answers besides its response.
pub(crate) trait Origin: Send {
    type Recorded: Send;

    /// Records the finished run.
    fn record(
        self,
        engine: &Engine,
        event: &Finished<'_>,
    ) -> impl Future<Output = Self::Recorded> + Send;
}

/// A live call answered by its run: the record is encoded straight from the call.
pub(crate) struct Live {
    pub call: Call,
    pub served: Served,
    /// A record of the call was stored before (`running`, for `on_timeout: accepted`).
    pub stored: bool,
}

impl Origin for Live {
    type Recorded = ();

    async fn record(self, engine: &Engine, event: &Finished<'_>) {
        let Live { call, served, stored } = self;
        engine
            .history
            .finished((&call, &served), event.execution, event.sent, event.times, !stored)
            .await;
    }
}

/// A stored call (an `accepted` one, a recovered one): its record is completed, written soon.
pub(crate) struct Queued(pub ExecutionRecord);

impl Origin for Queued {
    type Recorded = ();

    async fn record(self, engine: &Engine, event: &Finished<'_>) {
        engine.history.record(event.complete(self.0, engine.history.limits())).await;
    }
}

/// A replay: its record is completed and written durably, then answered.
pub(crate) struct Replayed(pub ExecutionRecord);

impl Origin for Replayed {
    type Recorded = Result<ExecutionRecord, StoreError>;

    async fn record(self, engine: &Engine, event: &Finished<'_>) -> Self::Recorded {
        let record = event.complete(self.0, engine.history.limits());
        engine.history.persist(record.clone()).await.map(|()| record)
    }
}

/// An execution that finished, as everything that follows one sees it.
pub struct Finished<'a> {
    pub plan: &'a Plan,
    pub execution: &'a Execution,
    /// The response as it goes out.
    pub sent: &'a Sent,
    /// When the run started and ended.
    pub times: (SystemTime, SystemTime),
}

impl Finished<'_> {
    /// `record` (of this execution, as stored before it ran) completed with how it ended.
    fn complete(&self, mut record: ExecutionRecord, limits: Limits) -> ExecutionRecord {
        let sent = self.sent;
        let response = record::sent(sent.status, &sent.headers, &sent.body, limits.body_bytes);
        record::complete(&mut record, self.plan, self.execution, response, self.times, limits);
        record
    }
}

impl Engine {
    /// Runs a call that passed the ingress (route, auth, body, its route's checks), prepared
    /// once ([`Engine::prepare`]), as its route says: for the caller up to the route's deadline,
    /// or `accepted` (stored, answered `202`, run by a worker). On an idempotent route a repeat
    /// of a key gets the first call's response instead.
    pub async fn call(
        self: &Arc<Self>,
        call: Call,
        served: Served,
        prepared: Prepared,
    ) -> Result<Sent, CallError> {
        let plan = served.plan.clone();
        let Some(hook) = plan.webhook() else {
            tracing::error!(flow = %plan.id, "a call reached a flow that no webhook starts");
            return Err(CallError::Internal);
        };
        let execution_id = call.id.clone();
        let key = hook.idempotency.as_ref().and_then(|_| {
            hookflow_core::idempotency::key(&plan, &prepared).unwrap_or_else(|e| {
                tracing::warn!(flow = %plan.id, error = %e.message, "the idempotency key could not be evaluated; the call is not deduplicated");
                None
            })
        });
        let respond = async {
            match hook.mode {
                ResponseMode::Accepted => self.accept(call, served).await,
                ResponseMode::RespondNode => self.respond(call, served, prepared, hook).await,
            }
        };
        match (key, &hook.idempotency) {
            (Some(key), Some(i)) => {
                let limits = (i.ttl, hook.timeout);
                idempotency::serve(self, &plan.id, key, limits, &execution_id, respond).await
            }
            _ => respond.await,
        }
    }

    /// The execution `execution_id` of `served`'s flow on `request`, prepared: its metadata and
    /// context, built once (the ingress evaluates what it checks over it before the call).
    pub fn prepare(execution_id: &str, served: &Served, request: Request) -> Prepared {
        let plan = &served.plan;
        let meta = ExecutionMeta::new(execution_id.to_owned(), plan, served.credential.clone());
        Prepared::new(plan, request, meta)
    }

    /// Runs the flow for the caller, up to the route's deadline.
    async fn respond(
        self: &Arc<Self>,
        call: Call,
        served: Served,
        prepared: Prepared,
        hook: &Webhook,
    ) -> Result<Sent, CallError> {
        let (timeout, id) = (hook.timeout, call.id.clone());
        // With `on_timeout: accepted`, the caller may poll a run that has not ended yet.
        let running = (hook.on_timeout == OnTimeout::Accepted)
            .then(|| record::pending(&call, &served, ExecutionStatus::Running));
        let plan = served.plan.clone();
        let origin = Live { call, served, stored: running.is_some() };
        // The run starts on this task: a flow without I/O ends on its first poll, with no
        // hand-off to another task or thread. When the deadline answers first, the unfinished
        // run moves to a task of its own, goes on to its end and is recorded then.
        let engine = self.clone();
        let mut run = Box::pin(async move { engine.run(plan, prepared, origin).await.0 });
        let deadline = tokio::time::Instant::now() + timeout;
        // A flow without I/O is done on its first poll, and then needs no timer.
        if let Poll::Ready(sent) =
            std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await
        {
            return Ok(sent);
        }
        match tokio::time::timeout_at(deadline, &mut run).await {
            Ok(sent) => Ok(sent),
            Err(_) => {
                tracing::warn!(execution = %id, timeout_ms = timeout.as_millis(), "no response before the deadline; the run goes on");
                // The status URL must find the run as soon as the caller has it.
                let answer = match running {
                    Some(record) => match self.history.persist(record).await {
                        Ok(()) => Ok(self.accepted(&id)),
                        Err(e) => {
                            let what = format!("cannot persist running call {id}");
                            store_errors::failed("write_accepted", &e, &what);
                            Err(CallError::Timeout)
                        }
                    },
                    None => Err(CallError::Timeout),
                };
                tokio::spawn(run);
                answer
            }
        }
    }

    /// `accepted` mode: the call is persisted as `queued`, answered `202` and run by a worker
    /// (from its record, as after a restart).
    async fn accept(&self, call: Call, served: Served) -> Result<Sent, CallError> {
        let Some(slot) = self.queue.try_reserve() else {
            tracing::warn!(execution = %call.id, "the queue is full; the call is refused");
            return Err(CallError::QueueFull);
        };
        let record = record::pending(&call, &served, ExecutionStatus::Queued);
        if let Err(e) = self.history.persist(record.clone()).await {
            let what = format!("cannot persist accepted call {}", call.id);
            store_errors::failed("write_accepted", &e, &what);
            return Err(CallError::Unavailable);
        }
        slot.send(Job { record, plan: served.plan });
        Ok(self.accepted(&call.id))
    }

    /// `202` with the execution id and the status-check URL (also in `Location`).
    fn accepted(&self, execution_id: &str) -> Sent {
        let status_url = format!("{}{HOOKS_BASE}{STATUS_PREFIX}{execution_id}", self.public_base);
        let body = json!({ "execution_id": execution_id, "status_url": status_url });
        Sent {
            status: 202,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("location".into(), status_url),
            ],
            body: bytes::Bytes::from(body.to_string()),
        }
    }

    /// Runs one stored call (marked `running` first) on `plan`, from its recorded request, or
    /// the event that started it.
    pub(crate) async fn run_queued(self: &Arc<Self>, job: Job) {
        let Job { mut record, plan } = job;
        record.status = ExecutionStatus::Running;
        record.started_at_ms = Some(record::millis(SystemTime::now()));
        self.history.record(record.clone()).await;
        let meta = ExecutionMeta::new(record.id.clone(), &plan, record.credential.clone());
        let received_at = clock::time(record.received_at_ms);
        let prepared = match rebuild::prepare(
            &plan,
            record.cause.as_ref(),
            &record.request,
            received_at,
            meta,
        ) {
            Ok(prepared) => prepared,
            Err(e) => return self.fail(record, e.to_string()).await,
        };
        self.run(plan, prepared, Queued(record)).await;
    }

    /// Records a stored call that cannot run as failed, with `message`.
    pub(crate) async fn fail(&self, mut record: ExecutionRecord, message: String) {
        record.status = ExecutionStatus::Failed;
        record.finished_at_ms = Some(record::millis(SystemTime::now()));
        record.error = Some(RecordedError { node: None, message });
        self.history.record(record).await;
    }

    /// Runs `prepared` on `plan` and finishes it: the one way an execution runs. Answers the
    /// response, and what recording it answers for its origin.
    pub(crate) async fn run<O: Origin>(
        &self,
        plan: Arc<Plan>,
        prepared: Prepared,
        origin: O,
    ) -> (Sent, O::Recorded) {
        let started_at = SystemTime::now();
        let mut execution = execute(&plan, prepared, &self.services).await;
        let finished_at = SystemTime::now();
        let response = std::mem::replace(&mut execution.response, Response::json(200, Value::Null));
        let sent = Sent::from(response);
        let event = Finished {
            plan: &plan,
            execution: &execution,
            sent: &sent,
            times: (started_at, finished_at),
        };
        let recorded = self.finished(&event, origin).await;
        (sent, recorded)
    }

    /// Where every execution finishes: logged when it failed, counted by flow and status, and
    /// recorded as its origin says.
    async fn finished<O: Origin>(&self, event: &Finished<'_>, origin: O) -> O::Recorded {
        let Finished { plan, execution, .. } = *event;
        if let Some(failure) = &execution.failure {
            tracing::info!(flow = %plan.id, execution = %execution.meta.id, node = %failure.node, error = %failure.message, "flow failed");
        }
        self.deployed.load().metrics.route(plan).finished(execution.status);
        let kind = match execution.status {
            Status::Succeeded => events::EXECUTION_SUCCEEDED,
            Status::Failed => events::EXECUTION_FAILED,
        };
        if self.outbound.wants(kind) {
            let (started, finished) = event.times;
            let outbound = Event::execution(plan, execution, event.sent.status, started, finished);
            self.outbound.publish_waiting(outbound).await;
        }
        origin.record(self, event).await
    }
}
