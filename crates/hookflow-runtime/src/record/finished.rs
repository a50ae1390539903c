//! The record of a call that a flow ran to its end, encoded straight from the call, the finished
//! execution and the response that went out: no intermediate record, no copy of bodies, headers
//! or node outputs. It decodes to the [`ExecutionRecord`](hookflow_store::ExecutionRecord) that
//! [`pending`](super::pending) and [`complete`](super::complete) build (a test holds them to it).

use std::time::SystemTime;

use hookflow_core::execute::{Execution, Status};
use hookflow_core::json_object::{Fields, JsonObject};
use hookflow_core::trace::TraceDetail;
use hookflow_store::executions::base64_bytes;
use hookflow_store::{EncodedExecution, ExecutionStatus};
use serde::ser::{Serialize, SerializeSeq, Serializer};

use super::{Call, Limits, Secrets, Sent, Served, cut, millis};

/// What a record takes besides its bodies, as a first guess (the trace, headers and the rest).
const RECORD_BYTES: usize = 2048;

/// The record of `call`, served by `served`'s flow, that ran as `execution` and answered
/// `response`. `new`: no record of this call was stored before (see [`EncodedExecution::new`]).
pub fn finished(
    call: &Call,
    served: &Served,
    execution: &Execution,
    response: &Sent,
    (started_at, finished_at): (SystemTime, SystemTime),
    limits: Limits,
    new: bool,
) -> Result<EncodedExecution, serde_json::Error> {
    let plan = &served.plan;
    let secrets = Secrets::of(super::auth(Some(plan)));
    let status = match execution.status {
        Status::Succeeded => ExecutionStatus::Succeeded,
        Status::Failed => ExecutionStatus::Failed,
    };
    let received_at_ms = millis(call.received_at);
    let (request_body, request_cut) = cut(&call.body, limits.body_bytes);
    let (response_body, response_cut) = cut(&response.body, limits.body_bytes);
    // Room for the bodies in base64 and the rest, so the buffer is rarely grown (and copied).
    let bodies = request_body.len() + response_body.len();
    let mut json = Vec::with_capacity(RECORD_BYTES + bodies / 3 * 4 + 8);
    let mut record = JsonObject::open(&mut json);
    record.field("id", &call.id)?;
    record.field("flow_id", &plan.id)?;
    record.field("flow_version", &plan.version)?;
    record.field("route", plan.trigger().label())?;
    record.field("credential", &served.credential)?;
    record.field("status", &status)?;
    record.field("received_at_ms", &received_at_ms)?;
    record.field("started_at_ms", &millis(started_at))?;
    record.field("finished_at_ms", &millis(finished_at))?;
    let mut request = record.object("request");
    request.field("method", &call.method)?;
    request.field("path", &call.path)?;
    request.field("query", &secrets.query(call))?;
    request.field("headers", &Headers { call, secrets: &secrets })?;
    base64_bytes::write_json(request_body, request.name("body"));
    request.field("body_truncated", &request_cut)?;
    request.close();
    let mut sent = record.object("response");
    sent.field("status", &response.status)?;
    sent.field("headers", &response.headers)?;
    base64_bytes::write_json(response_body, sent.name("body"));
    sent.field("body_truncated", &response_cut)?;
    sent.close();
    let error =
        execution.failure.as_ref().map(|f| Error { node: Some(&f.node), message: &f.message });
    record.field("error", &error)?;
    execution
        .trace(plan, limits.trace_value_bytes, TraceDetail::Outputs)
        .write_json(record.name("trace"))?;
    record.close();
    Ok(EncodedExecution {
        id: call.id.clone(),
        flow_id: Some(plan.id.clone()),
        status,
        received_at_ms,
        json,
        new,
        parent: None,
    })
}

#[derive(serde::Serialize)]
struct Error<'a> {
    node: Option<&'a str>,
    message: &'a str,
}

/// The call's headers as `[name, value]` pairs, secrets redacted.
struct Headers<'a> {
    call: &'a Call,
    secrets: &'a Secrets<'a>,
}

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let headers = &self.call.headers;
        let mut seq = serializer.serialize_seq(Some(headers.len()))?;
        for (name, value) in headers {
            seq.serialize_element(&(name.as_str(), self.secrets.value(name, value)))?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use bytes::Bytes;
    use hookflow_core::services::{Offline, Services};
    use hookflow_core::{ExecutionMeta, Prepared, Source, compile, execute};
    use hookflow_store::ExecutionRecord;
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::rebuild::rebuild;
    use crate::record::{complete, pending, request};

    /// The encoded record decodes to what `pending` then `complete` build, for a flow that
    /// answers and one that fails, with secrets in the headers and bodies over the limit.
    #[tokio::test]
    async fn finished_matches_the_record_built_field_by_field() {
        let source = Source {
            file: "flows/order-intake.json".into(),
            text: include_str!("../../../../flows/order-intake.json").into(),
        };
        let plan = Arc::new(compile(&source).plan.expect("the example compiles"));
        let services = Services::offline(&Arc::new(Offline::default()));
        let bodies: [&[u8]; 2] = [
            br#"{"id":"ORD-1","customer":{"name":"Ada"},"total":120.5,"items":[{"sku":"A1","qty":2}]}"#,
            br#"{"id":"ORD-2","total":"not a number"}"#,
        ];
        for (n, body) in bodies.into_iter().enumerate() {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            headers.insert("x-api-key", HeaderValue::from_static("s3cret"));
            headers.insert("x-note", HeaderValue::from_bytes(b"caf\xe9").unwrap());
            let call = Call {
                id: format!("0190-{n}"),
                received_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000),
                method: "POST".into(),
                path: "/hooks/orders/eu".into(),
                query: Some("x=1&y=2".into()),
                headers,
                body: Bytes::copy_from_slice(body),
            };
            let served = Served { plan: plan.clone(), credential: Some("erp".into()) };
            let recorded = request(&call, crate::record::auth(Some(&plan)), usize::MAX);
            let flow_request = rebuild(&recorded, &plan, call.received_at).unwrap();
            let meta = ExecutionMeta::new(call.id.clone(), &plan, served.credential.clone());
            let execution =
                execute(&plan, Prepared::new(&plan, flow_request, meta), &services).await;
            for detail in [TraceDetail::Full, TraceDetail::Outputs] {
                let trace = execution.trace(&plan, 64, detail);
                let mut written = Vec::new();
                trace.write_json(&mut written).unwrap();
                assert_eq!(written, serde_json::to_vec(&trace).unwrap(), "{detail:?}");
            }
            let response = Sent::from(execution.response.clone());
            let times = (call.received_at, call.received_at + Duration::from_millis(3));
            let limits = Limits { body_bytes: 40, trace_value_bytes: 64 };

            let encoded =
                finished(&call, &served, &execution, &response, times, limits, true).unwrap();
            let decoded: ExecutionRecord = serde_json::from_slice(&encoded.json).unwrap();

            let mut built = pending(&call, &served, ExecutionStatus::Running);
            let sent = super::super::sent(response.status, &response.headers, &response.body, 40);
            complete(&mut built, &plan, &execution, sent, times, limits);
            assert_eq!(decoded, built);
            assert_eq!(
                (encoded.id, encoded.flow_id, encoded.status, encoded.received_at_ms),
                (built.id, built.flow_id, built.status, built.received_at_ms)
            );
            assert!(!String::from_utf8_lossy(&encoded.json).contains("s3cret"));
            let cut = body.len() > 40;
            assert_eq!(decoded.request.body_truncated, cut);
            assert_eq!(decoded.request.body.len(), body.len().min(40));
        }
    }
}
