//! Helpers for this crate's tests: fresh directories per store, and the process-exit check.

use std::{
    ops::Range,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use crate::{
    Credential, Delivery, DeliveryStatus, Durability, EncodedExecution, ExecutionQuery,
    ExecutionRecord, ExecutionStatus, PendingEvent, RecordQuery, RecordWrite, Store, WriteMode,
    conformance,
};

pub(crate) fn credential(name: &str) -> Credential {
    conformance::credential(name)
}

/// Makes a new, not yet existing directory under `root` on each call.
pub(crate) fn fresh_dir_maker(root: &Path) -> impl Fn() -> PathBuf + use<> {
    let root = root.to_path_buf();
    let next = AtomicUsize::new(0);
    move || root.join(next.fetch_add(1, Ordering::Relaxed).to_string())
}

/// Opens a store in a new directory under `root` on each call.
pub(crate) fn fresh_dirs(
    root: &Path,
    open: fn(&Path) -> Arc<dyn Store>,
) -> impl Fn() -> Arc<dyn Store> + use<> {
    let make_dir = fresh_dir_maker(root);
    move || open(&make_dir())
}

const EXIT_DIR_VAR: &str = "HOOKFLOW_STORE_EXIT_TEST_DIR";
const EXIT_CODE: i32 = 42;

/// Checks that writes are durable when they return, not when the store is dropped, and deferred
/// writes once the store is flushed: the test named `test_path` runs itself again in a child
/// process, which writes and then exits at once, so no destructor (and no flush-on-drop) runs;
/// then this process reopens the store.
pub(crate) fn writes_survive_a_process_exit(test_path: &str, open: fn(&Path) -> Arc<dyn Store>) {
    if let Some(dir) = std::env::var_os(EXIT_DIR_VAR) {
        let store = open(Path::new(&dir));
        store.put_credential(&credential("kept")).unwrap();
        store.put_credential(&credential("deleted")).unwrap();
        assert!(store.delete_credential("deleted").unwrap());
        store.put_executions(&batch()).unwrap();
        for deferred in deferred().chunks(16) {
            let encoded: Vec<EncodedExecution> =
                deferred.iter().map(|r| EncodedExecution::of(r, true).unwrap()).collect();
            store.put_encoded_executions(&encoded, Durability::Deferred).unwrap();
        }
        store.flush().unwrap();
        // Written after the flush: durable on their own, when they return.
        store
            .put_subscription(&conformance::subscription(&conformance::subscription_id(1)))
            .unwrap();
        store.put_deliveries(&deliveries(), Durability::Now).unwrap();
        store.put_records(&records()).unwrap();
        store.put_events(&events()).unwrap();
        store.delete_events(&[conformance::event_id(0)]).unwrap();
        std::process::exit(EXIT_CODE);
    }

    let dir = tempfile::tempdir().unwrap();
    let (_crate_name, test_name) = test_path.split_once("::").unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(EXIT_DIR_VAR, dir.path())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(EXIT_CODE),
        "the writer process did not reach its exit:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );

    let store = open(dir.path());
    assert_eq!(store.credential("kept").unwrap(), Some(credential("kept")));
    assert_eq!(store.credential("deleted").unwrap(), None);
    for (flow, mut expected) in [("exit", batch()), ("deferred", deferred())] {
        let query = ExecutionQuery { flow: Some(flow.into()), limit: 500, ..Default::default() };
        expected.reverse();
        assert_eq!(store.list_executions(&query).unwrap().items, expected, "{flow}");
    }
    let subscription = conformance::subscription(&conformance::subscription_id(1));
    assert_eq!(store.subscriptions().unwrap(), vec![subscription]);
    assert_eq!(store.due_deliveries(i64::MAX, usize::MAX).unwrap(), deliveries());
    let query = RecordQuery { collection: "exit".into(), limit: 1000, ..Default::default() };
    let listed = store.list_records(&query).unwrap().items;
    let keys: Vec<&str> = listed.iter().map(|r| r.key.as_str()).collect();
    let written: Vec<RecordWrite> = records();
    assert_eq!(keys, written.iter().map(|w| w.key.as_str()).collect::<Vec<_>>());
    assert_eq!(store.collections().unwrap()[0].count, 100);
    assert_eq!(store.pending_events(usize::MAX).unwrap(), events()[1..]);
}

/// The records that the process-exit check writes after the deliveries, in one batch: 100.
fn records() -> Vec<RecordWrite> {
    (0..100)
        .map(|n| {
            let value = serde_json::json!({ "n": n });
            conformance::record_write("exit", &format!("k{n:03}"), WriteMode::Insert, value, n)
        })
        .collect()
}

/// The events that the process-exit check writes last (then deletes the first): 20.
fn events() -> Vec<PendingEvent> {
    (0..20).map(conformance::pending_event).collect()
}

/// The deliveries that the process-exit check writes last, in one batch: 100 due ones.
fn deliveries() -> Vec<Delivery> {
    let subscription = conformance::subscription_id(1);
    (0..100)
        .map(|n| {
            let id = conformance::delivery_id(n);
            let at = Some(i64::try_from(n).unwrap());
            conformance::delivery(&id, &subscription, DeliveryStatus::Pending, 0, at)
        })
        .collect()
}

/// What the process-exit check writes deferred, in several writes, then flushes: 64 records.
fn deferred() -> Vec<ExecutionRecord> {
    executions(256..320, "deferred", ExecutionStatus::Succeeded)
}

/// The batch of executions that the process-exit check writes: 256, in id order.
fn batch() -> Vec<ExecutionRecord> {
    executions(0..256, "exit", ExecutionStatus::Queued)
}

/// Executions of `flow` with `status`, one per number of `ids`, in id order.
fn executions(ids: Range<u64>, flow: &str, status: ExecutionStatus) -> Vec<ExecutionRecord> {
    ids.map(|n| conformance::execution(&conformance::execution_id(n), Some(flow), status, 0))
        .collect()
}

/// The tests every on-disk backend runs: the conformance suite, the durability cases, the engine
/// cases and the process-exit check, each in fresh directories.
macro_rules! on_disk_backend_tests {
    ($store:ty) => {
        fn open(dir: &std::path::Path) -> std::sync::Arc<dyn crate::Store> {
            std::sync::Arc::new(<$store>::open(dir).unwrap())
        }

        #[test]
        fn passes_the_conformance_suite() {
            let root = tempfile::tempdir().unwrap();
            crate::conformance::run_all(&crate::testing::fresh_dirs(root.path(), open));
        }

        #[test]
        fn passes_the_durability_cases() {
            let root = tempfile::tempdir().unwrap();
            crate::conformance::run_durability(
                &crate::testing::fresh_dir_maker(root.path()),
                &open,
            );
        }

        #[test]
        fn passes_the_engine_cases() {
            let root = tempfile::tempdir().unwrap();
            let make = crate::testing::fresh_dir_maker(root.path());
            crate::kv::tests::run_all(&|| <$store>::open(&make()).unwrap());
        }

        #[test]
        fn writes_survive_a_process_exit() {
            crate::testing::writes_survive_a_process_exit(
                concat!(module_path!(), "::writes_survive_a_process_exit"),
                open,
            );
        }
    };
}
pub(crate) use on_disk_backend_tests;
