//! Execution records stored compressed (LZ4) against a dictionary: the first record stored with
//! the same flow and status. The records of one flow share most of their bytes (field names,
//! headers, the shape of the trace), so a record packs to a fraction of its size, and the engines'
//! cost grows with the bytes they write.
//!
//! A stored execution is either JSON (it starts with `{`) or [`PACKED`], the dictionary's id (8
//! bytes, big-endian), the record's size (4 bytes, little-endian) and the LZ4 block. A record that
//! would not shrink is stored as JSON. Dictionaries live in [`Table::ExecutionDictionaries`]:
//! id → `[key length, 2 bytes big-endian] [key] [dictionary]`, the key being the status code and
//! the flow. A dictionary is written in the same atomic write as the first record of its flow and
//! status (that record may still be stored as JSON), kept for good (at most [`DICTIONARY_BYTES`]
//! per flow and status, also after the flow is gone) and reused after a restart. A flow whose key
//! would not fit in those 2 bytes has its records stored as JSON.
//!
//! Dictionary ids are never reused: a write that fails spends the ids it took, since a failed
//! write may still have landed (sled applies a batch, then its flush fails).
//!
//! Each dictionary has its compressor, prepared once (its hash table filled from the dictionary)
//! and reused for every record packed against it: preparing one per record cost as much as
//! compressing it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, PoisonError, RwLock};

use lz4rip::block::DictCompressor;

use crate::kv::{Engine, Table, Write, corrupt};
use crate::{EncodedExecution, StoreError};

/// The first byte of a packed record (a JSON record starts with `{`).
const PACKED: u8 = 0x01;
/// Marker, dictionary id and size.
const HEADER: usize = 1 + 8 + 4;
/// A dictionary is at most this long (the start of its record).
const DICTIONARY_BYTES: usize = 16 * 1024;
/// A record declaring a larger size is corrupt (no allocation is made for it).
const MAX_RECORD_BYTES: usize = 1 << 30;
/// An LZ4 block expands at most this many times (a match's length grows by 255 per byte), so a
/// block declaring more is corrupt before anything is allocated for it.
const MAX_EXPANSION: usize = 255;

/// The dictionaries an open store has read, for unpacking.
#[derive(Debug, Default)]
pub struct Dictionaries {
    by_id: RwLock<HashMap<u64, Arc<[u8]>>>,
}

/// What the engine's write lock guards for packing: the dictionary of each key, loaded from the
/// table by the first write.
#[derive(Debug, Default)]
pub struct Packing {
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    by_key: HashMap<Vec<u8>, Known>,
    next_id: u64,
}

/// A dictionary that records are packed against.
#[derive(Debug)]
struct Known {
    id: u64,
    dictionary: Arc<[u8]>,
    /// Prepared by the first record packed against it (a dictionary read at start-up may never
    /// be used: its flow may be gone).
    compressor: Option<DictCompressor>,
}

impl Known {
    fn new(id: u64, dictionary: Arc<[u8]>) -> Self {
        Known { id, dictionary, compressor: None }
    }

    fn compressor(&mut self) -> &mut DictCompressor {
        self.compressor.get_or_insert_with(|| DictCompressor::new(&self.dictionary))
    }
}

/// Packs the records of one atomic write; then [`Packer::written`] or [`Packer::failed`].
pub(super) struct Packer<'w> {
    current: &'w mut Current,
    fresh: HashMap<Vec<u8>, Known>,
    next_id: u64,
    /// Where records are compressed, reused from one to the next.
    scratch: Vec<u8>,
    /// The dictionary key of the record being packed, reused likewise.
    key: Vec<u8>,
}

/// Starts packing a write, under the engine's write lock (`packing` is what it guards).
pub(super) fn packer<'w>(
    engine: &impl Engine,
    packing: &'w mut Packing,
) -> Result<Packer<'w>, StoreError> {
    let current = match &mut packing.current {
        Some(current) => current,
        slot => slot.insert(load(engine)?),
    };
    let next_id = current.next_id;
    Ok(Packer { current, fresh: HashMap::new(), next_id, scratch: Vec::new(), key: Vec::new() })
}

/// Reads every dictionary: the table holds one per flow and status.
fn load(engine: &impl Engine) -> Result<Current, StoreError> {
    let table = Table::ExecutionDictionaries;
    let mut current = Current { by_key: HashMap::new(), next_id: 0 };
    for (id_bytes, value) in engine.scan_raw(table)? {
        let bad = |cause: &str| corrupt(engine, table, &id_bytes, cause.to_owned());
        let id = u64::from_be_bytes(id_bytes.as_slice().try_into().map_err(|_| bad("not an id"))?);
        let (key, dictionary) = split_dictionary(&value).ok_or_else(|| bad("truncated"))?;
        current.by_key.insert(key.to_vec(), Known::new(id, Arc::from(dictionary)));
        let next = id.checked_add(1).ok_or_else(|| bad("the last possible id"))?;
        current.next_id = current.next_id.max(next);
    }
    Ok(current)
}

fn split_dictionary(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = value.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (rest.len() >= len).then(|| rest.split_at(len))
}

impl<'w> Packer<'w> {
    /// `record` as stored. A new dictionary joins `writes`.
    pub(super) fn pack<'a>(
        &mut self,
        record: &'a EncodedExecution,
        writes: &mut Vec<Write<'a>>,
    ) -> Cow<'a, [u8]> {
        let json = record.json.as_slice();
        dictionary_key(record, &mut self.key);
        let key = self.key.as_slice();
        let Ok(key_len) = u16::try_from(key.len()) else { return Cow::Borrowed(json) };
        let known = match self.current.by_key.get_mut(key) {
            Some(known) => known,
            None => match self.fresh.entry(key.to_vec()) {
                Entry::Occupied(fresh) => fresh.into_mut(),
                Entry::Vacant(slot) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let dictionary = &json[..json.len().min(DICTIONARY_BYTES)];
                    let mut value = Vec::with_capacity(2 + key.len() + dictionary.len());
                    value.extend_from_slice(&key_len.to_be_bytes());
                    value.extend_from_slice(key);
                    value.extend_from_slice(dictionary);
                    writes.push(Write::Put {
                        table: Table::ExecutionDictionaries,
                        key: id.to_be_bytes().to_vec(),
                        value: Cow::Owned(value),
                    });
                    slot.insert(Known::new(id, Arc::from(dictionary)))
                }
            },
        };
        let Ok(size) = u32::try_from(json.len()) else { return Cow::Borrowed(json) };
        let room = HEADER + lz4rip::block::get_maximum_output_size(json.len());
        if self.scratch.len() < room {
            self.scratch.resize(room, 0);
        }
        let packed = &mut self.scratch[..room];
        packed[0] = PACKED;
        packed[1..9].copy_from_slice(&known.id.to_be_bytes());
        packed[9..HEADER].copy_from_slice(&size.to_le_bytes());
        match known.compressor().compress_into(json, &mut packed[HEADER..]) {
            Ok(n) if HEADER + n < json.len() => Cow::Owned(packed[..HEADER + n].to_vec()),
            _ => Cow::Borrowed(json),
        }
    }

    /// The write went through: its new dictionaries are current, and can be read.
    pub(super) fn written(self, dictionaries: &Dictionaries) {
        if self.fresh.is_empty() {
            return;
        }
        let mut by_id = dictionaries.by_id.write().unwrap_or_else(PoisonError::into_inner);
        for (key, known) in self.fresh {
            by_id.insert(known.id, known.dictionary.clone());
            self.current.by_key.insert(key, known);
        }
        self.current.next_id = self.next_id;
    }

    /// The write failed, and may have landed all the same: its dictionaries' ids stay spent,
    /// and a later record of the same flow and status takes a new one.
    pub(super) fn failed(self) {
        self.current.next_id = self.next_id;
    }
}

/// Which records share a dictionary, into `key`: `[status code] [0 | 1 flow id]`.
fn dictionary_key(record: &EncodedExecution, key: &mut Vec<u8>) {
    key.clear();
    key.push(super::status_code(record.status));
    key.push(u8::from(record.flow_id.is_some()));
    key.extend_from_slice(record.flow_id.as_deref().unwrap_or_default().as_bytes());
}

/// The JSON of the execution stored under `key`.
pub(super) fn unpack<'v>(
    engine: &impl Engine,
    key: &[u8],
    value: &'v [u8],
) -> Result<Cow<'v, [u8]>, StoreError> {
    let Some(rest) = value.strip_prefix(&[PACKED]) else { return Ok(Cow::Borrowed(value)) };
    let bad = |cause: String| corrupt(engine, Table::Executions, key, cause);
    let (id, rest) = rest.split_first_chunk::<8>().ok_or_else(|| bad("truncated".into()))?;
    let (size, block) = rest.split_first_chunk::<4>().ok_or_else(|| bad("truncated".into()))?;
    let (id, size) = (u64::from_be_bytes(*id), u32::from_le_bytes(*size) as usize);
    if size > MAX_RECORD_BYTES || size > block.len().saturating_mul(MAX_EXPANSION) + HEADER {
        return Err(bad(format!("declares {size} bytes from a block of {}", block.len())));
    }
    let dictionary =
        dictionary(engine, id)?.ok_or_else(|| bad(format!("its dictionary {id} is missing")))?;
    let mut json = vec![0; size];
    match lz4rip::block::decompress_into_with_dict(block, &mut json, &dictionary) {
        Ok(n) if n == size => Ok(Cow::Owned(json)),
        Ok(n) => Err(bad(format!("unpacks to {n} bytes, not {size}"))),
        Err(err) => Err(bad(format!("cannot unpack: {err}"))),
    }
}

/// Dictionary `id`, read once from the table.
fn dictionary(engine: &impl Engine, id: u64) -> Result<Option<Arc<[u8]>>, StoreError> {
    let dictionaries = &engine.shared().dictionaries;
    if let Some(found) = dictionaries.by_id.read().unwrap_or_else(PoisonError::into_inner).get(&id)
    {
        return Ok(Some(found.clone()));
    }
    let table = Table::ExecutionDictionaries;
    let key = id.to_be_bytes();
    let Some(value) = engine.get_raw(table, &key)? else { return Ok(None) };
    let (_, dictionary) = split_dictionary(&value)
        .ok_or_else(|| corrupt(engine, table, &key, "truncated".to_owned()))?;
    let dictionary = Arc::<[u8]>::from(dictionary);
    let mut by_id = dictionaries.by_id.write().unwrap_or_else(PoisonError::into_inner);
    by_id.insert(id, dictionary.clone());
    Ok(Some(dictionary))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::Durability;
    use crate::conformance::execution;
    use crate::{ExecutionRecord, ExecutionStatus, MemoryStore, RedbStore, SledStore, Store};

    /// A block that lz4_flex 0.11 packed (records stored before the compressor changed) unpacks
    /// the same: both write the LZ4 block format, matches reaching back into the dictionary.
    #[test]
    fn a_block_packed_by_the_previous_compressor_unpacks() {
        let dictionary = br#"{"id":"0193-1","flow_id":"order-intake","status":"succeeded","request":{"method":"POST","path":"/hooks/orders/eu"}}"#;
        let record = br#"{"id":"0193-2","flow_id":"order-intake","status":"succeeded","request":{"method":"POST","path":"/hooks/orders/us"}}"#;
        let block = [8, 115, 0, 31, 50, 115, 0, 77, 96, 47, 117, 115, 34, 125, 125];
        let mut json = vec![0; record.len()];
        let n = lz4rip::block::decompress_into_with_dict(&block, &mut json, dictionary).unwrap();
        assert_eq!((n, json.as_slice()), (record.len(), record.as_slice()));
        let mut compressor = DictCompressor::new(dictionary);
        let mut packed = vec![0; lz4rip::block::get_maximum_output_size(record.len())];
        let n = compressor.compress_into(record, &mut packed).unwrap();
        let mut json = vec![0; record.len()];
        lz4rip::block::decompress_into_with_dict(&packed[..n], &mut json, dictionary).unwrap();
        assert_eq!(json, record);
    }

    /// A record with a body of `body` repeated.
    fn record(id: &str, flow: &str, status: ExecutionStatus, body: &str) -> ExecutionRecord {
        let mut record = execution(id, Some(flow), status, 1);
        record.request.body = body.repeat(40).into_bytes();
        record
    }

    fn raw(engine: &impl Engine, id: &str) -> Vec<u8> {
        engine.get_raw(Table::Executions, id.as_bytes()).unwrap().unwrap()
    }

    fn dictionaries(engine: &impl Engine) -> usize {
        engine.scan_raw(Table::ExecutionDictionaries).unwrap().len()
    }

    fn similar_records_are_packed_per_flow_and_status(engine: &impl Engine) {
        let body = r#"{"sku":"A1","qty":2},"#;
        let records = [
            record("a", "f", ExecutionStatus::Succeeded, body),
            record("b", "f", ExecutionStatus::Succeeded, body),
            record("c", "f", ExecutionStatus::Failed, body),
            record("d", "g", ExecutionStatus::Succeeded, body),
        ];
        engine.put_executions(&records[..1]).unwrap();
        engine.put_executions(&records[1..]).unwrap();
        for record in &records {
            assert_eq!(engine.execution(&record.id).unwrap().as_ref(), Some(record));
            let json = serde_json::to_vec(record).unwrap();
            let stored = raw(engine, &record.id);
            assert_eq!(stored[0], PACKED, "{}", record.id);
            assert!(stored.len() * 5 < json.len(), "{} of {} bytes", stored.len(), json.len());
        }
        assert_eq!(dictionaries(engine), 3, "f succeeded, f failed, g succeeded");
        let listed = engine.list_executions(&Default::default()).unwrap().items;
        assert_eq!(listed.len(), 4);
    }

    #[test]
    fn similar_records_are_packed_on_every_backend() {
        let dir = tempfile::tempdir().unwrap();
        similar_records_are_packed_per_flow_and_status(&MemoryStore::new());
        similar_records_are_packed_per_flow_and_status(
            &RedbStore::open(&dir.path().join("r")).unwrap(),
        );
        similar_records_are_packed_per_flow_and_status(
            &SledStore::open(&dir.path().join("s")).unwrap(),
        );
    }

    /// Records of every size pack against the same dictionary one after the other (the prepared
    /// compressor keeps state from one record to the next, and changes tables past 64 KiB), and
    /// each unpacks to itself.
    #[test]
    fn records_of_every_size_pack_one_after_the_other() {
        let engine = MemoryStore::new();
        let sizes = [1, 12, 300, 2_000, 70_000, 12, 300, 40_000, 2_000, 1];
        let records: Vec<ExecutionRecord> = sizes
            .iter()
            .enumerate()
            .map(|(n, &size)| {
                let body = format!(r#"{{"n":{n},"sku":"A1","qty":2}},"#);
                let mut record = record(&format!("r{n:02}"), "f", ExecutionStatus::Succeeded, "");
                record.request.body = body.repeat(size / body.len() + 1).into_bytes();
                record
            })
            .collect();
        for record in &records {
            engine.put_executions(std::slice::from_ref(record)).unwrap();
        }
        engine.put_executions(&records).unwrap();
        for (record, size) in records.iter().zip(sizes) {
            assert_eq!(engine.execution(&record.id).unwrap().as_ref(), Some(record));
            assert!(size < 300 || raw(&engine, &record.id)[0] == PACKED, "{} packed", record.id);
        }
        assert_eq!(dictionaries(&engine), 1);
    }

    fn dictionaries_are_kept_across_a_reopen<E: Engine>(dir: &Path, open: fn(&Path) -> E) {
        let body = r#"{"note":"the same every time"},"#;
        let first = record("a", "f", ExecutionStatus::Succeeded, body);
        let second = record("b", "f", ExecutionStatus::Succeeded, body);
        open(dir).put_executions(std::slice::from_ref(&first)).unwrap();
        let engine = open(dir);
        assert_eq!(engine.execution("a").unwrap(), Some(first), "read with the stored dictionary");
        engine.put_executions(std::slice::from_ref(&second)).unwrap();
        assert_eq!(dictionaries(&engine), 1, "the dictionary is reused, not made again");
        assert_eq!(raw(&engine, "b")[0], PACKED);
        assert_eq!(open_again(engine, dir, open).execution("b").unwrap(), Some(second));
    }

    fn open_again<E: Engine>(engine: E, dir: &Path, open: fn(&Path) -> E) -> E {
        drop(engine);
        open(dir)
    }

    #[test]
    fn dictionaries_are_kept_across_a_reopen_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        dictionaries_are_kept_across_a_reopen(&dir.path().join("r"), |p| {
            RedbStore::open(p).unwrap()
        });
        dictionaries_are_kept_across_a_reopen(&dir.path().join("s"), |p| {
            SledStore::open(p).unwrap()
        });
    }

    #[test]
    fn a_record_that_would_not_shrink_is_stored_as_json() {
        let engine = MemoryStore::new();
        let tiny = EncodedExecution {
            id: "a".into(),
            flow_id: Some("f".into()),
            status: ExecutionStatus::Succeeded,
            received_at_ms: 1,
            parent: None,
            json: br#"{"id":"a"}"#.to_vec(),
            new: true,
        };
        engine.put_encoded_executions(std::slice::from_ref(&tiny), Durability::Now).unwrap();
        assert_eq!(raw(&engine, "a"), tiny.json, "the header alone is longer than the record");
    }

    #[test]
    fn bad_packed_records_are_corrupt_naming_the_key() {
        let engine = MemoryStore::new();
        let body = r#"{"n":1},"#;
        let records = [
            record("a", "f", ExecutionStatus::Succeeded, body),
            record("b", "f", ExecutionStatus::Succeeded, body),
        ];
        engine.put_executions(&records).unwrap();
        let packed = raw(&engine, "b");
        let mut huge = packed.clone();
        huge[9..HEADER].copy_from_slice(&u32::MAX.to_le_bytes());
        // Within the largest record, beyond what the block can expand to.
        let mut inflated = packed.clone();
        inflated[9..HEADER].copy_from_slice(&(1u32 << 20).to_le_bytes());
        let mut short = packed.clone();
        let size = u32::from_le_bytes(short[9..HEADER].try_into().unwrap());
        short[9..HEADER].copy_from_slice(&(size + 1).to_le_bytes());
        let mut broken = packed.clone();
        broken.truncate(broken.len() - 1);
        // Another store has no dictionary 0.
        let elsewhere = MemoryStore::new();
        elsewhere.put_raw(Table::Executions, b"b", &packed).unwrap();
        let cases: [(&MemoryStore, &[u8], &str); 6] = [
            (&elsewhere, &packed, "its dictionary 0 is missing"),
            (&engine, &packed[..5], "truncated"),
            (&engine, &huge, "declares 4294967295 bytes"),
            (&engine, &inflated, "declares 1048576 bytes from a block of"),
            (&engine, &broken, "cannot unpack"),
            (&engine, &short, "unpacks to 806 bytes, not 807"),
        ];
        for (engine, value, expected) in cases {
            engine.put_raw(Table::Executions, b"b", value).unwrap();
            for err in [
                engine.execution("b").unwrap_err(),
                engine.list_executions(&Default::default()).unwrap_err(),
            ] {
                let err = err.to_string();
                assert!(err.contains("corrupt record `b` in `executions`"), "{err}");
                assert!(err.contains(expected), "{expected}: {err}");
            }
        }
    }

    #[test]
    fn a_dictionary_with_the_last_possible_id_is_corrupt() {
        let engine = MemoryStore::new();
        let mut value = vec![0, 1, b'k'];
        value.extend_from_slice(b"{}");
        engine.put_raw(Table::ExecutionDictionaries, &u64::MAX.to_be_bytes(), &value).unwrap();
        let err = engine.put_executions(&[record("a", "f", ExecutionStatus::Succeeded, "x")]);
        let err = err.unwrap_err().to_string();
        assert!(err.contains("corrupt record"), "{err}");
        assert!(err.contains("the last possible id"), "{err}");
    }

    #[test]
    fn a_flow_too_long_for_a_dictionary_key_is_stored_as_json() {
        let engine = MemoryStore::new();
        let flow = "f".repeat(usize::from(u16::MAX));
        let long = record("a", &flow, ExecutionStatus::Succeeded, r#"{"n":1},"#);
        engine.put_executions(std::slice::from_ref(&long)).unwrap();
        assert_eq!(raw(&engine, "a")[0], b'{');
        assert_eq!(dictionaries(&engine), 0);
        assert_eq!(engine.execution("a").unwrap(), Some(long));
    }

    /// A memory store whose next write lands, then reports a failure (as sled does when its
    /// flush fails after the batch was applied).
    struct LandsThenFails {
        inner: MemoryStore,
        fail: std::sync::atomic::AtomicBool,
    }

    impl Engine for LandsThenFails {
        fn describe(&self) -> &str {
            "a store whose writes land, then fail"
        }

        fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get_raw(table, key)
        }

        fn scan_raw(&self, table: Table) -> Result<Vec<crate::kv::Entry>, StoreError> {
            self.inner.scan_raw(table)
        }

        fn range_raw(
            &self,
            table: Table,
            lower: std::ops::Bound<&[u8]>,
            upper: std::ops::Bound<&[u8]>,
            reverse: bool,
            visit: crate::kv::Visit<'_>,
        ) -> Result<(), StoreError> {
            self.inner.range_raw(table, lower, upper, reverse, visit)
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
            self.inner.apply_raw(writes, durability)?;
            match self.fail.swap(false, std::sync::atomic::Ordering::SeqCst) {
                true => Err(self.failed("flush", Table::Executions, None, "disk full")),
                false => Ok(()),
            }
        }

        fn flush_raw(&self) -> Result<(), StoreError> {
            self.inner.flush_raw()
        }

        fn shared(&self) -> &crate::kv::Shared {
            self.inner.shared()
        }
    }

    #[test]
    fn a_failed_write_that_landed_keeps_its_dictionary() {
        let engine = LandsThenFails { inner: MemoryStore::new(), fail: true.into() };
        let first = record("a", "f", ExecutionStatus::Succeeded, r#"{"first":1},"#);
        let second = record("b", "f", ExecutionStatus::Succeeded, r#"{"second":2},"#);
        let err = engine.put_executions(std::slice::from_ref(&first)).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        engine.put_executions(std::slice::from_ref(&second)).unwrap();
        assert_eq!(dictionaries(&engine), 2, "the second write takes a new id");
        assert_eq!(engine.execution("a").unwrap(), Some(first), "its dictionary is intact");
        assert_eq!(engine.execution("b").unwrap(), Some(second));
    }
}
