//! Criterion benchmarks of the order-intake example: compiling the flow, and executing the
//! compiled plan on its sample request (both branches).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use hookflow_core::services::{Offline, Services};
use hookflow_core::{ExecutionMeta, Prepared, Request, Source, compile, execute};
use serde_json::{Map, Value, json};

const FLOW: &str = include_str!("../../../flows/order-intake.json");

fn source() -> Source {
    Source { file: "flows/order-intake.json".into(), text: FLOW.into() }
}

fn request(body: &Value, query: &Map<String, Value>) -> Request {
    let mut params = Map::new();
    params.insert("region".into(), json!("eu"));
    let mut headers = Map::new();
    headers.insert("content-type".into(), json!("application/json"));
    headers.insert("x-api-key".into(), json!("redacted"));
    Request {
        method: "POST".into(),
        path: "/hooks/orders/eu".into(),
        params,
        query: query.clone(),
        headers,
        body: body.clone(),
        received_at: SystemTime::now(),
    }
}

/// Runs a future that never waits (a flow without I/O finishes on its first poll).
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the flow waited for I/O"),
    }
}

fn benches(c: &mut Criterion) {
    let services = Services::offline(&Arc::new(Offline::default()));
    c.bench_function("compile order-intake", |b| {
        let source = source();
        b.iter(|| black_box(compile(black_box(&source))));
    });

    let plan = compile(&source()).plan.expect("order-intake compiles");
    let id = "0193a5c0-0000-7000-8000-000000000000";
    let meta = ExecutionMeta::new(id.into(), &plan, Some("erp".into()));
    let large = json!({ "id": "ORD-1", "customer": { "name": "Ada" }, "total": 120.5,
                        "items": [ { "sku": "A1", "qty": 2 }, { "sku": "B7", "qty": 1 } ] });
    let small = json!({ "id": "ORD-2", "customer": { "name": "Bo" }, "total": 40,
                        "items": [ { "sku": "C3", "qty": 1 } ] });
    let no_query = Map::new();
    let mut status_query = Map::new();
    status_query.insert("status".into(), json!("202"));

    c.bench_function("execute order-intake (review branch)", |b| {
        b.iter(|| {
            let e = now(execute(
                &plan,
                Prepared::new(&plan, request(&large, &no_query), meta.clone()),
                &services,
            ));
            assert_eq!(e.response.status, 201);
            black_box(e)
        });
    });
    c.bench_function("execute order-intake (accept branch, status override)", |b| {
        b.iter(|| {
            let e = now(execute(
                &plan,
                Prepared::new(&plan, request(&small, &status_query), meta.clone()),
                &services,
            ));
            assert_eq!(e.response.status, 202);
            black_box(e)
        });
    });
}

criterion_group!(flow, benches);
criterion_main!(flow);
