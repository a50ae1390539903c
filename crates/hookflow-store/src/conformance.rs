//! The conformance suite: what every [`Store`] backend must do, written once.
//!
//! A backend's tests call [`run_all`] with a function that opens a fresh, empty store, and (for
//! backends that keep data on disk) [`run_durability`] with a function that opens the store in a
//! given directory. Each case is also a public function, to run one on its own.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    thread,
};

use crate::{
    Credential, CredentialKind, Durability, EncodedExecution, ExecutionQuery, ExecutionRecord,
    ExecutionStatus, IdempotencyRecord, RecordedError, RecordedRequest, RecordedResponse, Store,
    StoredSecret,
};

/// A case that runs against one fresh, empty store.
pub type Case = fn(&dyn Store);

/// Every case of [`run_all`], by name.
pub const CASES: &[(&str, Case)] = &[
    ("an_empty_store_has_nothing", an_empty_store_has_nothing),
    ("a_credential_round_trips", a_credential_round_trips),
    ("put_replaces_a_credential", put_replaces_a_credential),
    ("credentials_are_sorted_by_name", credentials_are_sorted_by_name),
    ("names_are_matched_exactly", names_are_matched_exactly),
    ("delete_removes_only_that_credential", delete_removes_only_that_credential),
    ("flush_succeeds", flush_succeeds),
    ("concurrent_writes_are_all_kept", concurrent_writes_are_all_kept),
    ("an_empty_store_has_no_executions", an_empty_store_has_no_executions),
    ("an_execution_round_trips", an_execution_round_trips),
    (
        "put_replaces_an_execution_and_its_index_entries",
        put_replaces_an_execution_and_its_index_entries,
    ),
    ("a_batch_repeating_an_id_keeps_the_last", a_batch_repeating_an_id_keeps_the_last),
    ("encoded_executions_are_stored_as_given", encoded_executions_are_stored_as_given),
    ("executions_are_listed_newest_first", executions_are_listed_newest_first),
    ("listing_filters_by_flow_status_and_time", listing_filters_by_flow_status_and_time),
    ("pages_have_no_duplicates_or_gaps", pages_have_no_duplicates_or_gaps),
    ("limit_defaults_and_is_capped", limit_defaults_and_is_capped),
    ("cursor_edge_cases", cursor_edge_cases),
    ("unusual_ids_and_flow_ids_are_kept_apart", unusual_ids_and_flow_ids_are_kept_apart),
    ("unfinished_executions_are_oldest_first", unfinished_executions_are_oldest_first),
    ("prune_keeps_the_newest_finished_per_flow", prune_keeps_the_newest_finished_per_flow),
    ("prune_removes_old_finished_executions", prune_removes_old_finished_executions),
    ("prune_rejected_keeps_the_newest", prune_rejected_keeps_the_newest),
    ("a_large_prune_spans_several_writes", a_large_prune_spans_several_writes),
    (
        "flows_with_executions_are_distinct_and_sorted",
        flows_with_executions_are_distinct_and_sorted,
    ),
    ("a_large_batch_is_stored_whole", a_large_batch_is_stored_whole),
    (
        "concurrent_batches_keep_the_indexes_consistent",
        concurrent_batches_keep_the_indexes_consistent,
    ),
    ("an_idempotency_record_round_trips", an_idempotency_record_round_trips),
    ("idempotency_keys_are_matched_exactly", idempotency_keys_are_matched_exactly),
    (
        "prune_idempotency_removes_only_expired_records",
        prune_idempotency_removes_only_expired_records,
    ),
];

/// Runs every case in [`CASES`], each on a store from `make`, which must be fresh and empty.
pub fn run_all(make: &dyn Fn() -> Arc<dyn Store>) {
    for (name, case) in CASES {
        let store = make();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&*store)));
        if let Err(panic) = outcome {
            eprintln!("conformance case `{name}` failed");
            std::panic::resume_unwind(panic);
        }
    }
}

/// Runs the durability cases for a backend that keeps its data in a directory: `new_dir` gives a
/// new, empty directory on each call, and `open` opens (or reopens) the store in a directory.
pub fn run_durability(new_dir: &dyn Fn() -> PathBuf, open: &dyn Fn(&Path) -> Arc<dyn Store>) {
    writes_survive_a_reopen(&new_dir(), open);
    a_reopened_store_accepts_writes(&new_dir(), open);
    executions_survive_a_reopen(&new_dir(), open);
}

/// A credential with two secrets, one of them expiring; `basic` with a username.
pub fn credential(name: &str) -> Credential {
    Credential {
        name: name.to_owned(),
        kind: CredentialKind::Basic,
        username: Some(format!("{name}-user")),
        secrets: vec![
            StoredSecret {
                digest: [0xab; 32],
                created_at_ms: 1_700_000_000_000,
                expires_at_ms: Some(1_700_000_600_000),
            },
            StoredSecret {
                digest: [0x01; 32],
                created_at_ms: 1_700_000_100_000,
                expires_at_ms: None,
            },
        ],
        created_at_ms: 1_700_000_000_000,
    }
}

fn names(store: &dyn Store) -> Vec<String> {
    store.credentials().unwrap().into_iter().map(|c| c.name).collect()
}

/// A new store holds nothing, and deleting from it reports that nothing was there.
pub fn an_empty_store_has_nothing(store: &dyn Store) {
    assert_eq!(store.credential("missing").unwrap(), None);
    assert_eq!(store.credentials().unwrap(), vec![]);
    assert!(!store.delete_credential("missing").unwrap());
}

/// Every field comes back as written, for every kind.
pub fn a_credential_round_trips(store: &dyn Store) {
    let basic = credential("basic");
    let api_key = Credential {
        name: "api".into(),
        kind: CredentialKind::ApiKey,
        username: None,
        secrets: vec![StoredSecret {
            digest: std::array::from_fn(|i| u8::try_from(i).unwrap_or(0) * 7),
            created_at_ms: i64::MIN,
            expires_at_ms: Some(i64::MAX),
        }],
        created_at_ms: -1,
    };
    let bearer = Credential {
        name: "ünï.cödé".into(),
        kind: CredentialKind::Bearer,
        username: None,
        secrets: vec![],
        created_at_ms: 0,
    };
    for credential in [&basic, &api_key, &bearer] {
        store.put_credential(credential).unwrap();
    }
    for credential in [&basic, &api_key, &bearer] {
        assert_eq!(store.credential(&credential.name).unwrap().as_ref(), Some(credential));
    }
}

/// Putting a credential under an existing name replaces it whole.
pub fn put_replaces_a_credential(store: &dyn Store) {
    store.put_credential(&credential("ci")).unwrap();
    let replacement = Credential {
        kind: CredentialKind::Bearer,
        username: None,
        secrets: vec![StoredSecret { digest: [9; 32], created_at_ms: 5, expires_at_ms: None }],
        ..credential("ci")
    };
    store.put_credential(&replacement).unwrap();
    assert_eq!(store.credential("ci").unwrap(), Some(replacement.clone()));
    assert_eq!(store.credentials().unwrap(), vec![replacement]);
}

/// `credentials()` lists by name, in the order of `str`'s `Ord`, whatever the insertion order.
pub fn credentials_are_sorted_by_name(store: &dyn Store) {
    let inserted = ["b", "a.b", "Z9", "a-b", "a", "a_b", "ab", "0", "é"];
    for name in inserted {
        store.put_credential(&credential(name)).unwrap();
    }
    let mut expected: Vec<String> = inserted.iter().map(|&name| name.to_owned()).collect();
    expected.sort();
    assert_eq!(names(store), expected);
    for listed in store.credentials().unwrap() {
        assert_eq!(listed, credential(&listed.name));
    }
}

/// A name is a whole key: no prefix, case or whitespace matching.
pub fn names_are_matched_exactly(store: &dyn Store) {
    store.put_credential(&credential("deploy")).unwrap();
    for other in ["dep", "deploy ", "Deploy", "deploy2", ""] {
        assert_eq!(store.credential(other).unwrap(), None, "{other:?}");
        assert!(!store.delete_credential(other).unwrap(), "{other:?}");
    }
    assert_eq!(names(store), ["deploy"]);
}

/// Deleting reports whether there was something, and touches nothing else.
pub fn delete_removes_only_that_credential(store: &dyn Store) {
    for name in ["a", "b", "c"] {
        store.put_credential(&credential(name)).unwrap();
    }
    assert!(store.delete_credential("b").unwrap());
    assert!(!store.delete_credential("b").unwrap());
    assert_eq!(store.credential("b").unwrap(), None);
    assert_eq!(names(store), ["a", "c"]);
    store.put_credential(&credential("b")).unwrap();
    assert_eq!(names(store), ["a", "b", "c"]);
}

/// `flush` works on an empty store and after writes.
pub fn flush_succeeds(store: &dyn Store) {
    store.flush().unwrap();
    store.put_credential(&credential("a")).unwrap();
    store.flush().unwrap();
    assert_eq!(names(store), ["a"]);
}

/// Writes from several threads at once are all kept.
pub fn concurrent_writes_are_all_kept(store: &dyn Store) {
    const THREADS: usize = 4;
    const EACH: usize = 8;
    thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for i in 0..EACH {
                    let name = format!("t{thread}-{i}");
                    store.put_credential(&credential(&name)).unwrap();
                    assert!(store.credential(&name).unwrap().is_some(), "{name}");
                }
            });
        }
    });
    assert_eq!(store.credentials().unwrap().len(), THREADS * EACH);
}

/// Opens the store in `dir`, checks that it is the only handle, lets `f` use it, and drops it.
fn with_store(dir: &Path, open: &dyn Fn(&Path) -> Arc<dyn Store>, f: impl FnOnce(&dyn Store)) {
    let store = open(dir);
    f(&*store);
    assert_eq!(Arc::strong_count(&store), 1, "the store must be dropped to be reopened");
}

/// Puts, replacements and deletes are all there after the store is dropped and reopened.
pub fn writes_survive_a_reopen(dir: &Path, open: &dyn Fn(&Path) -> Arc<dyn Store>) {
    let replaced =
        Credential { kind: CredentialKind::ApiKey, username: None, ..credential("replaced") };
    with_store(dir, open, |store| {
        for name in ["kept", "replaced", "deleted"] {
            store.put_credential(&credential(name)).unwrap();
        }
        store.put_credential(&replaced).unwrap();
        assert!(store.delete_credential("deleted").unwrap());
    });
    with_store(dir, open, |store| {
        assert_eq!(store.credentials().unwrap(), vec![credential("kept"), replaced.clone()]);
    });
}

/// A reopened store can be written to, and sees the old and new data together.
pub fn a_reopened_store_accepts_writes(dir: &Path, open: &dyn Fn(&Path) -> Arc<dyn Store>) {
    with_store(dir, open, |store| store.put_credential(&credential("first")).unwrap());
    with_store(dir, open, |store| {
        store.put_credential(&credential("second")).unwrap();
        assert!(store.delete_credential("first").unwrap());
    });
    with_store(dir, open, |store| {
        assert_eq!(names(store), ["second"]);
    });
}

// Executions and idempotency.

/// An id shaped like a UUIDv7 whose order is the order of `n`.
pub fn execution_id(n: u64) -> String {
    format!("{:08x}-{:04x}-7abc-8def-0123456789ab", n >> 16, n & 0xffff)
}

/// A small execution: `flow`, `status`, received at `received_at_ms`, no response.
pub fn execution(
    id: &str,
    flow: Option<&str>,
    status: ExecutionStatus,
    received_at_ms: i64,
) -> ExecutionRecord {
    ExecutionRecord {
        id: id.to_owned(),
        flow_id: flow.map(str::to_owned),
        flow_version: flow.map(|_| "sha256:0123abcd".to_owned()),
        route: Some("POST /orders/{region}".to_owned()),
        credential: None,
        status,
        received_at_ms,
        started_at_ms: None,
        finished_at_ms: None,
        request: RecordedRequest {
            method: "POST".to_owned(),
            path: "/hooks/orders/eu".to_owned(),
            query: String::new(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: br#"{"id":1}"#.to_vec(),
            body_truncated: false,
        },
        response: None,
        error: None,
        trace: serde_json::Value::Null,
    }
}

/// The `n`th execution of a generated history: flows `a`, `b`, `c` and none, every status,
/// received `n` seconds after a fixed instant.
fn nth(n: u64) -> ExecutionRecord {
    let flow = [Some("a"), Some("b"), Some("a"), Some("c"), None][usize::try_from(n % 5).unwrap()];
    let status = match (flow, n % 7) {
        (None, _) | (_, 6) => ExecutionStatus::Rejected,
        (_, 0) => ExecutionStatus::Queued,
        (_, 1) => ExecutionStatus::Running,
        (_, 2) | (_, 3) => ExecutionStatus::Failed,
        _ => ExecutionStatus::Succeeded,
    };
    execution(&execution_id(n), flow, status, 1_700_000_000_000 + i64::try_from(n).unwrap() * 1000)
}

fn ids(records: &[ExecutionRecord]) -> Vec<String> {
    records.iter().map(|record| record.id.clone()).collect()
}

/// Every page of `query` (its `cursor` ignored), concatenated; checks each page's size.
fn list_all(store: &dyn Store, query: &ExecutionQuery) -> Vec<String> {
    let mut query = ExecutionQuery { cursor: None, ..query.clone() };
    let mut listed = Vec::new();
    loop {
        let page = store.list_executions(&query).unwrap();
        assert!(page.items.len() <= query.effective_limit(), "{query:?}");
        listed.extend(ids(&page.items));
        match page.next_cursor {
            Some(cursor) => {
                assert_eq!(Some(&cursor), listed.last(), "the cursor is the last item");
                assert!(listed.len() < 100_000, "the pages do not end");
                query.cursor = Some(cursor);
            }
            None => return listed,
        }
    }
}

/// What `query` must list (all pages) from `records`.
fn expected(records: &[ExecutionRecord], query: &ExecutionQuery) -> Vec<String> {
    let mut matching: Vec<String> = records
        .iter()
        .filter(|record| {
            query.flow.as_ref().is_none_or(|flow| record.flow_id.as_ref() == Some(flow))
                && query.matches(record.status, record.received_at_ms)
        })
        .map(|record| record.id.clone())
        .collect();
    matching.sort_by(|a, b| b.cmp(a));
    matching
}

fn by_flow(flow: &str) -> ExecutionQuery {
    ExecutionQuery { flow: Some(flow.to_owned()), limit: 500, ..ExecutionQuery::default() }
}

fn by_status(status: ExecutionStatus) -> ExecutionQuery {
    ExecutionQuery { status: Some(status), limit: 500, ..ExecutionQuery::default() }
}

fn everything() -> ExecutionQuery {
    ExecutionQuery { limit: 500, ..ExecutionQuery::default() }
}

/// Checks that every listing path (all, by flow, by status) agrees with the records stored.
fn assert_indexes_match(store: &dyn Store, records: &[ExecutionRecord]) {
    let mut flows: Vec<String> = records.iter().filter_map(|r| r.flow_id.clone()).collect();
    flows.sort();
    flows.dedup();
    assert_eq!(store.flows_with_executions().unwrap(), flows);
    assert_eq!(list_all(store, &everything()), expected(records, &everything()));
    for flow in &flows {
        assert_eq!(list_all(store, &by_flow(flow)), expected(records, &by_flow(flow)), "{flow}");
    }
    for status in ExecutionStatus::ALL {
        let query = by_status(status);
        assert_eq!(list_all(store, &query), expected(records, &query), "{status}");
    }
    let mut unfinished: Vec<String> = records
        .iter()
        .filter(|record| record.status.is_unfinished())
        .map(|record| record.id.clone())
        .collect();
    unfinished.sort();
    assert_eq!(ids(&store.unfinished_executions().unwrap()), unfinished);
}

fn idempotency_record(flow: &str, key: &str, expires_at_ms: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        flow_id: flow.to_owned(),
        key: key.to_owned(),
        execution_id: execution_id(7),
        response: RecordedResponse {
            status: 201,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: format!("{{\"key\":{key:?}}}").into_bytes(),
            body_truncated: false,
        },
        expires_at_ms,
    }
}

/// A new store has no executions and no idempotency records; prunes remove nothing.
pub fn an_empty_store_has_no_executions(store: &dyn Store) {
    store.put_executions(&[]).unwrap();
    assert_eq!(store.execution(&execution_id(1)).unwrap(), None);
    let page = store.list_executions(&ExecutionQuery::default()).unwrap();
    assert_eq!((page.items, page.next_cursor), (vec![], None));
    assert_eq!(store.list_executions(&by_flow("a")).unwrap().items, vec![]);
    assert_eq!(store.unfinished_executions().unwrap(), vec![]);
    assert_eq!(store.prune_executions("a", 0, i64::MAX).unwrap(), 0);
    assert_eq!(store.prune_rejected(0).unwrap(), 0);
    assert_eq!(store.flows_with_executions().unwrap(), Vec::<String>::new());
    assert_eq!(store.idempotency("a", "k").unwrap(), None);
    assert_eq!(store.prune_idempotency(i64::MAX).unwrap(), 0);
}

/// Every field comes back as written, binary bodies and traces included.
pub fn an_execution_round_trips(store: &dyn Store) {
    let full = ExecutionRecord {
        credential: Some("deploy-bot".to_owned()),
        started_at_ms: Some(1_700_000_000_010),
        finished_at_ms: Some(1_700_000_000_250),
        request: RecordedRequest {
            method: "PUT".to_owned(),
            path: "/hooks/ünï/x y".to_owned(),
            query: "a=1&token=[redacted]".to_owned(),
            headers: vec![
                ("authorization".to_owned(), "[redacted]".to_owned()),
                ("x-dup".to_owned(), "1".to_owned()),
                ("x-dup".to_owned(), "2".to_owned()),
            ],
            body: (0..=255).collect(),
            body_truncated: true,
        },
        response: Some(RecordedResponse {
            status: 502,
            headers: vec![],
            body: vec![0, 159, 146, 150],
            body_truncated: false,
        }),
        error: Some(RecordedError {
            node: Some("charge".to_owned()),
            message: "upstream said 500".to_owned(),
        }),
        trace: serde_json::json!([{"node": "charge", "duration_ms": 240, "error": "boom"}]),
        ..execution(&execution_id(1), Some("orders"), ExecutionStatus::Failed, -5)
    };
    let rejected = ExecutionRecord {
        flow_version: None,
        route: None,
        request: RecordedRequest { body: vec![], ..full.request.clone() },
        ..execution(&execution_id(2), None, ExecutionStatus::Rejected, i64::MAX)
    };
    store.put_executions(&[full.clone(), rejected.clone()]).unwrap();
    assert_eq!(store.execution(&full.id).unwrap(), Some(full.clone()));
    assert_eq!(store.execution(&rejected.id).unwrap(), Some(rejected.clone()));
    assert_eq!(store.list_executions(&everything()).unwrap().items, vec![rejected, full]);
}

/// Putting an execution again (its status moved on, even its flow changed) replaces it, and it
/// leaves the listings of its old flow and status.
pub fn put_replaces_an_execution_and_its_index_entries(store: &dyn Store) {
    let id = execution_id(1);
    let queued = execution(&id, Some("a"), ExecutionStatus::Queued, 10);
    store.put_executions(std::slice::from_ref(&queued)).unwrap();
    assert_indexes_match(store, std::slice::from_ref(&queued));
    let running = ExecutionRecord { started_at_ms: Some(11), ..queued.clone() };
    let running = ExecutionRecord { status: ExecutionStatus::Running, ..running };
    store.put_executions(std::slice::from_ref(&running)).unwrap();
    assert_indexes_match(store, std::slice::from_ref(&running));
    let moved = ExecutionRecord { status: ExecutionStatus::Succeeded, ..running.clone() };
    let moved = ExecutionRecord { flow_id: Some("b".to_owned()), received_at_ms: 99, ..moved };
    store.put_executions(std::slice::from_ref(&moved)).unwrap();
    assert_eq!(store.execution(&id).unwrap(), Some(moved.clone()));
    assert_indexes_match(store, std::slice::from_ref(&moved));
    let flowless = ExecutionRecord { flow_id: None, status: ExecutionStatus::Rejected, ..moved };
    store.put_executions(std::slice::from_ref(&flowless)).unwrap();
    assert_indexes_match(store, &[flowless]);
}

/// Records encoded by their caller are stored and indexed like the others; a new one replaces
/// nothing, a later one that is not new moves the index entries. A deferred write is read at
/// once, like a durable one.
pub fn encoded_executions_are_stored_as_given(store: &dyn Store) {
    let encode = |record: &ExecutionRecord, new| EncodedExecution::of(record, new).unwrap();
    let fresh = execution(&execution_id(1), Some("a"), ExecutionStatus::Succeeded, 5);
    let other = execution(&execution_id(2), None, ExecutionStatus::Rejected, 6);
    let both = [encode(&fresh, true), encode(&other, true)];
    store.put_encoded_executions(&both, Durability::Now).unwrap();
    assert_eq!(store.execution(&fresh.id).unwrap(), Some(fresh.clone()));
    assert_indexes_match(store, &[fresh.clone(), other.clone()]);
    let failed = ExecutionRecord { status: ExecutionStatus::Failed, ..fresh.clone() };
    let failed = ExecutionRecord { flow_id: Some("b".to_owned()), ..failed };
    store.put_encoded_executions(&[encode(&failed, false)], Durability::Deferred).unwrap();
    assert_eq!(store.execution(&fresh.id).unwrap(), Some(failed.clone()));
    assert_indexes_match(store, &[failed, other]);
    store.put_encoded_executions(&[], Durability::Now).unwrap();
    store.put_encoded_executions(&[], Durability::Deferred).unwrap();
    store.flush().unwrap();
}

/// Within one batch, the last record with an id is the one kept.
pub fn a_batch_repeating_an_id_keeps_the_last(store: &dyn Store) {
    let first = execution(&execution_id(1), Some("a"), ExecutionStatus::Queued, 1);
    let last = execution(&execution_id(1), Some("b"), ExecutionStatus::Failed, 2);
    let other = execution(&execution_id(2), Some("a"), ExecutionStatus::Running, 3);
    store.put_executions(&[first, other.clone(), last.clone()]).unwrap();
    assert_eq!(store.execution(&last.id).unwrap(), Some(last.clone()));
    assert_indexes_match(store, &[last, other]);
}

/// Listings are in descending id order, whatever the order of the writes.
pub fn executions_are_listed_newest_first(store: &dyn Store) {
    let records: Vec<ExecutionRecord> = [5u64, 1, 9, 3, 7, 2, 8, 0, 6, 4, 70_000, 65_535]
        .into_iter()
        .map(|n| execution(&execution_id(n), Some("a"), ExecutionStatus::Succeeded, 0))
        .collect();
    for chunk in records.chunks(5) {
        store.put_executions(chunk).unwrap();
    }
    let listed = ids(&store.list_executions(&everything()).unwrap().items);
    let mut sorted = ids(&records);
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed, sorted);
    assert_eq!(ids(&store.list_executions(&by_flow("a")).unwrap().items), sorted);
}

/// Every combination of flow, status and time filters lists exactly the matching executions.
pub fn listing_filters_by_flow_status_and_time(store: &dyn Store) {
    let records: Vec<ExecutionRecord> = (0..140).map(nth).collect();
    store.put_executions(&records).unwrap();
    let t = |n: i64| 1_700_000_000_000 + n * 1000;
    let flows = [None, Some("a"), Some("b"), Some("c"), Some("missing"), Some("")];
    let statuses = std::iter::once(None).chain(ExecutionStatus::ALL.map(Some));
    let times =
        [(None, None), (Some(t(20)), None), (None, Some(t(100))), (Some(t(30)), Some(t(31)))];
    let times = times.into_iter().chain([(Some(t(50)), Some(t(50))), (Some(t(90)), Some(t(10)))]);
    let times: Vec<_> = times.collect();
    for status in statuses {
        for flow in flows {
            for &(since_ms, until_ms) in &times {
                let query = ExecutionQuery {
                    flow: flow.map(str::to_owned),
                    status,
                    since_ms,
                    until_ms,
                    limit: 500,
                    cursor: None,
                };
                let page = store.list_executions(&query).unwrap();
                assert_eq!(ids(&page.items), expected(&records, &query), "{query:?}");
                assert_eq!(page.next_cursor, None, "{query:?}");
                for item in &page.items {
                    assert_eq!(
                        item,
                        &records[records.iter().position(|r| r.id == item.id).unwrap()]
                    );
                }
            }
        }
    }
    // Receive times that do not follow the ids are still filtered by time, not by id.
    let early = execution(&execution_id(1000), Some("a"), ExecutionStatus::Succeeded, t(-50));
    store.put_executions(std::slice::from_ref(&early)).unwrap();
    let query = ExecutionQuery { until_ms: Some(t(0)), ..by_flow("a") };
    assert_eq!(ids(&store.list_executions(&query).unwrap().items), vec![early.id]);
}

/// Walking the pages of a listing yields every match once, in order, for small page sizes.
pub fn pages_have_no_duplicates_or_gaps(store: &dyn Store) {
    let records: Vec<ExecutionRecord> = (0..230).map(nth).collect();
    for chunk in records.chunks(64) {
        store.put_executions(chunk).unwrap();
    }
    let queries = [
        everything(),
        by_flow("a"),
        by_status(ExecutionStatus::Rejected),
        ExecutionQuery { since_ms: Some(1_700_000_050_000), ..by_flow("b") },
        ExecutionQuery { status: Some(ExecutionStatus::Failed), ..by_flow("a") },
    ];
    for query in queries {
        let all = expected(&records, &query);
        assert!(all.len() > 10, "{query:?}");
        for limit in [1, 3, 7, all.len() - 1, all.len(), all.len() + 1] {
            let query = ExecutionQuery { limit, ..query.clone() };
            assert_eq!(list_all(store, &query), all, "{query:?}");
        }
    }
    // A page that ends exactly at the last match says there is nothing more.
    let query = ExecutionQuery { limit: 46, ..by_flow("a") };
    let page = store.list_executions(&query).unwrap();
    assert_eq!((page.items.len(), page.next_cursor.is_some()), (46, true));
    let query = ExecutionQuery { cursor: page.next_cursor, ..query };
    let page = store.list_executions(&query).unwrap();
    assert_eq!((page.items.len(), page.next_cursor), (46, None));
    assert_eq!(expected(&records, &by_flow("a")).len(), 92);
}

/// `limit` 0 is the default page size; anything above the cap is capped.
pub fn limit_defaults_and_is_capped(store: &dyn Store) {
    let records: Vec<ExecutionRecord> = (0..620)
        .map(|n| execution(&execution_id(n), Some("a"), ExecutionStatus::Succeeded, 0))
        .collect();
    store.put_executions(&records).unwrap();
    for (limit, expected) in [(0, ExecutionQuery::DEFAULT_LIMIT), (1, 1), (499, 499), (500, 500)]
        .into_iter()
        .chain([(501, 500), (usize::MAX, 500)])
    {
        for query in [everything(), by_flow("a")] {
            let query = ExecutionQuery { limit, ..query };
            let page = store.list_executions(&query).unwrap();
            assert_eq!(page.items.len(), expected, "{query:?}");
            assert_eq!(page.next_cursor.as_ref(), page.items.last().map(|r| &r.id));
        }
    }
}

/// A cursor continues strictly after its id, whether or not that id exists or matches.
pub fn cursor_edge_cases(store: &dyn Store) {
    let records: Vec<ExecutionRecord> = [10u64, 20, 30, 40]
        .into_iter()
        .map(|n| {
            let flow = if n == 30 { "b" } else { "a" };
            execution(&execution_id(n), Some(flow), ExecutionStatus::Succeeded, 0)
        })
        .collect();
    store.put_executions(&records).unwrap();
    let list = |query: ExecutionQuery, cursor: &str| {
        let page = store
            .list_executions(&ExecutionQuery { cursor: Some(cursor.to_owned()), ..query })
            .unwrap();
        assert_eq!(page.next_cursor, None);
        ids(&page.items)
    };
    let id = |n| execution_id(n);
    for query in
        [everything(), ExecutionQuery { status: Some(ExecutionStatus::Succeeded), ..everything() }]
    {
        assert_eq!(list(query.clone(), &id(30)), [id(20), id(10)], "an existing id");
        assert_eq!(list(query.clone(), &id(25)), [id(20), id(10)], "an unknown id");
        assert_eq!(list(query.clone(), &id(10)), Vec::<String>::new(), "the oldest id");
        assert_eq!(list(query.clone(), &id(5)), Vec::<String>::new(), "before everything");
        assert_eq!(list(query.clone(), &id(50)), [id(40), id(30), id(20), id(10)], "after all");
        assert_eq!(list(query.clone(), "~"), [id(40), id(30), id(20), id(10)], "not an id");
        assert_eq!(list(query.clone(), ""), [id(40), id(30), id(20), id(10)], "empty");
        assert_eq!(list(query.clone(), &format!("{}\0", id(30))), [id(30), id(20), id(10)]);
    }
    assert_eq!(list(by_flow("a"), &id(30)), [id(20), id(10)], "the id of another flow");
    assert_eq!(list(by_flow("a"), &id(40)), [id(20), id(10)]);
    assert_eq!(list(by_flow("b"), &id(40)), [id(30)]);
    assert_eq!(list(by_flow("b"), &id(30)), Vec::<String>::new());
}

/// Ids and flow ids that contain separators or unusual characters stay apart.
pub fn unusual_ids_and_flow_ids_are_kept_apart(store: &dyn Store) {
    let records = [
        execution("x", Some("a"), ExecutionStatus::Succeeded, 1),
        execution("x\0y", Some("a"), ExecutionStatus::Succeeded, 2),
        execution("\0", Some("a\0"), ExecutionStatus::Running, 3),
        execution("y", Some("a\0b"), ExecutionStatus::Succeeded, 4),
        execution("z", Some(""), ExecutionStatus::Failed, 5),
        execution("ü\u{10FFFF}", Some("a b/ü"), ExecutionStatus::Queued, 6),
        execution("", Some("ab"), ExecutionStatus::Rejected, 7),
    ];
    store.put_executions(&records).unwrap();
    for record in &records {
        assert_eq!(store.execution(&record.id).unwrap().as_ref(), Some(record), "{:?}", record.id);
    }
    assert_eq!(store.execution("x\0").unwrap(), None);
    assert_indexes_match(store, &records);
    assert_eq!(store.prune_executions("a", 0, i64::MIN).unwrap(), 2);
    assert_indexes_match(store, &records[2..]);
}

/// Queued and running executions, oldest first; a finished one leaves the list.
pub fn unfinished_executions_are_oldest_first(store: &dyn Store) {
    let records: Vec<ExecutionRecord> = (0..60).map(nth).collect();
    let mut shuffled = records.clone();
    shuffled.reverse();
    store.put_executions(&shuffled).unwrap();
    let unfinished = store.unfinished_executions().unwrap();
    let expected: Vec<&ExecutionRecord> =
        records.iter().filter(|r| r.status.is_unfinished()).collect();
    assert!(expected.len() > 10);
    assert_eq!(unfinished.iter().collect::<Vec<_>>(), expected);
    let done = ExecutionRecord { status: ExecutionStatus::Succeeded, ..unfinished[0].clone() };
    let started = ExecutionRecord { status: ExecutionStatus::Running, ..unfinished[1].clone() };
    store.put_executions(&[done, started.clone()]).unwrap();
    let after = store.unfinished_executions().unwrap();
    assert_eq!(after.len(), expected.len() - 1);
    assert_eq!(after[0], started);
}

/// A flow keeps its newest `keep` finished executions; rejected ones and unfinished ones do not
/// count and (unless old) stay; other flows are untouched.
pub fn prune_keeps_the_newest_finished_per_flow(store: &dyn Store) {
    use ExecutionStatus::{Failed, Queued, Rejected, Running, Succeeded};
    let statuses = [
        Succeeded, Queued, Failed, Succeeded, Rejected, Running, Succeeded, Failed, Succeeded,
        Rejected, Succeeded, Queued, Succeeded,
    ];
    let mut records: Vec<ExecutionRecord> = statuses
        .iter()
        .enumerate()
        .map(|(n, &status)| execution(&execution_id(n as u64), Some("a"), status, 0))
        .collect();
    let others: Vec<ExecutionRecord> =
        (100..105).map(|n| execution(&execution_id(n), Some("b"), Succeeded, 0)).collect();
    store.put_executions(&records).unwrap();
    store.put_executions(&others).unwrap();

    // 8 finished, not rejected: ids 0, 2, 3, 6, 7, 8, 10, 12. Keep the newest 3: 8, 10, 12.
    assert_eq!(store.prune_executions("a", 3, i64::MIN).unwrap(), 5);
    let removed = [0, 2, 3, 6, 7].map(execution_id);
    records.retain(|record| !removed.contains(&record.id));
    for id in &removed {
        assert_eq!(store.execution(id).unwrap(), None);
    }
    let all: Vec<ExecutionRecord> = records.iter().chain(&others).cloned().collect();
    assert_indexes_match(store, &all);
    assert_eq!(store.prune_executions("a", 3, i64::MIN).unwrap(), 0, "idempotent");

    // Keep none: every finished one but the rejected goes; unfinished ones stay.
    assert_eq!(store.prune_executions("a", 0, i64::MIN).unwrap(), 3);
    records.retain(|record| record.status.is_unfinished() || record.status == Rejected);
    let all: Vec<ExecutionRecord> = records.iter().chain(&others).cloned().collect();
    assert_indexes_match(store, &all);
    assert_eq!(store.prune_executions("missing", 0, i64::MAX).unwrap(), 0);
}

/// Finished executions received before the cutoff go, rejected ones included; unfinished ones
/// never do.
pub fn prune_removes_old_finished_executions(store: &dyn Store) {
    use ExecutionStatus::{Failed, Queued, Rejected, Running, Succeeded};
    let statuses = [Succeeded, Queued, Failed, Rejected, Running, Succeeded, Failed, Queued];
    let records: Vec<ExecutionRecord> = statuses
        .iter()
        .enumerate()
        .map(|(n, &status)| {
            let at = i64::try_from(n).unwrap() * 10;
            execution(&execution_id(n as u64), Some("a"), status, at)
        })
        .collect();
    store.put_executions(&records).unwrap();
    // Received before 50: 0, 2 and 3 (rejected) are finished; 1 and 4 are not.
    assert_eq!(store.prune_executions("a", usize::MAX, 50).unwrap(), 3);
    let left: Vec<ExecutionRecord> =
        records.iter().filter(|r| ![0, 2, 3].map(execution_id).contains(&r.id)).cloned().collect();
    assert_indexes_match(store, &left);
    // Everything is old now, and the count is generous: only unfinished ones remain.
    assert_eq!(store.prune_executions("a", usize::MAX, i64::MAX).unwrap(), 2);
    let unfinished: Vec<ExecutionRecord> =
        records.iter().filter(|r| r.status.is_unfinished()).cloned().collect();
    assert_eq!(unfinished.len(), 3);
    assert_indexes_match(store, &unfinished);
}

/// A prune of thousands of executions (several writes) keeps exactly what a small one would.
pub fn a_large_prune_spans_several_writes(store: &dyn Store) {
    use ExecutionStatus::{Queued, Rejected, Succeeded};
    let status = |n: u64| match n {
        _ if n.is_multiple_of(10) => Queued,
        _ if n.is_multiple_of(7) => Rejected,
        _ => Succeeded,
    };
    let records: Vec<ExecutionRecord> = (0..3000)
        .map(|n| execution(&execution_id(n), Some("a"), status(n), i64::try_from(n).unwrap()))
        .collect();
    for batch in records.chunks(500) {
        store.put_executions(batch).unwrap();
    }
    let succeeded: Vec<u64> = (0..3000).filter(|&n| status(n) == Succeeded).collect();
    let removed = store.prune_executions("a", 50, i64::MIN).unwrap();
    assert_eq!(removed, succeeded.len() - 50);
    let rejected = (0..3000).filter(|&n| status(n) == Rejected).count();
    assert_eq!(store.prune_rejected(10).unwrap(), rejected - 10);
    let newest = &succeeded[succeeded.len() - 50..];
    let kept = |n: &u64| match status(*n) {
        Queued => true,
        Rejected => (0..3000).filter(|&m| m > *n && status(m) == Rejected).count() < 10,
        _ => newest.contains(n),
    };
    let left: Vec<ExecutionRecord> =
        (0..3000).filter(kept).map(|n| records[n as usize].clone()).collect();
    assert_eq!(left.len(), 300 + 10 + 50);
    assert_indexes_match(store, &left);
}

/// Rejected executions beyond the newest `keep` go, with or without a flow; nothing else does.
pub fn prune_rejected_keeps_the_newest(store: &dyn Store) {
    let records: Vec<ExecutionRecord> = (0..100).map(nth).collect();
    store.put_executions(&records).unwrap();
    let mut rejected: Vec<&ExecutionRecord> =
        records.iter().filter(|r| r.status == ExecutionStatus::Rejected).collect();
    assert!(rejected.iter().any(|r| r.flow_id.is_some()) && rejected.len() > 10);
    let count = rejected.len();
    assert_eq!(store.prune_rejected(count).unwrap(), 0);
    assert_eq!(store.prune_rejected(4).unwrap(), count - 4);
    rejected.sort_by(|a, b| b.id.cmp(&a.id));
    let kept: Vec<String> = rejected[..4].iter().map(|r| r.id.clone()).collect();
    let left: Vec<ExecutionRecord> = records
        .iter()
        .filter(|r| r.status != ExecutionStatus::Rejected || kept.contains(&r.id))
        .cloned()
        .collect();
    assert_indexes_match(store, &left);
    assert_eq!(store.prune_rejected(0).unwrap(), 4);
    let left: Vec<ExecutionRecord> =
        left.into_iter().filter(|r| r.status != ExecutionStatus::Rejected).collect();
    assert_indexes_match(store, &left);
}

/// The flows that have executions, once each, sorted; a flow whose executions are all pruned is
/// gone; executions without a flow add none.
pub fn flows_with_executions_are_distinct_and_sorted(store: &dyn Store) {
    let flows = ["b", "a", "a-b", "ab", "é", "a", "", "b"];
    let records: Vec<ExecutionRecord> = flows
        .iter()
        .enumerate()
        .map(|(n, &flow)| {
            execution(&execution_id(n as u64), Some(flow), ExecutionStatus::Failed, 0)
        })
        .chain([execution(&execution_id(99), None, ExecutionStatus::Rejected, 0)])
        .collect();
    store.put_executions(&records).unwrap();
    assert_eq!(store.flows_with_executions().unwrap(), ["", "a", "a-b", "ab", "b", "é"]);
    assert_eq!(store.prune_executions("ab", 0, 0).unwrap(), 1);
    assert_eq!(store.prune_executions("a", 1, 0).unwrap(), 1);
    assert_eq!(store.flows_with_executions().unwrap(), ["", "a", "a-b", "b", "é"]);
}

/// A thousand records in one call are all stored and indexed.
pub fn a_large_batch_is_stored_whole(store: &dyn Store) {
    let records: Vec<ExecutionRecord> = (0..1000).map(nth).collect();
    store.put_executions(&records).unwrap();
    assert_indexes_match(store, &records);
    for record in records.iter().step_by(97) {
        assert_eq!(store.execution(&record.id).unwrap().as_ref(), Some(record));
    }
    // The same ids again, all finished: one more batch that replaces every record.
    let finished: Vec<ExecutionRecord> = records
        .iter()
        .map(|r| ExecutionRecord { status: ExecutionStatus::Succeeded, ..r.clone() })
        .collect();
    store.put_executions(&finished).unwrap();
    assert_indexes_match(store, &finished);
}

/// Batches that rewrite the same ids from several threads leave each id indexed once, under the
/// status and flow of the record that won.
pub fn concurrent_batches_keep_the_indexes_consistent(store: &dyn Store) {
    const THREADS: u64 = 4;
    const IDS: u64 = 40;
    thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for round in 0..5u64 {
                    let batch: Vec<ExecutionRecord> = (0..IDS)
                        .map(|n| {
                            let pick = n + thread + round;
                            let status = ExecutionStatus::ALL[usize::try_from(pick % 5).unwrap()];
                            let flow = ["a", "b", "c"][usize::try_from(pick % 3).unwrap()];
                            execution(&execution_id(n), Some(flow), status, 0)
                        })
                        .collect();
                    store.put_executions(&batch).unwrap();
                }
            });
        }
    });
    let stored: Vec<ExecutionRecord> =
        (0..IDS).map(|n| store.execution(&execution_id(n)).unwrap().unwrap()).collect();
    assert_indexes_match(store, &stored);
}

/// An idempotency record comes back as written, and a put replaces it.
pub fn an_idempotency_record_round_trips(store: &dyn Store) {
    let record = idempotency_record("orders", "order-42", 1_700_000_060_000);
    store.put_idempotency(&record).unwrap();
    assert_eq!(store.idempotency("orders", "order-42").unwrap(), Some(record.clone()));
    let replaced = IdempotencyRecord { execution_id: execution_id(9), ..record.clone() };
    let replaced = IdempotencyRecord { expires_at_ms: 1_700_000_090_000, ..replaced };
    store.put_idempotency(&replaced).unwrap();
    assert_eq!(store.idempotency("orders", "order-42").unwrap(), Some(replaced));
    // The replaced record's first expiry no longer applies to it.
    assert_eq!(store.prune_idempotency(1_700_000_060_000).unwrap(), 0);
    assert!(store.idempotency("orders", "order-42").unwrap().is_some());
}

/// A key belongs to its flow, and keys with separators or unusual characters stay apart.
pub fn idempotency_keys_are_matched_exactly(store: &dyn Store) {
    let pairs = [
        ("f", "a"),
        ("f", "\0a"),
        ("f\0", "a"),
        ("f\0a", ""),
        ("f", ""),
        ("", "f"),
        ("g", "a"),
        ("f", "ä \u{10FFFF}"),
        ("f", "A"),
    ];
    for (n, (flow, key)) in pairs.iter().enumerate() {
        store.put_idempotency(&idempotency_record(flow, key, i64::try_from(n).unwrap())).unwrap();
    }
    for (n, (flow, key)) in pairs.iter().enumerate() {
        let found = store.idempotency(flow, key).unwrap().unwrap();
        assert_eq!(
            found,
            idempotency_record(flow, key, i64::try_from(n).unwrap()),
            "{flow:?} {key:?}"
        );
    }
    for (flow, key) in [("f", "a "), ("f", "b"), ("h", "a"), ("f\0\0", "a"), ("", "")] {
        assert_eq!(store.idempotency(flow, key).unwrap(), None, "{flow:?} {key:?}");
    }
}

/// Records whose expiry is at or before `now` are removed, and only those.
pub fn prune_idempotency_removes_only_expired_records(store: &dyn Store) {
    for (key, expires_at_ms) in [("a", -100), ("b", 100), ("c", 200), ("d", 300), ("e", i64::MAX)] {
        store.put_idempotency(&idempotency_record("f", key, expires_at_ms)).unwrap();
    }
    store.put_idempotency(&idempotency_record("g", "b", 100)).unwrap();
    // Extended before the prune: it stays.
    store.put_idempotency(&idempotency_record("f", "c", 1000)).unwrap();
    assert_eq!(store.prune_idempotency(i64::MIN).unwrap(), 0);
    assert_eq!(store.prune_idempotency(200).unwrap(), 3);
    let left = |flow| {
        ["a", "b", "c", "d", "e"]
            .into_iter()
            .filter(|key| store.idempotency(flow, key).unwrap().is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(left("f"), ["c", "d", "e"]);
    assert_eq!(left("g"), Vec::<&str>::new());
    assert_eq!(store.prune_idempotency(200).unwrap(), 0);
    assert_eq!(store.prune_idempotency(i64::MAX).unwrap(), 3);
    assert_eq!(left("f"), Vec::<&str>::new());
}

/// Executions, their indexes, prunes and idempotency records are all there after a reopen.
pub fn executions_survive_a_reopen(dir: &Path, open: &dyn Fn(&Path) -> Arc<dyn Store>) {
    let records: Vec<ExecutionRecord> = (0..300).map(nth).collect();
    let mut left = records.clone();
    with_store(dir, open, |store| {
        store.put_executions(&records).unwrap();
        store.put_idempotency(&idempotency_record("a", "k", 500)).unwrap();
        store.put_idempotency(&idempotency_record("a", "gone", 5)).unwrap();
        assert_eq!(store.prune_idempotency(10).unwrap(), 1);
        let removed = store.prune_rejected(3).unwrap();
        assert!(removed > 0);
        let mut rejected: Vec<String> = records
            .iter()
            .filter(|r| r.status == ExecutionStatus::Rejected)
            .map(|r| r.id.clone())
            .collect();
        rejected.sort();
        let doomed = &rejected[..rejected.len() - 3];
        left.retain(|r| !doomed.contains(&r.id));
    });
    with_store(dir, open, |store| {
        assert_indexes_match(store, &left);
        assert_eq!(store.idempotency("a", "k").unwrap(), Some(idempotency_record("a", "k", 500)));
        assert_eq!(store.idempotency("a", "gone").unwrap(), None);
        assert_eq!(store.prune_idempotency(500).unwrap(), 1);
        let running: Vec<ExecutionRecord> = store
            .unfinished_executions()
            .unwrap()
            .into_iter()
            .map(|r| ExecutionRecord { status: ExecutionStatus::Succeeded, ..r })
            .collect();
        store.put_executions(&running).unwrap();
    });
    with_store(dir, open, |store| {
        assert_eq!(store.unfinished_executions().unwrap(), vec![]);
        assert_eq!(store.idempotency("a", "k").unwrap(), None);
        assert_eq!(store.list_executions(&everything()).unwrap().items.len(), left.len());
    });
}
