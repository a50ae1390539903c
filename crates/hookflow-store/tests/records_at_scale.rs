//! Records at scale: a large collection in redb, written in batches and paged through by key and
//! by creation, every record once and in order, each page reading only its own rows (the
//! process does not grow while the pages go by).
//!
//! The 50 000-record case runs always (a few seconds); the million-record one takes over a minute
//! in a debug build (about 10 s in release) and runs on request:
//! `cargo test --release -p hookflow-store --test records_at_scale -- --ignored`.

use std::time::Instant;

use hookflow_store::{
    RecordOrder, RecordQuery, RecordWrite, RedbStore, Store, StoredRecord, WriteMode,
};

const BATCH: usize = 5_000;
const PAGE: usize = 1_000;
/// How much the process may grow between the two probed pages.
const GROWTH_BYTES: u64 = 8 * 1024 * 1024;

/// The resident set of this process, from `/proc/self/statm` (pages of 4 KiB).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// The key of the `n`th record written: shuffled within its batch, so that key order is not the
/// order of creation, while each batch lands after the one before, as keys made from ids or times
/// do. (Keys shuffled over the whole collection make each batch rewrite a leaf per record: a
/// million of them take about twice as long to write.)
fn key(n: usize) -> String {
    // 7919 is prime, so `offset * 7919 % BATCH` visits every offset of the batch once.
    let (batch, offset) = (n / BATCH, n % BATCH);
    format!("k{:08}", batch * BATCH + (offset * 7919) % BATCH)
}

/// Pages through the collection in `order`, checking each page with `check`, and measures the
/// resident set at pages `probes`; returns the growth between them.
fn page_through(
    store: &RedbStore,
    order: RecordOrder,
    probes: (usize, usize),
    mut check: impl FnMut(usize, &StoredRecord),
) -> (usize, u64) {
    let mut query =
        RecordQuery { collection: "orders".to_owned(), order, cursor: String::new(), limit: PAGE };
    let (mut seen, mut page, mut at_first) = (0, 0, 0);
    let mut growth = 0;
    loop {
        let listed = store.list_records(&query).unwrap();
        assert!(listed.items.len() <= PAGE);
        for record in &listed.items {
            check(seen, record);
            seen += 1;
        }
        page += 1;
        if page == probes.0 {
            at_first = resident_bytes();
        }
        if page == probes.1 {
            growth = resident_bytes().saturating_sub(at_first);
        }
        match listed.next_cursor {
            Some(cursor) => query.cursor = cursor,
            None => return (seen, growth),
        }
    }
}

fn records_page_in_order(total: usize, probes: (usize, usize)) {
    assert_eq!(total % BATCH, 0, "whole batches");
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let started = Instant::now();
    for first in (0..total).step_by(BATCH) {
        let writes: Vec<RecordWrite> = (first..(first + BATCH).min(total))
            .map(|n| RecordWrite {
                collection: "orders".to_owned(),
                key: key(n),
                value: serde_json::json!({ "n": n }),
                mode: WriteMode::Insert,
                execution_id: "0190e7a4-0000-7000-8000-000000000000".to_owned(),
                now_ms: 1_700_000_000_000,
            })
            .collect();
        store.put_records(&writes).unwrap();
    }
    let written = started.elapsed();
    let collections = store.collections().unwrap();
    assert_eq!(collections.len(), 1);
    assert_eq!(collections[0].count, total as u64);

    let started = Instant::now();
    let (seen, by_key_growth) = page_through(&store, RecordOrder::Key, probes, |n, record| {
        assert_eq!(record.key, format!("k{n:08}"));
    });
    assert_eq!(seen, total);
    let by_key = started.elapsed();

    let started = Instant::now();
    let mut last_id = String::new();
    let (seen, by_created_growth) =
        page_through(&store, RecordOrder::Created, probes, |n, record| {
            assert_eq!(record.key, key(n));
            assert_eq!(record.value, serde_json::json!({ "n": n }));
            assert!(record.created_id > last_id);
            last_id.clone_from(&record.created_id);
        });
    assert_eq!(seen, total);
    let by_created = started.elapsed();

    eprintln!(
        "{total} records: written in {written:?}, paged by key in {by_key:?} (+{} KiB between \
         pages {} and {}), by creation in {by_created:?} (+{} KiB)",
        by_key_growth / 1024,
        probes.0,
        probes.1,
        by_created_growth / 1024,
    );
    assert!(by_key_growth <= GROWTH_BYTES, "grew {by_key_growth} bytes paging by key");
    assert!(by_created_growth <= GROWTH_BYTES, "grew {by_created_growth} bytes paging by creation");
}

#[test]
fn fifty_thousand_records_page_in_order() {
    records_page_in_order(50_000, (5, 45));
}

#[test]
#[ignore = "over a minute in a debug build: run with --release -- --ignored"]
fn a_million_records_page_in_order() {
    records_page_in_order(1_000_000, (10, 990));
}
