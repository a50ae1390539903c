//! Criterion benchmark of recording a call: encoding the order-intake example's finished
//! execution as the record that history stores (what every request pays with history on).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use hookflow_core::services::{Offline, Services};
use hookflow_core::{ExecutionMeta, Prepared, Source, compile, execute};
use hookflow_runtime::rebuild::rebuild;
use hookflow_runtime::record::{self, Call, Limits, Sent, Served};
use http::{HeaderMap, HeaderValue};

const FLOW: &str = include_str!("../../../flows/order-intake.json");
const BODY: &[u8] = br#"{"id":"ORD-1","customer":{"name":"Ada"},"total":120.5,"items":[{"sku":"A1","qty":2},{"sku":"B7","qty":1}]}"#;

/// Runs a future that never waits (a flow without I/O finishes on its first poll).
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the flow waited for I/O"),
    }
}

fn benches(c: &mut Criterion) {
    let source = Source { file: "flows/order-intake.json".into(), text: FLOW.into() };
    let plan = Arc::new(compile(&source).plan.expect("order-intake compiles"));
    // The headers a load generator sends.
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "x-api-key",
        HeaderValue::from_static("ZbqX2l6Jt7mC0m7i5o1Hq3Lk9v2Wb8Ue4Ys6Na0Pd1Q"),
    );
    headers.insert("content-length", HeaderValue::from_static("106"));
    let call = Call {
        id: "0193a5c0-0000-7000-8000-000000000000".into(),
        received_at: SystemTime::now(),
        method: "POST".into(),
        path: "/hooks/orders/eu".into(),
        query: None,
        headers,
        body: Bytes::from_static(BODY),
    };
    let served = Served { plan: plan.clone(), credential: Some("erp".into()) };
    let auth = plan.webhook().map(|hook| &hook.auth);
    let recorded = record::request(&call, auth, usize::MAX);
    let request = rebuild(&recorded, &plan, call.received_at).expect("the call rebuilds");
    let meta = ExecutionMeta::new(call.id.clone(), &plan, served.credential.clone());
    let services = Services::offline(&Arc::new(Offline::default()));
    let execution = now(execute(&plan, Prepared::new(&plan, request, meta), &services));
    let response = Sent::from(execution.response.clone());
    let times = (call.received_at, call.received_at + Duration::from_micros(20));

    c.bench_function("encode the order-intake record", |b| {
        b.iter(|| {
            let encoded = record::finished(
                black_box(&call),
                &served,
                black_box(&execution),
                &response,
                times,
                Limits::default(),
                true,
            );
            black_box(encoded.expect("the record encodes"))
        });
    });
}

criterion_group!(record_bench, benches);
criterion_main!(record_bench);
