//! The records domain over an [`Engine`]: collections of JSON records, the index that lists a
//! collection in creation order, and the count of each collection, all kept by [`put_records`]
//! and [`delete_record`] in the same atomic write.
//!
//! # Layout
//!
//! - [`Table::Records`]: `collection \0 key` → the record (JSON).
//! - [`Table::RecordsByCreated`]: `collection \0 created_id` → the record's key in
//!   [`Table::Records`].
//! - [`Table::RecordCollections`]: `collection` → how many records it holds (8 bytes,
//!   big-endian); a collection that holds none has no entry.
//!
//! A collection name in a key is escaped and ended as a flow id is in the executions' keys, so
//! every key of a collection lies in `[p, p 0xFF)` for its prefix `p`, and no other key does.
//!
//! # Costs
//!
//! A page reads its own entries and one more (to tell whether another page follows): in key
//! order the records themselves, in created order that many index entries and then their
//! records. [`collections`] reads one entry per collection.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    ops::{Bound, ControlFlow},
};

use super::executions::{flow_key, index_id, prefix_end, visit_prefix, visit_range};
use super::{Engine, Record, Table, Write, corrupt, decode, encode, get, group_by_table, lock};
use crate::{
    CollectionInfo, Durability, RecordOrder, RecordPage, RecordQuery, RecordWrite, RecordWritten,
    StoreError, StoredRecord, WriteMode, records::MAX_NAME_BYTES,
};

impl Record for StoredRecord {
    const TABLE: Table = Table::Records;

    fn key(&self) -> Cow<'_, [u8]> {
        Cow::Owned(record_key(&self.collection, &self.key))
    }
}

/// The key of record `key` of `collection`.
fn record_key(collection: &str, key: &str) -> Vec<u8> {
    flow_key(collection, key.as_bytes())
}

/// The prefix of every key of `collection`, in [`Table::Records`] and [`Table::RecordsByCreated`].
fn collection_prefix(collection: &str) -> Vec<u8> {
    flow_key(collection, &[])
}

fn created_key(collection: &str, created_id: &str) -> Vec<u8> {
    flow_key(collection, created_id.as_bytes())
}

/// A new `created_id`: UUIDv7s made by one process sort in the order they are made, and they are
/// made under the write lock, so in the order the records are stored.
fn new_created_id() -> String {
    format!("rec_{}", uuid::Uuid::now_v7().simple())
}

/// Checks that `name` (a collection's or a key) is 1 to [`MAX_NAME_BYTES`] bytes long.
fn check_name(field: &'static str, name: &str) -> Result<(), StoreError> {
    if (1..=MAX_NAME_BYTES).contains(&name.len()) {
        return Ok(());
    }
    Err(StoreError::InvalidRecordName {
        field,
        shown: name.chars().take(64).collect(),
        len: name.len(),
    })
}

/// A collection's count as stored.
fn decode_count(engine: &impl Engine, key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
    let bytes = <[u8; 8]>::try_from(value).map_err(|_| {
        corrupt(engine, Table::RecordCollections, key, format!("a count of {} bytes", value.len()))
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// The counts of `collections` now, 0 for those without an entry.
fn counts(engine: &impl Engine, collections: &[&str]) -> Result<Vec<u64>, StoreError> {
    let keys: Vec<Vec<u8>> = collections.iter().map(|name| name.as_bytes().to_vec()).collect();
    let values = engine.get_many_raw(Table::RecordCollections, &keys)?;
    keys.iter()
        .zip(values)
        .map(|(key, value)| value.map_or(Ok(0), |value| decode_count(engine, key, &value)))
        .collect()
}

/// The write that leaves `count` records in `collection`.
fn count_write(collection: &str, count: u64) -> Write<'static> {
    let (table, key) = (Table::RecordCollections, collection.as_bytes().to_vec());
    match count {
        0 => Write::Remove { table, key },
        count => Write::Put { table, key, value: Cow::Owned(count.to_be_bytes().to_vec()) },
    }
}

/// A key of the batch: the record stored before it, and the one it leaves.
struct Slot {
    before: Option<StoredRecord>,
    after: Option<StoredRecord>,
}

pub(super) fn put_records(
    engine: &impl Engine,
    writes: &[RecordWrite],
) -> Result<Vec<RecordWritten>, StoreError> {
    for write in writes {
        check_name("collection", &write.collection)?;
        check_name("key", &write.key)?;
    }
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<Vec<u8>> =
        writes.iter().map(|write| record_key(&write.collection, &write.key)).collect();
    let mut distinct = keys.clone();
    distinct.sort_unstable();
    distinct.dedup();

    let _guard = lock(engine);
    let mut slots = BTreeMap::new();
    for (key, value) in distinct.iter().zip(engine.get_many_raw(Table::Records, &distinct)?) {
        // A record that does not read cannot be replaced: its creation would be lost.
        let before: Option<StoredRecord> =
            value.map(|bytes| decode(engine, key, &bytes)).transpose()?;
        slots.insert(key.as_slice(), Slot { after: before.clone(), before });
    }

    // Each write sees the ones before it in the batch.
    let mut results = Vec::with_capacity(writes.len());
    for (write, key) in writes.iter().zip(&keys) {
        let Some(slot) = slots.get_mut(key.as_slice()) else { continue };
        let record = match (&slot.after, write.mode) {
            (Some(current), WriteMode::Insert) => {
                results.push(RecordWritten::Exists { version: current.version });
                continue;
            }
            (Some(current), WriteMode::Upsert) => StoredRecord {
                value: write.value.clone(),
                version: current.version + 1,
                updated_at_ms: write.now_ms,
                execution_id: write.execution_id.clone(),
                ..current.clone()
            },
            (None, _) => StoredRecord {
                collection: write.collection.clone(),
                key: write.key.clone(),
                value: write.value.clone(),
                version: 1,
                created_id: new_created_id(),
                created_at_ms: write.now_ms,
                updated_at_ms: write.now_ms,
                execution_id: write.execution_id.clone(),
            },
        };
        let created = slot.after.is_none();
        results.push(RecordWritten::Stored { created, version: record.version });
        slot.after = Some(record);
    }

    let mut batch = Vec::with_capacity(slots.len() * 2);
    let mut added: BTreeMap<&str, u64> = BTreeMap::new();
    for (key, slot) in &slots {
        let Some(after) = &slot.after else { continue };
        if slot.before.as_ref() == Some(after) {
            continue;
        }
        let value = encode(Table::Records, key, after)?;
        batch.push(Write::Put {
            table: Table::Records,
            key: key.to_vec(),
            value: Cow::Owned(value),
        });
        if slot.before.is_none() {
            batch.push(Write::Put {
                table: Table::RecordsByCreated,
                key: created_key(&after.collection, &after.created_id),
                value: Cow::Owned(key.to_vec()),
            });
            *added.entry(after.collection.as_str()).or_default() += 1;
        }
    }
    let collections: Vec<&str> = added.keys().copied().collect();
    for ((collection, more), count) in added.iter().zip(counts(engine, &collections)?) {
        batch.push(count_write(collection, count.saturating_add(*more)));
    }
    // One write per key of each table: the records by key, the index by created id, the counts
    // by collection.
    group_by_table(&mut batch);
    engine.apply_raw(&batch, Durability::Now)?;
    Ok(results)
}

pub(super) fn record(
    engine: &impl Engine,
    collection: &str,
    key: &str,
) -> Result<Option<StoredRecord>, StoreError> {
    get(engine, &record_key(collection, key))
}

pub(super) fn delete_record(
    engine: &impl Engine,
    collection: &str,
    key: &str,
) -> Result<bool, StoreError> {
    let key_bytes = record_key(collection, key);
    let _guard = lock(engine);
    let Some(bytes) = engine.get_raw(Table::Records, &key_bytes)? else { return Ok(false) };
    let mut writes = Vec::with_capacity(3);
    match decode::<StoredRecord>(engine, &key_bytes, &bytes) {
        Ok(old) => writes.push(Write::Remove {
            table: Table::RecordsByCreated,
            key: created_key(collection, &old.created_id),
        }),
        // Unreadable: its index entry is found by its value, in a walk of the collection's.
        Err(_) => {
            let table = Table::RecordsByCreated;
            let prefix = collection_prefix(collection);
            visit_prefix(engine, table, &prefix, false, |index_key, value| {
                if value == key_bytes.as_slice() {
                    writes.push(Write::Remove { table, key: index_key.to_vec() });
                    return Ok(ControlFlow::Break(()));
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }
    }
    writes.push(Write::Remove { table: Table::Records, key: key_bytes });
    let count = counts(engine, &[collection])?[0];
    writes.push(count_write(collection, count.saturating_sub(1)));
    engine.apply_raw(&writes, Durability::Now)?;
    Ok(true)
}

pub(super) fn collections(engine: &impl Engine) -> Result<Vec<CollectionInfo>, StoreError> {
    let table = Table::RecordCollections;
    let mut collections = Vec::new();
    for (key, value) in engine.scan_raw(table)? {
        let count = decode_count(engine, &key, &value)?;
        let name = String::from_utf8(key)
            .map_err(|err| corrupt(engine, table, err.as_bytes(), "not UTF-8".to_owned()))?;
        collections.push(CollectionInfo { name, count });
    }
    Ok(collections)
}

pub(super) fn list_records(
    engine: &impl Engine,
    query: &RecordQuery,
) -> Result<RecordPage, StoreError> {
    let limit = query.effective_limit();
    let prefix = collection_prefix(&query.collection);
    let end = prefix_end(&prefix);
    let after = [prefix.as_slice(), query.cursor.as_bytes()].concat();
    let lower = match query.cursor.is_empty() {
        true => Bound::Included(prefix.as_slice()),
        false => Bound::Excluded(after.as_slice()),
    };
    let upper = Bound::Excluded(end.as_slice());
    let mut more = false;
    match query.order {
        RecordOrder::Key => {
            let mut items: Vec<StoredRecord> = Vec::new();
            visit_range(engine, Table::Records, lower, upper, false, |key, value| {
                if items.len() == limit {
                    more = true;
                    return Ok(ControlFlow::Break(()));
                }
                items.push(decode(engine, key, value)?);
                Ok(ControlFlow::Continue(()))
            })?;
            let next_cursor = more.then(|| items.last().map(|last| last.key.clone())).flatten();
            Ok(RecordPage { items, next_cursor })
        }
        RecordOrder::Created => {
            let table = Table::RecordsByCreated;
            let mut keys = Vec::new();
            let mut last = None;
            visit_range(engine, table, lower, upper, false, |index_key, value| {
                if keys.len() == limit {
                    more = true;
                    return Ok(ControlFlow::Break(()));
                }
                keys.push(value.to_vec());
                last = Some(index_key.to_vec());
                Ok(ControlFlow::Continue(()))
            })?;
            let next_cursor = match last {
                Some(last) if more => Some(index_id(engine, table, &last, &prefix)?),
                _ => None,
            };
            // A record deleted since its index entry was read is skipped.
            let mut items = Vec::with_capacity(keys.len());
            for (key, value) in keys.iter().zip(engine.get_many_raw(Table::Records, &keys)?) {
                if let Some(bytes) = value {
                    items.push(decode::<StoredRecord>(engine, key, &bytes)?);
                }
            }
            Ok(RecordPage { items, next_cursor })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Engine-level cases of the records domain: what the domain API cannot show.

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{MemoryStore, Store};

    fn upsert(collection: &str, key: &str, n: u64) -> RecordWrite {
        RecordWrite {
            collection: collection.to_owned(),
            key: key.to_owned(),
            value: serde_json::json!({ "n": n }),
            mode: WriteMode::Upsert,
            execution_id: "exec".to_owned(),
            now_ms: 1,
        }
    }

    /// The index and the counts hold exactly one entry per record, whatever was written and
    /// deleted.
    pub(crate) fn the_index_and_counts_follow_the_records(engine: &impl Engine) {
        let writes: Vec<RecordWrite> = (0..40)
            .map(|n| upsert(["a", "b", "a\0"][n % 3], &format!("k{}", n % 17), n as u64))
            .collect();
        engine.put_records(&writes).unwrap();
        engine.put_records(&writes[..10]).unwrap();
        assert!(engine.delete_record("a", "k0").unwrap());
        assert!(engine.delete_record("b", "k1").unwrap());
        let records = engine.scan_raw(Table::Records).unwrap();
        let mut indexed: Vec<Vec<u8>> = engine
            .scan_raw(Table::RecordsByCreated)
            .unwrap()
            .into_iter()
            .map(|(_, value)| value)
            .collect();
        indexed.sort();
        let stored: Vec<Vec<u8>> = records.iter().map(|(key, _)| key.clone()).collect();
        assert_eq!(indexed, stored);
        let total: u64 = engine.collections().unwrap().iter().map(|c| c.count).sum();
        assert_eq!(total, stored.len() as u64);
    }

    /// A record whose bytes are garbage is an error naming its key, from every read; it cannot
    /// be replaced (its creation would be lost) but it can be deleted, index entry and count
    /// included.
    pub(crate) fn a_corrupt_record_is_an_error_and_can_be_deleted(engine: &impl Engine) {
        engine.put_records(&[upsert("c", "bad", 1), upsert("c", "good", 2)]).unwrap();
        engine.put_raw(Table::Records, &record_key("c", "bad"), b"{\"collection\":").unwrap();
        let expected = "corrupt record `c\0bad` in `records`";
        let query = |order| RecordQuery { collection: "c".into(), order, ..Default::default() };
        for err in [
            engine.record("c", "bad").unwrap_err(),
            engine.list_records(&query(RecordOrder::Key)).unwrap_err(),
            engine.list_records(&query(RecordOrder::Created)).unwrap_err(),
            engine.put_records(&[upsert("c", "bad", 3)]).unwrap_err(),
        ] {
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
            assert!(err.to_string().contains(expected), "{err}");
        }
        assert!(engine.delete_record("c", "bad").unwrap());
        assert_eq!(engine.scan_raw(Table::RecordsByCreated).unwrap().len(), 1);
        assert_eq!(
            engine.collections().unwrap(),
            vec![CollectionInfo { name: "c".into(), count: 1 }]
        );
    }

    /// A memory store that counts the entries its ranges visit and the keys it reads.
    #[derive(Default)]
    struct Counting {
        inner: MemoryStore,
        visited: AtomicUsize,
        read: AtomicUsize,
    }

    impl Engine for Counting {
        fn describe(&self) -> &str {
            "a counting store"
        }

        fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.read.fetch_add(1, Ordering::Relaxed);
            self.inner.get_raw(table, key)
        }

        fn get_many_raw(
            &self,
            table: Table,
            keys: &[Vec<u8>],
        ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
            self.read.fetch_add(keys.len(), Ordering::Relaxed);
            self.inner.get_many_raw(table, keys)
        }

        fn scan_raw(&self, table: Table) -> Result<Vec<super::super::Entry>, StoreError> {
            let entries = self.inner.scan_raw(table)?;
            self.visited.fetch_add(entries.len(), Ordering::Relaxed);
            Ok(entries)
        }

        fn range_raw(
            &self,
            table: Table,
            lower: Bound<&[u8]>,
            upper: Bound<&[u8]>,
            reverse: bool,
            visit: super::super::Visit<'_>,
        ) -> Result<(), StoreError> {
            self.inner.range_raw(table, lower, upper, reverse, &mut |key, value| {
                self.visited.fetch_add(1, Ordering::Relaxed);
                visit(key, value)
            })
        }

        fn put_raw(&self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
            self.inner.put_raw(table, key, value)
        }

        fn remove_raw(&self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
            self.inner.remove_raw(table, key)
        }

        fn apply_raw(
            &self,
            writes: &[Write<'_>],
            durability: Durability,
        ) -> Result<(), StoreError> {
            self.inner.apply_raw(writes, durability)
        }

        fn flush_raw(&self) -> Result<(), StoreError> {
            self.inner.flush_raw()
        }

        fn shared(&self) -> &super::super::Shared {
            self.inner.shared()
        }
    }

    /// A page reads its own entries and one more, in either order, wherever it starts in a
    /// collection among others; a write reads the keys it writes and the counts it changes.
    #[test]
    fn a_page_reads_only_its_entries() {
        let engine = Counting::default();
        for collection in ["a", "b", "c"] {
            let writes: Vec<RecordWrite> =
                (0..3000).map(|n| upsert(collection, &format!("k{n:05}"), n)).collect();
            engine.put_records(&writes).unwrap();
        }
        assert_eq!(engine.read.swap(0, Ordering::Relaxed), 3 * (3000 + 1));
        for order in RecordOrder::ALL {
            let mut query =
                RecordQuery { collection: "b".into(), order, limit: 100, ..Default::default() };
            let mut pages = 0;
            loop {
                engine.visited.store(0, Ordering::Relaxed);
                engine.read.store(0, Ordering::Relaxed);
                let page = engine.list_records(&query).unwrap();
                let visited = engine.visited.load(Ordering::Relaxed);
                let read = engine.read.load(Ordering::Relaxed);
                assert!(visited <= 101, "{order}: page {pages} visited {visited} entries");
                let expected_reads = if order == RecordOrder::Key { 0 } else { page.items.len() };
                assert_eq!(read, expected_reads, "{order}: page {pages}");
                pages += 1;
                match page.next_cursor {
                    Some(cursor) => query.cursor = cursor,
                    None => break,
                }
            }
            assert_eq!(pages, 30, "{order}");
        }
        engine.visited.store(0, Ordering::Relaxed);
        assert_eq!(engine.collections().unwrap().len(), 3);
        assert_eq!(engine.visited.load(Ordering::Relaxed), 3, "one entry per collection");
    }

    /// Runs every engine-level case of the records domain, each on a fresh engine.
    pub(crate) fn run_all<E: Engine>(make: &dyn Fn() -> E) {
        the_index_and_counts_follow_the_records(&make());
        a_corrupt_record_is_an_error_and_can_be_deleted(&make());
    }
}
