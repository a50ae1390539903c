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
    Attempt, Cause, CollectionInfo, Credential, CredentialKind, Delivery, DeliveryPage,
    DeliveryQuery, DeliveryStatus, Durability, EncodedExecution, ExecutionQuery, ExecutionRecord,
    ExecutionStatus, IdempotencyRecord, PendingEvent, RecordOrder, RecordQuery, RecordWrite,
    RecordWritten, RecordedError, RecordedRequest, RecordedResponse, SigningSecret, Store,
    StoreError, StoredRecord, StoredSecret, Subscription, WriteMode,
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
    ("an_empty_store_has_no_outbound_state", an_empty_store_has_no_outbound_state),
    (
        "subscriptions_round_trip_and_are_listed_by_id",
        subscriptions_round_trip_and_are_listed_by_id,
    ),
    ("delete_subscription_removes_its_deliveries", delete_subscription_removes_its_deliveries),
    ("a_delivery_round_trips", a_delivery_round_trips),
    ("due_deliveries_are_earliest_first", due_deliveries_are_earliest_first),
    ("a_rescheduled_delivery_leaves_its_old_place", a_rescheduled_delivery_leaves_its_old_place),
    ("held_deliveries_are_pending_but_not_due", held_deliveries_are_pending_but_not_due),
    ("deliveries_are_listed_newest_first", deliveries_are_listed_newest_first),
    ("delivery_pages_default_cap_and_continue", delivery_pages_default_cap_and_continue),
    ("unusual_subscription_ids_are_kept_apart", unusual_subscription_ids_are_kept_apart),
    ("pending_deliveries_is_the_queue_depth", pending_deliveries_is_the_queue_depth),
    ("prune_deliveries_by_count_and_age", prune_deliveries_by_count_and_age),
    ("a_large_delivery_prune_spans_several_writes", a_large_delivery_prune_spans_several_writes),
    (
        "a_delivery_batch_repeating_an_id_keeps_the_last",
        a_delivery_batch_repeating_an_id_keeps_the_last,
    ),
    (
        "concurrent_delivery_batches_keep_the_indexes_consistent",
        concurrent_delivery_batches_keep_the_indexes_consistent,
    ),
    ("an_execution_with_a_cause_round_trips", an_execution_with_a_cause_round_trips),
    ("executions_are_listed_by_parent", executions_are_listed_by_parent),
    ("an_empty_store_has_no_records", an_empty_store_has_no_records),
    ("insert_and_upsert_keep_versions", insert_and_upsert_keep_versions),
    ("a_record_batch_sees_its_earlier_writes", a_record_batch_sees_its_earlier_writes),
    ("record_names_are_checked_before_writing", record_names_are_checked_before_writing),
    ("records_are_listed_by_key_and_by_creation", records_are_listed_by_key_and_by_creation),
    ("record_pages_default_cap_and_continue", record_pages_default_cap_and_continue),
    ("collections_are_counted_and_sorted", collections_are_counted_and_sorted),
    ("delete_record_removes_only_that_record", delete_record_removes_only_that_record),
    ("concurrent_record_writes_keep_counts_exact", concurrent_record_writes_keep_counts_exact),
    (
        "events_are_pending_oldest_first_until_deleted",
        events_are_pending_oldest_first_until_deleted,
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
    outbound_survives_a_reopen(&new_dir(), open);
    records_and_events_survive_a_reopen(&new_dir(), open);
    deferred_deliveries_are_seen_at_once_and_kept_after_a_flush(&new_dir(), open);
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
                secret: None,
            },
            StoredSecret {
                digest: [0x01; 32],
                created_at_ms: 1_700_000_100_000,
                expires_at_ms: None,
                secret: None,
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
            secret: None,
        }],
        created_at_ms: -1,
    };
    let hmac = Credential {
        name: "github".into(),
        kind: CredentialKind::Hmac,
        username: None,
        secrets: vec![StoredSecret {
            digest: [0x5a; 32],
            created_at_ms: 3,
            expires_at_ms: None,
            secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw \"é\u{0}".into()),
        }],
        created_at_ms: 3,
    };
    let bearer = Credential {
        name: "ünï.cödé".into(),
        kind: CredentialKind::Bearer,
        username: None,
        secrets: vec![],
        created_at_ms: 0,
    };
    for credential in [&basic, &api_key, &bearer, &hmac] {
        store.put_credential(credential).unwrap();
    }
    for credential in [&basic, &api_key, &bearer, &hmac] {
        assert_eq!(store.credential(&credential.name).unwrap().as_ref(), Some(credential));
    }
}

/// Putting a credential under an existing name replaces it whole.
pub fn put_replaces_a_credential(store: &dyn Store) {
    store.put_credential(&credential("ci")).unwrap();
    let replacement = Credential {
        kind: CredentialKind::Bearer,
        username: None,
        secrets: vec![StoredSecret {
            digest: [9; 32],
            created_at_ms: 5,
            expires_at_ms: None,
            secret: None,
        }],
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
        cause: None,
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
            let parent = record.cause.as_ref().map(|cause| &cause.parent_execution_id);
            query.flow.as_ref().is_none_or(|flow| record.flow_id.as_ref() == Some(flow))
                && query.parent.as_ref().is_none_or(|wanted| parent == Some(wanted))
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
    let mut parents: Vec<&str> = records
        .iter()
        .filter_map(|r| r.cause.as_ref().map(|c| c.parent_execution_id.as_str()))
        .collect();
    parents.sort_unstable();
    parents.dedup();
    for parent in parents.into_iter().chain(["missing"]) {
        let statuses = std::iter::once(None).chain(ExecutionStatus::ALL.map(Some));
        for status in statuses {
            let query = ExecutionQuery { parent: Some(parent.to_owned()), status, ..everything() };
            assert_eq!(list_all(store, &query), expected(records, &query), "{query:?}");
        }
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
                    parent: None,
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

// Subscriptions and deliveries.

/// An id shaped like a subscription's (`sub_` and 32 hex digits) whose order is the order of `n`.
pub fn subscription_id(n: u64) -> String {
    format!("sub_{n:032x}")
}

/// An id shaped like a delivery's (`msg_` and 32 hex digits) whose order is the order of `n`.
pub fn delivery_id(n: u64) -> String {
    format!("msg_{n:032x}")
}

/// A subscription to every event with one current secret and nothing optional.
pub fn subscription(id: &str) -> Subscription {
    Subscription {
        id: id.to_owned(),
        name: format!("{id} receiver"),
        url: "https://example.com/hooks".to_owned(),
        events: vec!["*".to_owned()],
        active: true,
        description: None,
        headers: vec![],
        payload: None,
        secrets: vec![SigningSecret {
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
            created_at_ms: 1_700_000_000_000,
            expires_at_ms: None,
        }],
        disabled_reason: None,
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
    }
}

/// A delivery of `subscription_id` with `status`, created at `created_at_ms`, next attempted at
/// `next_attempt_at_ms`, never attempted yet.
pub fn delivery(
    id: &str,
    subscription_id: &str,
    status: DeliveryStatus,
    created_at_ms: i64,
    next_attempt_at_ms: Option<i64>,
) -> Delivery {
    Delivery {
        id: id.to_owned(),
        subscription_id: subscription_id.to_owned(),
        event_type: "order.created".to_owned(),
        payload: br#"{"type":"order.created","data":{"id":1}}"#.to_vec(),
        status,
        created_at_ms,
        next_attempt_at_ms,
        attempts: vec![],
    }
}

/// The `n`th delivery of a generated history: subscriptions 0, 1 and 2, every status, scheduled
/// and held pending ones, created `n` seconds after a fixed instant.
fn nth_delivery(n: u64) -> Delivery {
    let subscription = subscription_id([0, 1, 0, 2][usize::try_from(n % 4).unwrap()]);
    let created = 1_700_000_000_000 + i64::try_from(n).unwrap() * 1000;
    let (status, next) = match n % 6 {
        0 => (DeliveryStatus::Pending, Some(created + 5000 - i64::try_from(n % 5).unwrap() * 3000)),
        1 => (DeliveryStatus::Pending, None),
        2 => (DeliveryStatus::Failed, None),
        _ => (DeliveryStatus::Succeeded, None),
    };
    delivery(&delivery_id(n), &subscription, status, created, next)
}

fn delivery_ids(deliveries: &[Delivery]) -> Vec<String> {
    deliveries.iter().map(|delivery| delivery.id.clone()).collect()
}

fn deliveries_by(subscription: Option<&str>, status: Option<DeliveryStatus>) -> DeliveryQuery {
    DeliveryQuery {
        subscription_id: subscription.map(str::to_owned),
        status,
        limit: 7,
        ..DeliveryQuery::default()
    }
}

/// Every page of `query` (its `cursor` ignored), concatenated; checks each page's size.
fn list_all_deliveries(store: &dyn Store, query: &DeliveryQuery) -> Vec<String> {
    let mut query = DeliveryQuery { cursor: None, ..query.clone() };
    let mut listed = Vec::new();
    loop {
        let page = store.list_deliveries(&query).unwrap();
        assert!(page.items.len() <= query.effective_limit(), "{query:?}");
        listed.extend(delivery_ids(&page.items));
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

/// What `query` must list (all pages) from `deliveries`.
fn expected_deliveries(deliveries: &[Delivery], query: &DeliveryQuery) -> Vec<String> {
    let mut matching: Vec<String> = deliveries
        .iter()
        .filter(|d| {
            query.subscription_id.as_ref().is_none_or(|s| *s == d.subscription_id)
                && query.status.is_none_or(|status| status == d.status)
        })
        .map(|d| d.id.clone())
        .collect();
    matching.sort_by(|a, b| b.cmp(a));
    matching
}

/// Checks that every read path (get, listings, due, held, next due, queue depth) agrees with the
/// deliveries stored, and that nothing else is stored.
fn assert_deliveries_match(store: &dyn Store, deliveries: &[Delivery]) {
    let mut subscriptions: Vec<&str> =
        deliveries.iter().map(|d| d.subscription_id.as_str()).collect();
    subscriptions.sort_unstable();
    subscriptions.dedup();
    let statuses = [None].into_iter().chain(DeliveryStatus::ALL.map(Some));
    for status in statuses {
        for subscription in
            [None, Some("sub_missing")].into_iter().chain(subscriptions.iter().copied().map(Some))
        {
            let query = deliveries_by(subscription, status);
            assert_eq!(
                list_all_deliveries(store, &query),
                expected_deliveries(deliveries, &query),
                "{query:?}"
            );
        }
    }
    for delivery in deliveries {
        assert_eq!(store.delivery(&delivery.id).unwrap().as_ref(), Some(delivery));
    }
    let pending = || deliveries.iter().filter(|d| d.status == DeliveryStatus::Pending);
    let mut due: Vec<&Delivery> = pending().filter(|d| d.next_attempt_at_ms.is_some()).collect();
    due.sort_by(|a, b| (a.next_attempt_at_ms, &a.id).cmp(&(b.next_attempt_at_ms, &b.id)));
    let due: Vec<Delivery> = due.into_iter().cloned().collect();
    assert_eq!(store.due_deliveries(i64::MAX, usize::MAX).unwrap(), due);
    assert_eq!(store.next_due_ms().unwrap(), due.first().and_then(|d| d.next_attempt_at_ms));
    for subscription in subscriptions.into_iter().chain(["sub_missing"]) {
        let mut held: Vec<Delivery> = pending()
            .filter(|d| d.next_attempt_at_ms.is_none() && d.subscription_id == subscription)
            .cloned()
            .collect();
        held.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(store.held_deliveries(subscription).unwrap(), held, "{subscription}");
    }
    assert_eq!(store.pending_deliveries().unwrap(), pending().count());
}

/// A new store has no subscriptions and no deliveries; deletes and prunes remove nothing.
pub fn an_empty_store_has_no_outbound_state(store: &dyn Store) {
    assert_eq!(store.subscription(&subscription_id(1)).unwrap(), None);
    assert_eq!(store.subscriptions().unwrap(), vec![]);
    assert!(!store.delete_subscription(&subscription_id(1)).unwrap());
    store.put_deliveries(&[], Durability::Now).unwrap();
    assert_eq!(store.delivery(&delivery_id(1)).unwrap(), None);
    assert_eq!(store.due_deliveries(i64::MAX, 100).unwrap(), vec![]);
    assert_eq!(store.next_due_ms().unwrap(), None);
    assert_eq!(store.held_deliveries(&subscription_id(1)).unwrap(), vec![]);
    let page = store.list_deliveries(&DeliveryQuery::default()).unwrap();
    assert_eq!(page, DeliveryPage::default());
    assert_eq!(store.pending_deliveries().unwrap(), 0);
    assert_eq!(store.prune_deliveries(0, i64::MAX).unwrap(), 0);
}

/// Every field of a subscription comes back as written; a put replaces one; the list is by id.
pub fn subscriptions_round_trip_and_are_listed_by_id(store: &dyn Store) {
    let full = Subscription {
        name: "Orders to the ERP".to_owned(),
        url: "http://erp.internal:8080/in?x=1".to_owned(),
        events: vec!["order.created".to_owned(), "order.paid".to_owned()],
        active: false,
        description: Some("ünï\ncode".to_owned()),
        headers: vec![
            ("x-api-key".to_owned(), "k-123".to_owned()),
            ("x-dup".to_owned(), "1".to_owned()),
            ("x-dup".to_owned(), "2".to_owned()),
        ],
        payload: Some(serde_json::json!({"order": "{{ event.data.id }}", "n": [1, null]})),
        secrets: vec![
            SigningSecret {
                secret: "whsec_new".to_owned(),
                created_at_ms: 1_700_000_100_000,
                expires_at_ms: None,
            },
            SigningSecret {
                secret: "whsec_old".to_owned(),
                created_at_ms: i64::MIN,
                expires_at_ms: Some(1_700_000_200_000),
            },
        ],
        disabled_reason: Some("the receiver answered 410 Gone".to_owned()),
        updated_at_ms: i64::MAX,
        ..subscription(&subscription_id(2))
    };
    let plain = subscription(&subscription_id(1));
    let last = subscription(&subscription_id(3));
    for subscription in [&last, &full, &plain] {
        store.put_subscription(subscription).unwrap();
    }
    assert_eq!(store.subscription(&full.id).unwrap(), Some(full.clone()));
    assert_eq!(store.subscriptions().unwrap(), vec![plain.clone(), full.clone(), last.clone()]);
    let paused = Subscription { active: false, secrets: vec![], ..plain.clone() };
    store.put_subscription(&paused).unwrap();
    assert_eq!(store.subscription(&plain.id).unwrap(), Some(paused.clone()));
    assert_eq!(store.subscriptions().unwrap(), vec![paused, full, last]);
    assert_eq!(store.subscription("sub_").unwrap(), None);
    assert_eq!(store.subscription(&format!("{} ", plain.id)).unwrap(), None);
}

/// Deleting a subscription removes it and every delivery of it, from every index; other
/// subscriptions and their deliveries stay.
pub fn delete_subscription_removes_its_deliveries(store: &dyn Store) {
    let (a, b) = (subscription_id(1), subscription_id(2));
    for id in [&a, &b] {
        store.put_subscription(&subscription(id)).unwrap();
    }
    let deliveries: Vec<Delivery> = (0..40u64)
        .map(|n| Delivery {
            subscription_id: [&a, &b][usize::from(n.is_multiple_of(3))].clone(),
            ..nth_delivery(n)
        })
        .collect();
    store.put_deliveries(&deliveries, Durability::Now).unwrap();
    assert_deliveries_match(store, &deliveries);
    assert!(store.delete_subscription(&a).unwrap());
    assert!(!store.delete_subscription(&a).unwrap());
    assert_eq!(store.subscription(&a).unwrap(), None);
    assert_eq!(store.subscriptions().unwrap(), vec![subscription(&b)]);
    let left: Vec<Delivery> =
        deliveries.iter().filter(|d| d.subscription_id == b).cloned().collect();
    for gone in deliveries.iter().filter(|d| d.subscription_id == a) {
        assert_eq!(store.delivery(&gone.id).unwrap(), None);
    }
    assert_deliveries_match(store, &left);
    // Deliveries without a subscription record go with its id all the same.
    let orphan = delivery(&delivery_id(99), &a, DeliveryStatus::Pending, 0, Some(0));
    store.put_deliveries(std::slice::from_ref(&orphan), Durability::Now).unwrap();
    assert_eq!(
        store.pending_deliveries().unwrap(),
        left.iter().filter(|d| d.status == DeliveryStatus::Pending).count() + 1
    );
    assert!(!store.delete_subscription(&a).unwrap());
    assert_deliveries_match(store, &left);
    assert!(store.delete_subscription(&b).unwrap());
    assert_deliveries_match(store, &[]);
}

/// Every field of a delivery comes back as written, binary payloads and attempts included.
pub fn a_delivery_round_trips(store: &dyn Store) {
    let full = Delivery {
        event_type: "ünï.cödé".to_owned(),
        payload: (0..=255).collect(),
        attempts: vec![
            Attempt {
                at_ms: -5,
                status: None,
                error: Some("connection refused".to_owned()),
                duration_ms: 0,
                response_headers: vec![],
                response_body: vec![],
                response_body_truncated: false,
            },
            Attempt {
                at_ms: 1_700_000_000_500,
                status: Some(503),
                error: None,
                duration_ms: u64::MAX,
                response_headers: vec![("retry-after".to_owned(), "30".to_owned())],
                response_body: vec![0, 159, 146, 150],
                response_body_truncated: true,
            },
        ],
        ..delivery(
            &delivery_id(1),
            &subscription_id(1),
            DeliveryStatus::Pending,
            i64::MIN,
            Some(i64::MAX),
        )
    };
    let done =
        delivery(&delivery_id(2), &subscription_id(1), DeliveryStatus::Succeeded, i64::MAX, None);
    store.put_deliveries(&[full.clone(), done.clone()], Durability::Now).unwrap();
    assert_eq!(store.delivery(&full.id).unwrap(), Some(full.clone()));
    assert_eq!(store.delivery(&done.id).unwrap(), Some(done.clone()));
    assert_eq!(store.delivery(&subscription_id(1)).unwrap(), None);
    assert_deliveries_match(store, &[full, done]);
}

/// Due deliveries come earliest due first, ties by id, up to `now_ms` included and at most
/// `limit`; finished and held ones never.
pub fn due_deliveries_are_earliest_first(store: &dyn Store) {
    let s = subscription_id(1);
    let pending = |n, at| delivery(&delivery_id(n), &s, DeliveryStatus::Pending, 0, Some(at));
    let deliveries = vec![
        pending(1, 300),
        pending(2, -50),
        pending(3, 100),
        pending(4, 100),
        pending(5, i64::MIN),
        pending(6, 200),
        delivery(&delivery_id(7), &s, DeliveryStatus::Pending, 0, None),
        delivery(&delivery_id(8), &s, DeliveryStatus::Failed, 0, Some(0)),
        delivery(&delivery_id(9), &s, DeliveryStatus::Succeeded, 0, Some(0)),
        Delivery { subscription_id: subscription_id(2), ..pending(10, 100) },
    ];
    let mut shuffled = deliveries.clone();
    shuffled.reverse();
    store.put_deliveries(&shuffled, Durability::Now).unwrap();
    let due = |now, limit| delivery_ids(&store.due_deliveries(now, limit).unwrap());
    let ids = |ns: &[u64]| ns.iter().map(|&n| delivery_id(n)).collect::<Vec<_>>();
    assert_eq!(due(i64::MAX, 100), ids(&[5, 2, 3, 4, 10, 6, 1]));
    assert_eq!(due(100, 100), ids(&[5, 2, 3, 4, 10]), "due at now is due");
    assert_eq!(due(99, 100), ids(&[5, 2]));
    assert_eq!(due(i64::MIN, 100), ids(&[5]));
    assert_eq!(due(i64::MAX, 3), ids(&[5, 2, 3]));
    assert_eq!(due(100, 4), ids(&[5, 2, 3, 4]));
    assert_eq!(due(i64::MAX, 0), Vec::<String>::new());
    assert_eq!(store.next_due_ms().unwrap(), Some(i64::MIN));
    assert_eq!(
        store.due_deliveries(-50, 10).unwrap(),
        vec![deliveries[4].clone(), deliveries[1].clone()]
    );
    assert_deliveries_match(store, &deliveries);
}

/// A delivery put again leaves its old place in the schedule: rescheduled later it is not due
/// now; paused it is held; ended it is neither due nor pending.
pub fn a_rescheduled_delivery_leaves_its_old_place(store: &dyn Store) {
    let s = subscription_id(1);
    let first = delivery(&delivery_id(1), &s, DeliveryStatus::Pending, 0, Some(10));
    let other = delivery(&delivery_id(2), &s, DeliveryStatus::Pending, 0, Some(50));
    store.put_deliveries(&[first.clone(), other.clone()], Durability::Now).unwrap();
    assert_eq!(store.due_deliveries(10, 10).unwrap(), vec![first.clone()]);

    let attempt = Attempt {
        at_ms: 10,
        status: Some(500),
        error: None,
        duration_ms: 12,
        response_headers: vec![],
        response_body: b"boom".to_vec(),
        response_body_truncated: false,
    };
    let retried = Delivery {
        next_attempt_at_ms: Some(100),
        attempts: vec![attempt.clone()],
        ..first.clone()
    };
    store.put_deliveries(std::slice::from_ref(&retried), Durability::Now).unwrap();
    assert_eq!(store.due_deliveries(60, 10).unwrap(), vec![other.clone()]);
    assert_eq!(store.next_due_ms().unwrap(), Some(50));
    assert_deliveries_match(store, &[retried.clone(), other.clone()]);

    let held = Delivery { next_attempt_at_ms: None, ..retried.clone() };
    store.put_deliveries(std::slice::from_ref(&held), Durability::Now).unwrap();
    assert_eq!(store.due_deliveries(i64::MAX, 10).unwrap(), vec![other.clone()]);
    assert_eq!(store.held_deliveries(&s).unwrap(), vec![held.clone()]);
    assert_deliveries_match(store, &[held.clone(), other.clone()]);

    let resumed = Delivery { next_attempt_at_ms: Some(5), ..held };
    store.put_deliveries(std::slice::from_ref(&resumed), Durability::Now).unwrap();
    assert_eq!(store.held_deliveries(&s).unwrap(), vec![]);
    assert_eq!(store.next_due_ms().unwrap(), Some(5));
    assert_deliveries_match(store, &[resumed.clone(), other.clone()]);

    let succeeded =
        Delivery { status: DeliveryStatus::Succeeded, next_attempt_at_ms: None, ..resumed };
    let failed = Delivery { status: DeliveryStatus::Failed, next_attempt_at_ms: None, ..other };
    store.put_deliveries(std::slice::from_ref(&succeeded), Durability::Now).unwrap();
    assert_eq!(store.pending_deliveries().unwrap(), 1);
    store.put_deliveries(std::slice::from_ref(&failed), Durability::Now).unwrap();
    assert_eq!(store.due_deliveries(i64::MAX, 10).unwrap(), vec![]);
    assert_eq!(store.next_due_ms().unwrap(), None);
    assert_eq!(store.pending_deliveries().unwrap(), 0);
    assert_deliveries_match(store, &[succeeded, failed]);
}

/// Held deliveries (pending, no next attempt) are never due, but count in the queue's depth and
/// are listed by their subscription, oldest first.
pub fn held_deliveries_are_pending_but_not_due(store: &dyn Store) {
    let (a, b) = (subscription_id(1), subscription_id(2));
    let held = |n, s: &str| delivery(&delivery_id(n), s, DeliveryStatus::Pending, 0, None);
    let deliveries = vec![
        held(3, &a),
        held(1, &a),
        held(2, &b),
        delivery(&delivery_id(4), &a, DeliveryStatus::Pending, 0, Some(0)),
        delivery(&delivery_id(5), &a, DeliveryStatus::Failed, 0, None),
    ];
    store.put_deliveries(&deliveries, Durability::Now).unwrap();
    assert_eq!(delivery_ids(&store.held_deliveries(&a).unwrap()), [delivery_id(1), delivery_id(3)]);
    assert_eq!(delivery_ids(&store.held_deliveries(&b).unwrap()), [delivery_id(2)]);
    assert_eq!(delivery_ids(&store.due_deliveries(i64::MAX, 10).unwrap()), [delivery_id(4)]);
    assert_eq!(store.pending_deliveries().unwrap(), 4);
    assert_deliveries_match(store, &deliveries);
}

/// Listings go newest first, page by page, by subscription, status, or both.
pub fn deliveries_are_listed_newest_first(store: &dyn Store) {
    let deliveries: Vec<Delivery> = (0..150).map(nth_delivery).collect();
    let mut shuffled = deliveries.clone();
    shuffled.reverse();
    store.put_deliveries(&shuffled[..70], Durability::Now).unwrap();
    store.put_deliveries(&shuffled[70..], Durability::Now).unwrap();
    assert_deliveries_match(store, &deliveries);
    let s = subscription_id(0);
    for query in [
        deliveries_by(None, None),
        deliveries_by(Some(&s), None),
        deliveries_by(None, Some(DeliveryStatus::Succeeded)),
        deliveries_by(Some(&s), Some(DeliveryStatus::Pending)),
    ] {
        let all = expected_deliveries(&deliveries, &query);
        assert!(all.len() > 10, "{query:?}");
        for limit in [1, 3, all.len() - 1, all.len(), all.len() + 1] {
            let query = DeliveryQuery { limit, ..query.clone() };
            assert_eq!(list_all_deliveries(store, &query), all, "{query:?}");
        }
        // A page that ends exactly at the last match says there is nothing more.
        let query = DeliveryQuery { limit: all.len(), ..query };
        assert_eq!(store.list_deliveries(&query).unwrap().next_cursor, None);
    }
}

/// `limit` 0 is the default page size, anything above the cap is capped; a cursor continues
/// strictly after its id, whether or not that id exists or matches.
pub fn delivery_pages_default_cap_and_continue(store: &dyn Store) {
    let s = subscription_id(1);
    let deliveries: Vec<Delivery> = (0..520u64)
        .map(|n| {
            let status = if n.is_multiple_of(2) {
                DeliveryStatus::Succeeded
            } else {
                DeliveryStatus::Failed
            };
            delivery(&delivery_id(n), &s, status, 0, None)
        })
        .collect();
    store.put_deliveries(&deliveries, Durability::Now).unwrap();
    for (limit, expected) in
        [(0, DeliveryQuery::DEFAULT_LIMIT), (1, 1), (500, 500), (501, 500), (usize::MAX, 500)]
    {
        for query in [deliveries_by(None, None), deliveries_by(Some(&s), None)] {
            let query = DeliveryQuery { limit, ..query };
            let page = store.list_deliveries(&query).unwrap();
            assert_eq!(page.items.len(), expected, "{query:?}");
            assert_eq!(page.next_cursor.as_ref(), page.items.last().map(|d| &d.id));
        }
    }
    let list = |query: DeliveryQuery, cursor: &str| {
        let query = DeliveryQuery { cursor: Some(cursor.to_owned()), limit: 3, ..query };
        delivery_ids(&store.list_deliveries(&query).unwrap().items)
    };
    let id = delivery_id;
    for query in [
        deliveries_by(None, None),
        deliveries_by(Some(&s), None),
        deliveries_by(None, Some(DeliveryStatus::Succeeded)),
        deliveries_by(Some(&s), Some(DeliveryStatus::Succeeded)),
    ] {
        let succeeded = query.status.is_some();
        let after = |n: u64| -> Vec<String> {
            (0..n).rev().filter(|m| !succeeded || m.is_multiple_of(2)).take(3).map(id).collect()
        };
        assert_eq!(list(query.clone(), &id(10)), after(10), "an existing id {query:?}");
        assert_eq!(list(query.clone(), &id(11)), after(11), "an id of the other status");
        assert_eq!(list(query.clone(), &format!("{}\0", id(10))), after(11), "an unknown id");
        assert_eq!(list(query.clone(), &id(0)), Vec::<String>::new(), "the oldest id");
        assert_eq!(list(query.clone(), "msg_"), Vec::<String>::new(), "before everything");
        assert_eq!(list(query.clone(), "~"), after(520), "after everything");
        assert_eq!(list(query.clone(), ""), after(520), "empty");
    }
}

/// Subscription ids with separators or unusual characters keep their deliveries apart.
pub fn unusual_subscription_ids_are_kept_apart(store: &dyn Store) {
    let subscriptions = ["s", "s\0", "s\0a", "", "\0", "sa", "s ü"];
    let deliveries: Vec<Delivery> = subscriptions
        .iter()
        .enumerate()
        .flat_map(|(n, s)| {
            let n = u64::try_from(n).unwrap() * 10;
            [
                delivery(&delivery_id(n), s, DeliveryStatus::Pending, 0, None),
                delivery(&delivery_id(n + 1), s, DeliveryStatus::Succeeded, 0, None),
            ]
        })
        .collect();
    store.put_deliveries(&deliveries, Durability::Now).unwrap();
    assert_deliveries_match(store, &deliveries);
    assert!(!store.delete_subscription("s\0").unwrap());
    // The deliveries of `s\0` are gone; every other subscription has one succeeded delivery.
    assert_eq!(store.prune_deliveries(0, i64::MIN).unwrap(), subscriptions.len() - 1);
    let left: Vec<Delivery> = deliveries
        .into_iter()
        .filter(|d| d.subscription_id != "s\0" && d.status == DeliveryStatus::Pending)
        .collect();
    assert_deliveries_match(store, &left);
}

/// The queue's depth counts the pending deliveries, scheduled or held, and nothing else.
pub fn pending_deliveries_is_the_queue_depth(store: &dyn Store) {
    let deliveries: Vec<Delivery> = (0..200).map(nth_delivery).collect();
    store.put_deliveries(&deliveries, Durability::Now).unwrap();
    let pending = deliveries.iter().filter(|d| d.status == DeliveryStatus::Pending).count();
    assert!(pending > 50);
    assert_eq!(store.pending_deliveries().unwrap(), pending);
    let ended: Vec<Delivery> = deliveries[..100]
        .iter()
        .map(|d| Delivery { status: DeliveryStatus::Failed, next_attempt_at_ms: None, ..d.clone() })
        .collect();
    store.put_deliveries(&ended, Durability::Now).unwrap();
    let left = deliveries[100..].iter().filter(|d| d.status == DeliveryStatus::Pending).count();
    assert_eq!(store.pending_deliveries().unwrap(), left);
}

/// A subscription keeps its newest `keep` finished deliveries; finished ones created before the
/// cutoff go whatever the count; pending ones always stay.
pub fn prune_deliveries_by_count_and_age(store: &dyn Store) {
    use DeliveryStatus::{Failed, Pending, Succeeded};
    let (a, b) = (subscription_id(1), subscription_id(2));
    let statuses = [Succeeded, Pending, Failed, Succeeded, Pending, Succeeded, Failed, Succeeded];
    let mut deliveries: Vec<Delivery> = statuses
        .iter()
        .enumerate()
        .map(|(n, &status)| {
            let next = (status == Pending && n.is_multiple_of(2)).then_some(5);
            delivery(&delivery_id(n as u64), &a, status, i64::try_from(n).unwrap() * 10, next)
        })
        .collect();
    deliveries.extend((100..104).map(|n| delivery(&delivery_id(n), &b, Succeeded, 1000, None)));
    store.put_deliveries(&deliveries, Durability::Now).unwrap();

    // `a` has 6 finished ones: 0, 2, 3, 5, 6, 7. Keep the newest 4 (3, 5, 6, 7); `b` keeps its 4.
    assert_eq!(store.prune_deliveries(4, i64::MIN).unwrap(), 2);
    let gone = |ns: &[u64], deliveries: &mut Vec<Delivery>| {
        let ids: Vec<String> = ns.iter().map(|&n| delivery_id(n)).collect();
        deliveries.retain(|d| !ids.contains(&d.id));
    };
    gone(&[0, 2], &mut deliveries);
    assert_deliveries_match(store, &deliveries);
    assert_eq!(store.prune_deliveries(4, i64::MIN).unwrap(), 0, "idempotent");
    // Created before 60: 3 and 5 are finished; 1 and 4 are pending.
    assert_eq!(store.prune_deliveries(usize::MAX, 60).unwrap(), 2);
    gone(&[3, 5], &mut deliveries);
    assert_deliveries_match(store, &deliveries);
    assert_eq!(store.prune_deliveries(1, 0).unwrap(), 4);
    gone(&[6, 100, 101, 102], &mut deliveries);
    assert_deliveries_match(store, &deliveries);
    assert_eq!(store.prune_deliveries(0, i64::MAX).unwrap(), 2);
    deliveries.retain(|d| d.status == Pending);
    assert_eq!(deliveries.len(), 2);
    assert_deliveries_match(store, &deliveries);
}

/// A prune of thousands of deliveries (several writes) keeps exactly what a small one would.
pub fn a_large_delivery_prune_spans_several_writes(store: &dyn Store) {
    let s = subscription_id(1);
    let status = |n: u64| {
        if n.is_multiple_of(10) { DeliveryStatus::Pending } else { DeliveryStatus::Succeeded }
    };
    let deliveries: Vec<Delivery> = (0..2500u64)
        .map(|n| {
            let next = n.is_multiple_of(20).then_some(i64::try_from(n).unwrap());
            delivery(&delivery_id(n), &s, status(n), 0, next)
        })
        .collect();
    for batch in deliveries.chunks(500) {
        store.put_deliveries(batch, Durability::Now).unwrap();
    }
    let finished: Vec<u64> = (0..2500).filter(|&n| status(n) != DeliveryStatus::Pending).collect();
    assert_eq!(store.prune_deliveries(30, i64::MIN).unwrap(), finished.len() - 30);
    let newest = &finished[finished.len() - 30..];
    let left: Vec<Delivery> = (0..2500)
        .filter(|n| status(*n) == DeliveryStatus::Pending || newest.contains(n))
        .map(|n| deliveries[usize::try_from(n).unwrap()].clone())
        .collect();
    assert_eq!(left.len(), 250 + 30);
    assert_deliveries_match(store, &left);
}

/// A batch that names a delivery twice stores its last occurrence, indexed once.
pub fn a_delivery_batch_repeating_an_id_keeps_the_last(store: &dyn Store) {
    let s = subscription_id(1);
    let first = delivery(&delivery_id(1), &s, DeliveryStatus::Pending, 0, Some(10));
    let other = delivery(&delivery_id(2), &s, DeliveryStatus::Pending, 0, None);
    let last =
        Delivery { status: DeliveryStatus::Pending, next_attempt_at_ms: Some(20), ..first.clone() };
    let middle =
        Delivery { status: DeliveryStatus::Succeeded, next_attempt_at_ms: None, ..first.clone() };
    store
        .put_deliveries(&[first.clone(), other.clone(), middle, last.clone()], Durability::Now)
        .unwrap();
    assert_eq!(store.delivery(&first.id).unwrap(), Some(last.clone()));
    assert_deliveries_match(store, &[last.clone(), other.clone()]);
    let again =
        Delivery { status: DeliveryStatus::Failed, next_attempt_at_ms: None, ..last.clone() };
    store.put_deliveries(&[again.clone(), last.clone(), again.clone()], Durability::Now).unwrap();
    assert_deliveries_match(store, &[again, other]);
}

/// Batches that rewrite the same deliveries from several threads leave each indexed once, under
/// the status and schedule of the delivery that won.
pub fn concurrent_delivery_batches_keep_the_indexes_consistent(store: &dyn Store) {
    const THREADS: u64 = 4;
    const IDS: u64 = 30;
    thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for round in 0..5u64 {
                    let batch: Vec<Delivery> = (0..IDS)
                        .map(|n| {
                            let pick = n + thread + round;
                            let (status, next) = match pick % 4 {
                                0 => (DeliveryStatus::Pending, Some(i64::try_from(pick).unwrap())),
                                1 => (DeliveryStatus::Pending, None),
                                2 => (DeliveryStatus::Failed, None),
                                _ => (DeliveryStatus::Succeeded, None),
                            };
                            delivery(&delivery_id(n), &subscription_id(n % 3), status, 0, next)
                        })
                        .collect();
                    store.put_deliveries(&batch, Durability::Now).unwrap();
                }
            });
        }
    });
    let stored: Vec<Delivery> =
        (0..IDS).map(|n| store.delivery(&delivery_id(n)).unwrap().unwrap()).collect();
    assert_deliveries_match(store, &stored);
}

/// Subscriptions, deliveries, their indexes, deletes and prunes are all there after a reopen.
/// A deferred delivery write is visible as soon as it returns (listed, due, read back), and a
/// flush makes it durable: it is there after a reopen, indexes included.
pub fn deferred_deliveries_are_seen_at_once_and_kept_after_a_flush(
    dir: &Path,
    open: &dyn Fn(&Path) -> Arc<dyn Store>,
) {
    let deliveries: Vec<Delivery> = (0..40).map(nth_delivery).collect();
    with_store(dir, open, |store| {
        store.put_deliveries(&deliveries, Durability::Deferred).unwrap();
        assert_deliveries_match(store, &deliveries);
        let ended = Delivery {
            status: DeliveryStatus::Succeeded,
            next_attempt_at_ms: None,
            ..deliveries[0].clone()
        };
        store.put_deliveries(std::slice::from_ref(&ended), Durability::Deferred).unwrap();
        assert_eq!(store.delivery(&ended.id).unwrap(), Some(ended));
        store.flush().unwrap();
    });
    with_store(dir, open, |store| {
        let mut kept = deliveries.clone();
        kept[0].status = DeliveryStatus::Succeeded;
        kept[0].next_attempt_at_ms = None;
        assert_deliveries_match(store, &kept);
    });
}

pub fn outbound_survives_a_reopen(dir: &Path, open: &dyn Fn(&Path) -> Arc<dyn Store>) {
    let deliveries: Vec<Delivery> = (0..120).map(nth_delivery).collect();
    let mut left = deliveries.clone();
    with_store(dir, open, |store| {
        for n in 0..4 {
            store.put_subscription(&subscription(&subscription_id(n))).unwrap();
        }
        store.put_deliveries(&deliveries, Durability::Now).unwrap();
        assert!(store.delete_subscription(&subscription_id(2)).unwrap());
        left.retain(|d| d.subscription_id != subscription_id(2));
        let removed = store.prune_deliveries(5, i64::MIN).unwrap();
        assert!(removed > 0);
        for s in [subscription_id(0), subscription_id(1)] {
            let mut finished: Vec<String> = left
                .iter()
                .filter(|d| d.subscription_id == s && d.status.is_finished())
                .map(|d| d.id.clone())
                .collect();
            finished.sort();
            let doomed = finished[..finished.len() - 5].to_vec();
            left.retain(|d| !doomed.contains(&d.id));
        }
    });
    with_store(dir, open, |store| {
        let ids: Vec<String> = store.subscriptions().unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(ids, [0, 1, 3].map(subscription_id));
        assert_deliveries_match(store, &left);
        let ended: Vec<Delivery> = store
            .due_deliveries(i64::MAX, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|d| Delivery { status: DeliveryStatus::Succeeded, next_attempt_at_ms: None, ..d })
            .collect();
        assert!(!ended.is_empty());
        store.put_deliveries(&ended, Durability::Now).unwrap();
        for delivery in &ended {
            let slot = left.iter_mut().find(|d| d.id == delivery.id).unwrap();
            *slot = delivery.clone();
        }
    });
    with_store(dir, open, |store| {
        assert_eq!(store.next_due_ms().unwrap(), None);
        assert_deliveries_match(store, &left);
    });
}

// Causes.

/// A cause naming `parent` as the execution that raised the event.
pub fn cause(parent: &str) -> Cause {
    Cause {
        event_id: format!("evt_{:032x}", parent.len()),
        event_type: "order.paid".to_owned(),
        parent_execution_id: parent.to_owned(),
        depth: 2,
        event: serde_json::json!({"type": "order.paid", "data": {"id": 7, "ü": [1, null]}}),
    }
}

/// Every field of a cause comes back as written, whichever way the record was put; a record
/// stored without a `cause` field (as every record was before causes were kept) reads as `None`.
pub fn an_execution_with_a_cause_round_trips(store: &dyn Store) {
    let mut child = execution(&execution_id(1), Some("a"), ExecutionStatus::Succeeded, 5);
    child.cause = Some(Cause { depth: u32::MAX, ..cause(&execution_id(0)) });
    store.put_executions(std::slice::from_ref(&child)).unwrap();
    assert_eq!(store.execution(&child.id).unwrap(), Some(child.clone()));
    let mut encoded = execution(&execution_id(2), None, ExecutionStatus::Rejected, 6);
    encoded.cause = Some(cause("\0ü"));
    let of = EncodedExecution::of(&encoded, true).unwrap();
    assert_eq!(of.parent.as_deref(), Some("\0ü"));
    store.put_encoded_executions(&[of], Durability::Now).unwrap();
    assert_eq!(store.execution(&encoded.id).unwrap(), Some(encoded.clone()));

    let old = execution(&execution_id(3), Some("a"), ExecutionStatus::Failed, 7);
    let json = serde_json::to_vec(&old).unwrap();
    assert!(!String::from_utf8_lossy(&json).contains("cause"), "no cause, no field");
    let of = EncodedExecution { json, ..EncodedExecution::of(&old, true).unwrap() };
    store.put_encoded_executions(&[of], Durability::Now).unwrap();
    assert_eq!(store.execution(&old.id).unwrap(), Some(old.clone()));
    assert_indexes_match(store, &[child, encoded, old]);
}

/// The `n`th execution of a generated history with causes: [`nth`], caused by one of three
/// parents, or (one in four) by nothing.
fn nth_child(n: u64) -> ExecutionRecord {
    let mut record = nth(n);
    let parent = [Some(0), Some(1), Some(2), None][usize::try_from(n % 4).unwrap()];
    record.cause = parent.map(|p| cause(&execution_id(100_000 + p)));
    record
}

/// A parent's children are listed newest first, alone or with the flow, status and time
/// filters, page by page; a child that changes parent moves; prunes take their entries along.
pub fn executions_are_listed_by_parent(store: &dyn Store) {
    let mut records: Vec<ExecutionRecord> = (0..180).map(nth_child).collect();
    for chunk in records.chunks(50) {
        store.put_executions(chunk).unwrap();
    }
    assert_indexes_match(store, &records);
    let parent = execution_id(100_001);
    let t = |n: i64| 1_700_000_000_000 + n * 1000;
    for flow in [None, Some("a"), Some("b"), Some("missing")] {
        for status in [None, Some(ExecutionStatus::Failed), Some(ExecutionStatus::Succeeded)] {
            for (since_ms, until_ms) in [(None, None), (Some(t(40)), Some(t(150)))] {
                let query = ExecutionQuery {
                    parent: Some(parent.clone()),
                    flow: flow.map(str::to_owned),
                    status,
                    since_ms,
                    until_ms,
                    ..everything()
                };
                let all = expected(&records, &query);
                for limit in [1, 3, all.len().max(1)] {
                    let query = ExecutionQuery { limit, ..query.clone() };
                    assert_eq!(list_all(store, &query), all, "{query:?}");
                }
            }
        }
    }
    let query = ExecutionQuery { parent: Some(parent.clone()), ..everything() };
    let all = expected(&records, &query);
    assert!(all.len() > 20);
    let page = store.list_executions(&ExecutionQuery { cursor: Some(all[9].clone()), ..query });
    assert_eq!(ids(&page.unwrap().items), all[10..]);

    // Moved to another parent, then to none.
    records[1].cause = Some(cause(&execution_id(100_002)));
    records[5].cause = None;
    store.put_executions(&[records[1].clone(), records[5].clone()]).unwrap();
    assert_indexes_match(store, &records);

    assert!(store.prune_executions("a", 5, i64::MIN).unwrap() > 0);
    assert!(store.prune_rejected(3).unwrap() > 0);
    let left: Vec<ExecutionRecord> =
        records.iter().filter(|r| store.execution(&r.id).unwrap().is_some()).cloned().collect();
    assert!(left.len() < records.len());
    assert_indexes_match(store, &left);
}

// Records.

/// A write of `value` under `key` of `collection`, by execution `exec-{n}` at `n` ms.
pub fn record_write(
    collection: &str,
    key: &str,
    mode: WriteMode,
    value: serde_json::Value,
    n: i64,
) -> RecordWrite {
    RecordWrite {
        collection: collection.to_owned(),
        key: key.to_owned(),
        value,
        mode,
        execution_id: format!("exec-{n}"),
        now_ms: n,
    }
}

fn upsert(collection: &str, key: &str, n: i64) -> RecordWrite {
    record_write(collection, key, WriteMode::Upsert, serde_json::json!({ "n": n }), n)
}

fn insert(collection: &str, key: &str, n: i64) -> RecordWrite {
    record_write(collection, key, WriteMode::Insert, serde_json::json!({ "n": n }), n)
}

fn record_query(collection: &str, order: RecordOrder, limit: usize) -> RecordQuery {
    RecordQuery { collection: collection.to_owned(), order, cursor: String::new(), limit }
}

/// Every page of `query` (its `cursor` ignored), concatenated; checks each page's size and
/// cursor.
fn list_all_records(store: &dyn Store, query: &RecordQuery) -> Vec<StoredRecord> {
    let mut query = RecordQuery { cursor: String::new(), ..query.clone() };
    let mut listed: Vec<StoredRecord> = Vec::new();
    loop {
        let page = store.list_records(&query).unwrap();
        assert!(page.items.len() <= query.effective_limit(), "{query:?}");
        listed.extend(page.items);
        match page.next_cursor {
            Some(cursor) => {
                let last = listed.last().unwrap();
                let expected = match query.order {
                    RecordOrder::Key => &last.key,
                    RecordOrder::Created => &last.created_id,
                };
                assert_eq!(&cursor, expected, "the cursor is the last item");
                assert!(listed.len() < 100_000, "the pages do not end");
                query.cursor = cursor;
            }
            None => return listed,
        }
    }
}

fn record_keys(records: &[StoredRecord]) -> Vec<String> {
    records.iter().map(|record| record.key.clone()).collect()
}

/// Checks that `collection` holds exactly the records `keys` in creation order: read one by
/// one, listed by key and by creation (with a few page sizes), and counted.
fn assert_collection(store: &dyn Store, collection: &str, keys: &[&str]) {
    let created: Vec<String> = keys.iter().map(|&key| key.to_owned()).collect();
    let mut sorted = created.clone();
    sorted.sort();
    for limit in [1, 2, 7, 1000] {
        let by_key = list_all_records(store, &record_query(collection, RecordOrder::Key, limit));
        assert_eq!(record_keys(&by_key), sorted, "{collection:?} by key, limit {limit}");
        let by_created =
            list_all_records(store, &record_query(collection, RecordOrder::Created, limit));
        assert_eq!(record_keys(&by_created), created, "{collection:?} by creation");
        let mut ids: Vec<&String> = by_created.iter().map(|r| &r.created_id).collect();
        ids.dedup();
        assert!(ids.is_sorted() && ids.len() == keys.len(), "created ids ascend");
        for record in &by_key {
            assert_eq!(store.record(collection, &record.key).unwrap().as_ref(), Some(record));
        }
    }
    let count = store
        .collections()
        .unwrap()
        .into_iter()
        .find(|c| c.name == collection)
        .map_or(0, |c| c.count);
    assert_eq!(count, keys.len() as u64, "{collection:?}");
}

/// A new store has no records and no collections; reads and deletes find nothing.
pub fn an_empty_store_has_no_records(store: &dyn Store) {
    assert_eq!(store.put_records(&[]).unwrap(), vec![]);
    assert_eq!(store.record("c", "k").unwrap(), None);
    assert!(!store.delete_record("c", "k").unwrap());
    assert_eq!(store.collections().unwrap(), vec![]);
    for order in RecordOrder::ALL {
        let page = store.list_records(&record_query("c", order, 0)).unwrap();
        assert_eq!((page.items, page.next_cursor), (vec![], None));
        let page = store.list_records(&record_query("", order, 0)).unwrap();
        assert_eq!(page.items, vec![]);
    }
}

/// An insert stores a new record (version 1) and leaves a taken key alone; an upsert replaces
/// the value and bumps the version, keeping when and in which order the record was created.
pub fn insert_and_upsert_keep_versions(store: &dyn Store) {
    let value = serde_json::json!({"order": 42, "lines": [{"sku": "ü", "qty": 2.5}], "x": null});
    let first = record_write("orders", "o-42", WriteMode::Insert, value.clone(), 10);
    assert_eq!(
        store.put_records(std::slice::from_ref(&first)).unwrap(),
        [RecordWritten::Stored { created: true, version: 1 }]
    );
    let stored = store.record("orders", "o-42").unwrap().unwrap();
    assert!(stored.created_id.starts_with("rec_") && stored.created_id.len() == 36);
    assert!(stored.created_id[4..].bytes().all(|b| b.is_ascii_hexdigit()));
    let expected = StoredRecord {
        collection: "orders".to_owned(),
        key: "o-42".to_owned(),
        value,
        version: 1,
        created_id: stored.created_id.clone(),
        created_at_ms: 10,
        updated_at_ms: 10,
        execution_id: "exec-10".to_owned(),
    };
    assert_eq!(stored, expected);

    let again = insert("orders", "o-42", 11);
    assert_eq!(store.put_records(&[again]).unwrap(), [RecordWritten::Exists { version: 1 }]);
    assert_eq!(store.record("orders", "o-42").unwrap(), Some(expected.clone()));

    for (n, version) in [(12, 2), (13, 3)] {
        assert_eq!(
            store.put_records(&[upsert("orders", "o-42", n)]).unwrap(),
            [RecordWritten::Stored { created: false, version }]
        );
    }
    let replaced = StoredRecord {
        value: serde_json::json!({"n": 13}),
        version: 3,
        updated_at_ms: 13,
        execution_id: "exec-13".to_owned(),
        ..expected
    };
    assert_eq!(store.record("orders", "o-42").unwrap(), Some(replaced));
    assert_eq!(
        store.put_records(&[insert("orders", "o-42", 14)]).unwrap(),
        [RecordWritten::Exists { version: 3 }]
    );
    assert_collection(store, "orders", &["o-42"]);
}

/// A write in a batch sees the writes before it; the results come in the order of the writes.
pub fn a_record_batch_sees_its_earlier_writes(store: &dyn Store) {
    store.put_records(&[upsert("c", "old", 1)]).unwrap();
    let batch = [
        insert("c", "new", 2),
        insert("c", "new", 3),
        upsert("c", "old", 4),
        insert("c", "old", 5),
        upsert("c", "new", 6),
        insert("d", "new", 7),
        upsert("c", "other", 8),
        upsert("c", "old", 9),
    ];
    let results = store.put_records(&batch).unwrap();
    assert_eq!(
        results,
        [
            RecordWritten::Stored { created: true, version: 1 },
            RecordWritten::Exists { version: 1 },
            RecordWritten::Stored { created: false, version: 2 },
            RecordWritten::Exists { version: 2 },
            RecordWritten::Stored { created: false, version: 2 },
            RecordWritten::Stored { created: true, version: 1 },
            RecordWritten::Stored { created: true, version: 1 },
            RecordWritten::Stored { created: false, version: 3 },
        ]
    );
    let new = store.record("c", "new").unwrap().unwrap();
    assert_eq!(
        (new.value, new.created_at_ms, new.updated_at_ms),
        (serde_json::json!({"n": 6}), 2, 6)
    );
    assert_eq!(store.record("c", "old").unwrap().unwrap().value, serde_json::json!({"n": 9}));
    assert_collection(store, "c", &["old", "new", "other"]);
    assert_collection(store, "d", &["new"]);
}

/// An empty or too long collection or key fails the whole batch, and nothing of it is written;
/// names of up to 512 bytes, of any characters, are fine.
pub fn record_names_are_checked_before_writing(store: &dyn Store) {
    let longest = "é".repeat(256);
    let too_long = format!("{longest}x");
    let fine = upsert("c", "fine", 1);
    for (bad, field, len) in [
        (upsert("c", "", 1), "key", 0),
        (upsert("", "k", 1), "collection", 0),
        (upsert("c", &too_long, 1), "key", 513),
        (upsert(&too_long, "k", 1), "collection", 513),
    ] {
        let err = store.put_records(&[fine.clone(), bad]).unwrap_err();
        match &err {
            StoreError::InvalidRecordName { field: f, len: l, shown } => {
                assert_eq!((*f, *l), (field, len));
                assert!(shown.chars().count() <= 64, "{shown}");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("expected 1 to 512"), "{err}");
        assert_eq!(store.record("c", "fine").unwrap(), None);
        assert_eq!(store.collections().unwrap(), vec![]);
    }
    let odd = ["\0", "a\0b", " ", "\u{10FFFF}", longest.as_str()];
    let writes: Vec<RecordWrite> = odd.iter().map(|key| upsert(&longest, key, 1)).collect();
    store.put_records(&writes).unwrap();
    assert_collection(store, &longest, &odd);
}

/// Both orders list every record once, page by page, whatever the order of the writes; a
/// replaced record keeps its place in creation order; collections whose names share a prefix
/// or hold separators stay apart.
pub fn records_are_listed_by_key_and_by_creation(store: &dyn Store) {
    let keys: Vec<String> = (0..120u64).map(|n| format!("k{:03}", (n * 37) % 120)).collect();
    for chunk in keys.chunks(25) {
        let writes: Vec<RecordWrite> = chunk.iter().map(|k| insert("c", k, 1)).collect();
        store.put_records(&writes).unwrap();
    }
    for (collection, n) in [("c\0", 1), ("c\0k000", 2), ("cc", 3), ("b", 4), ("c ", 5)] {
        store.put_records(&[upsert(collection, "k000", n), upsert(collection, "k001", n)]).unwrap();
    }
    let created: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert_collection(store, "c", &created);
    // Replacing records leaves the creation order alone.
    store.put_records(&[upsert("c", &keys[0], 9), upsert("c", &keys[60], 9)]).unwrap();
    assert_collection(store, "c", &created);
    for collection in ["c\0", "c\0k000", "cc", "b", "c "] {
        assert_collection(store, collection, &["k000", "k001"]);
    }
    assert_collection(store, "c\0\0", &[]);
}

/// `limit` 0 is the default page size, anything above the cap is capped; a cursor continues
/// strictly after its key (or created id), whether or not one exists.
pub fn record_pages_default_cap_and_continue(store: &dyn Store) {
    let writes: Vec<RecordWrite> = (0..1010).map(|n| upsert("c", &format!("k{n:04}"), n)).collect();
    store.put_records(&writes).unwrap();
    for order in RecordOrder::ALL {
        for (limit, expected) in [
            (0, RecordQuery::DEFAULT_LIMIT),
            (1, 1),
            (1000, 1000),
            (1001, 1000),
            (usize::MAX, 1000),
        ] {
            let page = store.list_records(&record_query("c", order, limit)).unwrap();
            assert_eq!(page.items.len(), expected, "{order} {limit}");
            assert!(page.next_cursor.is_some(), "{order} {limit}");
        }
        let tenth = store.list_records(&record_query("c", order, 10)).unwrap().next_cursor;
        let query = RecordQuery { cursor: tenth.unwrap(), ..record_query("c", order, 1000) };
        let page = store.list_records(&query).unwrap();
        assert_eq!(page.items.len(), 1000);
        assert_eq!(page.next_cursor, None, "a page that ends at the last record says so");
    }
    let list = |cursor: &str| {
        let query =
            RecordQuery { cursor: cursor.to_owned(), ..record_query("c", RecordOrder::Key, 2) };
        record_keys(&store.list_records(&query).unwrap().items)
    };
    assert_eq!(list("k0005"), ["k0006", "k0007"], "an existing key");
    assert_eq!(list("k0005a"), ["k0006", "k0007"], "an unknown key");
    assert_eq!(list("a"), ["k0000", "k0001"], "before everything");
    assert_eq!(list("k1009"), Vec::<String>::new(), "the last key");
    assert_eq!(list("~"), Vec::<String>::new(), "after everything");
    let all = list_all_records(store, &record_query("c", RecordOrder::Created, 1000));
    let list = |cursor: &str| {
        let query =
            RecordQuery { cursor: cursor.to_owned(), ..record_query("c", RecordOrder::Created, 2) };
        record_keys(&store.list_records(&query).unwrap().items)
    };
    assert_eq!(list(&all[5].created_id), ["k0006", "k0007"], "an existing id");
    assert_eq!(list(&format!("{}0", all[5].created_id)), ["k0006", "k0007"], "an unknown id");
    assert_eq!(list("rec_"), ["k0000", "k0001"], "before everything");
    assert_eq!(list(&all[1009].created_id), Vec::<String>::new(), "the last id");
}

/// Collections are listed by name with exact counts, through inserts, upserts, refused inserts
/// and deletes; a collection left empty is not listed.
pub fn collections_are_counted_and_sorted(store: &dyn Store) {
    let info = |name: &str, count| CollectionInfo { name: name.to_owned(), count };
    let writes: Vec<RecordWrite> = ["b", "a", "é", "a-b", "a", "b", "a"]
        .iter()
        .enumerate()
        .map(|(n, c)| insert(c, &format!("k{n}"), 1))
        .collect();
    store.put_records(&writes).unwrap();
    let expected = vec![info("a", 3), info("a-b", 1), info("b", 2), info("é", 1)];
    assert_eq!(store.collections().unwrap(), expected);
    store.put_records(&[upsert("a", "k1", 2), insert("a", "k4", 2), upsert("a", "k6", 3)]).unwrap();
    assert_eq!(store.collections().unwrap(), expected, "nothing new");
    assert!(store.delete_record("a-b", "k3").unwrap());
    assert!(!store.delete_record("a-b", "k3").unwrap());
    assert!(store.delete_record("a", "k1").unwrap());
    assert_eq!(store.collections().unwrap(), vec![info("a", 2), info("b", 2), info("é", 1)]);
    store.put_records(&[upsert("a-b", "k3", 4)]).unwrap();
    assert_eq!(store.collections().unwrap()[1], info("a-b", 1));
}

/// A delete removes the record from every read; stored again, it is a new record: version 1,
/// last in creation order.
pub fn delete_record_removes_only_that_record(store: &dyn Store) {
    let writes: Vec<RecordWrite> = ["x", "y", "z"].iter().map(|k| upsert("c", k, 1)).collect();
    store.put_records(&writes).unwrap();
    store.put_records(&[upsert("d", "y", 1)]).unwrap();
    let before = store.record("c", "y").unwrap().unwrap();
    assert!(store.delete_record("c", "y").unwrap());
    assert!(!store.delete_record("c", "y").unwrap());
    assert!(!store.delete_record("c", "Y").unwrap());
    assert_eq!(store.record("c", "y").unwrap(), None);
    assert_collection(store, "c", &["x", "z"]);
    assert_collection(store, "d", &["y"]);
    assert_eq!(
        store.put_records(&[insert("c", "y", 2)]).unwrap(),
        [RecordWritten::Stored { created: true, version: 1 }]
    );
    let after = store.record("c", "y").unwrap().unwrap();
    assert!(after.created_id > before.created_id);
    assert_collection(store, "c", &["x", "z", "y"]);
}

/// Batches from several threads over the same keys leave each record once, counted once.
pub fn concurrent_record_writes_keep_counts_exact(store: &dyn Store) {
    const THREADS: i64 = 4;
    thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for round in 0..5 {
                    let writes: Vec<RecordWrite> = (0..30)
                        .map(|n| {
                            let key = format!("k{:02}", (n + thread * 7 + round) % 40);
                            if (n + round) % 2 == 0 {
                                insert("c", &key, round)
                            } else {
                                upsert("c", &key, round)
                            }
                        })
                        .collect();
                    store.put_records(&writes).unwrap();
                    if round == 2 {
                        store.delete_record("c", &format!("k{:02}", thread)).unwrap();
                    }
                }
            });
        }
    });
    let listed = list_all_records(store, &record_query("c", RecordOrder::Created, 7));
    let by_created: Vec<&str> = listed.iter().map(|r| r.key.as_str()).collect();
    assert_collection(store, "c", &by_created);
}

// Events.

/// An id shaped like an event's (`evt_` and 32 hex digits) whose order is the order of `n`.
pub fn event_id(n: u64) -> String {
    format!("evt_{n:032x}")
}

/// An event of type `order.paid`, raised at `n` ms, whose envelope names `n`.
pub fn pending_event(n: u64) -> PendingEvent {
    PendingEvent {
        id: event_id(n),
        event_type: "order.paid".to_owned(),
        created_at_ms: i64::try_from(n).unwrap(),
        json: format!(r#"{{"id":"{}","type":"order.paid","data":{{"n":{n}}}}}"#, event_id(n))
            .into_bytes(),
    }
}

/// Events come out oldest first, at most `limit`, as written, until they are deleted; a put
/// replaces an event with the same id; unknown ids are ignored by a delete.
pub fn events_are_pending_oldest_first_until_deleted(store: &dyn Store) {
    store.put_events(&[]).unwrap();
    store.delete_events(&[]).unwrap();
    assert_eq!(store.pending_events(10).unwrap(), vec![]);
    let events: Vec<PendingEvent> = (0..50).map(pending_event).collect();
    let mut shuffled = events.clone();
    shuffled.reverse();
    store.put_events(&shuffled[..20]).unwrap();
    store.put_events(&shuffled[20..]).unwrap();
    assert_eq!(store.pending_events(0).unwrap(), vec![]);
    assert_eq!(store.pending_events(7).unwrap(), events[..7]);
    assert_eq!(store.pending_events(usize::MAX).unwrap(), events);

    let odd = PendingEvent {
        event_type: "ünï\0".to_owned(),
        created_at_ms: i64::MIN,
        json: vec![0, 0xff, b'{'],
        ..events[3].clone()
    };
    store.put_events(&[events[3].clone(), odd.clone()]).unwrap();
    let mut ids: Vec<String> = (0..10).map(event_id).collect();
    ids.extend([event_id(999), "evt_missing".to_owned(), event_id(0)]);
    ids.retain(|id| *id != event_id(3));
    store.delete_events(&ids).unwrap();
    let mut left = vec![odd];
    left.extend(events[10..].iter().cloned());
    assert_eq!(store.pending_events(usize::MAX).unwrap(), left);
    let all: Vec<String> = left.iter().map(|e| e.id.clone()).collect();
    store.delete_events(&all).unwrap();
    assert_eq!(store.pending_events(usize::MAX).unwrap(), vec![]);
}

/// Records, their counts and order, deletes, and events (deletes included) are all there after
/// a reopen.
pub fn records_and_events_survive_a_reopen(dir: &Path, open: &dyn Fn(&Path) -> Arc<dyn Store>) {
    let keys: Vec<String> = (0..300).map(|n| format!("k{:03}", (n * 7) % 300)).collect();
    let events: Vec<PendingEvent> = (0..40).map(pending_event).collect();
    with_store(dir, open, |store| {
        let writes: Vec<RecordWrite> = keys.iter().map(|k| insert("c", k, 1)).collect();
        store.put_records(&writes).unwrap();
        store.put_records(&[upsert("c", &keys[5], 2), upsert("other", "x", 2)]).unwrap();
        assert!(store.delete_record("c", &keys[6]).unwrap());
        store.put_events(&events).unwrap();
        let done: Vec<String> = events[..10].iter().map(|e| e.id.clone()).collect();
        store.delete_events(&done).unwrap();
    });
    with_store(dir, open, |store| {
        let mut created: Vec<&str> = keys.iter().map(String::as_str).collect();
        created.remove(6);
        assert_collection(store, "c", &created);
        assert_collection(store, "other", &["x"]);
        assert_eq!(store.record("c", &keys[5]).unwrap().unwrap().version, 2);
        assert_eq!(store.pending_events(usize::MAX).unwrap(), events[10..]);
        // New records still go after the old ones in creation order.
        store.put_records(&[insert("c", "new", 3)]).unwrap();
        created.push("new");
        assert_collection(store, "c", &created);
    });
}
