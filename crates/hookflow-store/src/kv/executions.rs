//! The executions and idempotency domains over an [`Engine`]: the records, the indexes that
//! [`put_executions`] keeps beside them, and the queries those indexes serve.
//!
//! # Layout
//!
//! - [`Table::Executions`]: `id` → the record, JSON or packed against its flow's dictionary
//!   ([`packed`]).
//! - [`Table::ExecutionsByFlow`]: `flow_id \0 id` → the record's [`Summary`], for the executions
//!   that have a flow.
//! - [`Table::ExecutionsByStatus`]: `status \0 id` → the record's [`Summary`], for every status
//!   but `succeeded`; serves the unfinished executions (queued, running), the rejected ones, and
//!   status listings (a listing of succeeded ones reads the records, newest first).
//! - [`Table::ExecutionsByParent`]: `parent_execution_id \0 id` → the record's [`Summary`], for
//!   the executions that have a [cause](crate::Cause): the children of an execution.
//! - [`Table::Idempotency`]: `flow_id \0 key` → the record (JSON).
//! - [`Table::IdempotencyByExpiry`]: `expires_at_ms` (8 bytes that sort like the number) followed
//!   by the idempotency record's key → nothing.
//!
//! A flow id (or a parent's id) in a key has each 0 byte escaped as `0 0xFF` (flow ids have none, but nothing
//! breaks if one does), then a 0 byte. What follows (an id or an idempotency key) is UTF-8, which
//! never contains 0xFF, so every key under a prefix `p` lies in `[p, p 0xFF)` and no other key
//! does. Ids and keys themselves may contain any character, 0 included.
//!
//! The indexes change in the same atomic write as the records, under the engine's write lock, so
//! they never disagree with the records. Readers still check each record they load against the
//! query, so a record changed or removed between the index read and the record read is skipped.

use std::{
    borrow::Cow,
    ops::{Bound, ControlFlow},
};

use serde::Deserialize;

pub(super) mod packed;

use super::{Engine, Record, Table, Write, corrupt, decode, encode, group_by_table, lock};
use crate::{
    Durability, EncodedExecution, ExecutionPage, ExecutionQuery, ExecutionRecord, ExecutionStatus,
    IdempotencyRecord, StoreError,
};

impl Record for ExecutionRecord {
    const TABLE: Table = Table::Executions;

    fn key(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.id.as_bytes())
    }
}

impl Record for IdempotencyRecord {
    const TABLE: Table = Table::Idempotency;

    fn key(&self) -> Cow<'_, [u8]> {
        Cow::Owned(idempotency_key(&self.flow_id, &self.key))
    }
}

/// How many records a prune removes per atomic write (and per hold of the write lock), so that a
/// prune of a large history neither builds one huge transaction nor holds up the writers.
pub(super) const PRUNE_CHUNK: usize = 1024;

/// What the index entries keep of an execution: enough to filter, prune and find its other index
/// entries without reading the record. Read from a record's JSON too (`parent` from its cause).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(super) struct Summary {
    status: ExecutionStatus,
    received_at_ms: i64,
    flow_id: Option<String>,
    #[serde(default, rename = "cause", deserialize_with = "parent_of_cause")]
    parent: Option<String>,
}

/// The parent's id in a record's `cause`, without the rest of it.
fn parent_of_cause<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Parent {
        parent_execution_id: String,
    }
    Ok(Option::<Parent>::deserialize(d)?.map(|cause| cause.parent_execution_id))
}

/// The flag byte of a summary: whether a flow id follows, and whether a parent's id does.
const HAS_FLOW: u8 = 1;
const HAS_PARENT: u8 = 2;

impl Summary {
    /// The summary of `record`, encoded: `[status code] [received_at_ms, 8 bytes big-endian]
    /// [flags]`, then with [`HAS_PARENT`] `[parent length, 4 bytes big-endian] [parent]`, then
    /// the flow id's bytes (to the end) with [`HAS_FLOW`]. A summary without a parent is what
    /// summaries were before parents were kept (flags 0 or 1), so those still read.
    fn encode(record: &EncodedExecution) -> Vec<u8> {
        let flow = record.flow_id.as_deref().unwrap_or_default();
        let parent = record.parent.as_deref().unwrap_or_default();
        let mut bytes = Vec::with_capacity(14 + flow.len() + parent.len());
        bytes.push(status_code(record.status));
        bytes.extend_from_slice(&record.received_at_ms.to_be_bytes());
        let flow_flag = if record.flow_id.is_some() { HAS_FLOW } else { 0 };
        let parent_flag = if record.parent.is_some() { HAS_PARENT } else { 0 };
        bytes.push(flow_flag | parent_flag);
        if record.parent.is_some() {
            // A parent's id longer than 4 GiB cannot be stored in any table anyway.
            let len = u32::try_from(parent.len()).unwrap_or(u32::MAX);
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(parent.as_bytes());
        }
        bytes.extend_from_slice(flow.as_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let bad = || format!("not an execution summary ({} bytes)", bytes.len());
        let utf8 = |what: &str, bytes: &[u8]| {
            String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
        };
        let (&code, rest) = bytes.split_first().ok_or_else(bad)?;
        let status = ExecutionStatus::ALL
            .into_iter()
            .find(|&status| status_code(status) == code)
            .ok_or_else(|| format!("unknown status code {code}"))?;
        let (received, rest) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
        let (&flags, mut rest) = rest.split_first().ok_or_else(bad)?;
        if flags & !(HAS_FLOW | HAS_PARENT) != 0 {
            return Err(bad());
        }
        let mut parent = None;
        if flags & HAS_PARENT != 0 {
            let (len, after) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
            let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| bad())?;
            if after.len() < len {
                return Err(bad());
            }
            let (id, after) = after.split_at(len);
            parent = Some(utf8("parent id", id)?);
            rest = after;
        }
        let flow_id = match (flags & HAS_FLOW != 0, rest) {
            (false, []) => None,
            (true, flow) => Some(utf8("flow id", flow)?),
            (false, _) => return Err(bad()),
        };
        Ok(Self { status, received_at_ms: i64::from_be_bytes(*received), flow_id, parent })
    }

    /// Whether an execution with this summary passes every filter of `query` but the cursor.
    fn admitted_by(&self, query: &ExecutionQuery) -> bool {
        query.flow.as_ref().is_none_or(|flow| self.flow_id.as_ref() == Some(flow))
            && query.parent.as_ref().is_none_or(|parent| self.parent.as_ref() == Some(parent))
            && query.matches(self.status, self.received_at_ms)
    }
}

/// Whether executions with `status` have an entry in [`Table::ExecutionsByStatus`]: all but the
/// succeeded ones, the bulk of a history, which a status listing finds by reading the records
/// newest first (most of them match) rather than by an index entry written for each.
fn has_status_entry(status: ExecutionStatus) -> bool {
    status != ExecutionStatus::Succeeded
}

fn status_code(status: ExecutionStatus) -> u8 {
    match status {
        ExecutionStatus::Queued => 0,
        ExecutionStatus::Running => 1,
        ExecutionStatus::Succeeded => 2,
        ExecutionStatus::Failed => 3,
        ExecutionStatus::Rejected => 4,
    }
}

/// `flow_id` with its 0 bytes escaped, then the 0 separator: the prefix of that flow's keys.
fn flow_prefix(flow_id: &str) -> Vec<u8> {
    flow_key(flow_id, &[])
}

/// The key `rest` under [`flow_prefix`]`(flow_id)`, in one allocation.
pub(super) fn flow_key(flow_id: &str, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(flow_id.len() + 1 + rest.len().max(40));
    for &byte in flow_id.as_bytes() {
        key.push(byte);
        if byte == 0 {
            key.push(0xFF);
        }
    }
    key.push(0);
    key.extend_from_slice(rest);
    key
}

/// The flow id at the start of `key` (a [`flow_prefix`] followed by UTF-8), and the rest.
pub(super) fn split_flow_key(key: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut flow = Vec::new();
    let mut i = 0;
    while i < key.len() {
        match (key[i], key.get(i + 1)) {
            (0, Some(0xFF)) => {
                flow.push(0);
                i += 2;
            }
            (0, _) => return Some((flow, &key[i + 1..])),
            (byte, _) => {
                flow.push(byte);
                i += 1;
            }
        }
    }
    None
}

/// The first key after every key that is `prefix` followed by UTF-8.
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    [prefix, &[0xFF]].concat()
}

fn status_prefix(status: ExecutionStatus) -> Vec<u8> {
    status_index_key(status, &[])
}

fn flow_index_key(flow_id: &str, id: &[u8]) -> Vec<u8> {
    flow_key(flow_id, id)
}

/// The key of a child execution `id` under its parent's id (escaped as a flow id is).
pub(super) fn parent_index_key(parent_id: &str, id: &[u8]) -> Vec<u8> {
    flow_key(parent_id, id)
}

fn status_index_key(status: ExecutionStatus, id: &[u8]) -> Vec<u8> {
    [status.as_str().as_bytes(), &[0], id].concat()
}

/// The key of an idempotency record: `flow_id \0 key`.
pub(super) fn idempotency_key(flow_id: &str, key: &str) -> Vec<u8> {
    flow_key(flow_id, key.as_bytes())
}

/// `expires_at_ms` as 8 bytes that sort like the number, then the record's key.
fn expiry_key(expires_at_ms: i64, record_key: &[u8]) -> Vec<u8> {
    [&(expires_at_ms.cast_unsigned() ^ (1 << 63)).to_be_bytes()[..], record_key].concat()
}

fn split_expiry_key(key: &[u8]) -> Option<(i64, &[u8])> {
    let (expires, record_key) = key.split_first_chunk::<8>()?;
    Some(((u64::from_be_bytes(*expires) ^ (1 << 63)).cast_signed(), record_key))
}

/// The fields of a stored record that its index entries depend on, read without the rest.
#[derive(Deserialize)]
struct Expiry {
    expires_at_ms: i64,
}

/// Visits the entries of `table` whose keys are `prefix` followed by UTF-8 (a flow's or a
/// status's entries).
pub(super) fn visit_prefix<E: Engine>(
    engine: &E,
    table: Table,
    prefix: &[u8],
    reverse: bool,
    visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>, StoreError>,
) -> Result<(), StoreError> {
    let end = prefix_end(prefix);
    visit_range(engine, table, Bound::Included(prefix), Bound::Excluded(&end), reverse, visit)
}

/// Visits the entries of `table` between `lower` and `upper` (see [`Engine::range_raw`], which
/// answers an empty or inverted range with no entries).
pub(super) fn visit_range<E: Engine>(
    engine: &E,
    table: Table,
    lower: Bound<&[u8]>,
    upper: Bound<&[u8]>,
    reverse: bool,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>, StoreError>,
) -> Result<(), StoreError> {
    engine.range_raw(table, lower, upper, reverse, &mut visit)
}

/// The id at the end of an index key after `prefix`.
pub(super) fn index_id(
    engine: &impl Engine,
    table: Table,
    key: &[u8],
    prefix: &[u8],
) -> Result<String, StoreError> {
    key.strip_prefix(prefix)
        .and_then(|id| String::from_utf8(id.to_vec()).ok())
        .ok_or_else(|| corrupt(engine, table, key, "the id in the key is not UTF-8".to_owned()))
}

fn summary(
    engine: &impl Engine,
    table: Table,
    key: &[u8],
    value: &[u8],
) -> Result<Summary, StoreError> {
    Summary::decode(value).map_err(|cause| corrupt(engine, table, key, cause))
}

/// The execution stored under `key`, unpacked and parsed.
fn record(engine: &impl Engine, key: &[u8], value: &[u8]) -> Result<ExecutionRecord, StoreError> {
    decode(engine, key, &packed::unpack(engine, key, value)?)
}

pub(super) fn execution(
    engine: &impl Engine,
    id: &str,
) -> Result<Option<ExecutionRecord>, StoreError> {
    let key = id.as_bytes();
    engine.get_raw(Table::Executions, key)?.map(|value| record(engine, key, &value)).transpose()
}

/// Loads the executions with these ids, skipping those that are gone.
fn load(engine: &impl Engine, ids: &[Vec<u8>]) -> Result<Vec<ExecutionRecord>, StoreError> {
    let values = engine.get_many_raw(Table::Executions, ids)?;
    let mut records = Vec::with_capacity(ids.len());
    for (id, value) in ids.iter().zip(values) {
        if let Some(bytes) = value {
            records.push(record(engine, id, &bytes)?);
        }
    }
    Ok(records)
}

pub(super) fn put_executions(
    engine: &impl Engine,
    records: &[ExecutionRecord],
) -> Result<(), StoreError> {
    let encoded = records
        .iter()
        .map(|record| {
            EncodedExecution::of(record, false).map_err(|cause| StoreError::Encode {
                table: Table::Executions.name(),
                key: record.id.clone(),
                cause,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    put_encoded_executions(engine, &encoded, Durability::Now)
}

pub(super) fn put_encoded_executions(
    engine: &impl Engine,
    records: &[EncodedExecution],
    durability: Durability,
) -> Result<(), StoreError> {
    // The last occurrence of an id wins (the sort is stable; ids are made in time order, so a
    // batch is mostly in order already).
    let mut records: Vec<&EncodedExecution> = records.iter().collect();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    records.reverse();
    records.dedup_by(|later, earlier| later.id == earlier.id);
    records.reverse();
    if records.is_empty() {
        return Ok(());
    }
    // Only records that may replace an older one need that one's index entries.
    let replaced: Vec<Vec<u8>> =
        records.iter().filter(|r| !r.new).map(|r| r.id.as_bytes().to_vec()).collect();

    let mut packing = lock(engine);
    let mut packer = packed::packer(engine, &mut packing)?;
    let mut old = engine.get_many_raw(Table::Executions, &replaced)?.into_iter();
    let mut writes = Vec::with_capacity(records.len() * 3);
    for record in records {
        let id = record.id.as_bytes();
        let flow_key = record.flow_id.as_deref().map(|flow| flow_index_key(flow, id));
        let parent_key = record.parent.as_deref().map(|parent| parent_index_key(parent, id));
        let old = if record.new { None } else { old.next().flatten() };
        let old = old.map(|value| {
            let json = packed::unpack(engine, id, &value).map_err(drop)?;
            serde_json::from_slice::<Summary>(&json).map_err(drop)
        });
        match old {
            None => {}
            Some(Ok(old)) => {
                let old_flow_key = old.flow_id.as_deref().map(|flow| flow_index_key(flow, id));
                if let Some(key) = old_flow_key.filter(|key| Some(key) != flow_key.as_ref()) {
                    writes.push(Write::Remove { table: Table::ExecutionsByFlow, key });
                }
                let old_parent_key = old.parent.as_deref().map(|p| parent_index_key(p, id));
                if let Some(key) = old_parent_key.filter(|key| Some(key) != parent_key.as_ref()) {
                    writes.push(Write::Remove { table: Table::ExecutionsByParent, key });
                }
                if old.status != record.status {
                    let key = status_index_key(old.status, id);
                    writes.push(Write::Remove { table: Table::ExecutionsByStatus, key });
                }
            }
            // The old record is unreadable: its status entry may be any; its flow and parent
            // entries cannot be found, and readers skip them because the record no longer
            // matches them.
            Some(Err(_)) => {
                for status in ExecutionStatus::ALL.into_iter().filter(|&s| s != record.status) {
                    let key = status_index_key(status, id);
                    writes.push(Write::Remove { table: Table::ExecutionsByStatus, key });
                }
            }
        }
        let summary = Summary::encode(record);
        if let Some(key) = parent_key {
            writes.push(Write::Put {
                table: Table::ExecutionsByParent,
                key,
                value: Cow::Owned(summary.clone()),
            });
        }
        if let Some(key) = flow_key {
            writes.push(Write::Put {
                table: Table::ExecutionsByFlow,
                key,
                value: Cow::Owned(summary.clone()),
            });
        }
        if has_status_entry(record.status) {
            writes.push(Write::Put {
                table: Table::ExecutionsByStatus,
                key: status_index_key(record.status, id),
                value: Cow::Owned(summary),
            });
        }
        let value = packer.pack(record, &mut writes);
        writes.push(Write::Put { table: Table::Executions, key: id.to_vec(), value });
    }
    // No key occurs twice in a table here: records are one per id, and an old index entry is
    // removed only under another key than the new one.
    group_by_table(&mut writes);
    if let Err(err) = engine.apply_raw(&writes, durability) {
        packer.failed();
        return Err(err);
    }
    packer.written(&engine.shared().dictionaries);
    Ok(())
}

pub(super) fn list_executions(
    engine: &impl Engine,
    query: &ExecutionQuery,
) -> Result<ExecutionPage, StoreError> {
    let limit = query.effective_limit();
    let cursor = query.cursor.as_deref().filter(|cursor| !cursor.is_empty());
    // The narrowest index that serves the query: a parent's children are few, a flow's many.
    let (table, prefix) = match (&query.parent, &query.flow, query.status) {
        (Some(parent), _, _) => (Table::ExecutionsByParent, flow_prefix(parent)),
        (None, Some(flow), _) => (Table::ExecutionsByFlow, flow_prefix(flow)),
        (None, None, Some(status)) if has_status_entry(status) => {
            (Table::ExecutionsByStatus, status_prefix(status))
        }
        (None, None, _) => (Table::Executions, Vec::new()),
    };
    let upper_key = match cursor {
        Some(cursor) => [prefix.as_slice(), cursor.as_bytes()].concat(),
        None => prefix_end(&prefix),
    };
    let upper = match (table, cursor) {
        (Table::Executions, None) => Bound::Unbounded,
        _ => Bound::Excluded(upper_key.as_slice()),
    };
    let lower = Bound::Included(prefix.as_slice());
    let mut more = false;

    if table == Table::Executions {
        let mut items = Vec::new();
        visit_range(engine, table, lower, upper, true, |key, value| {
            let json = packed::unpack(engine, key, value)?;
            let indexed: Summary = serde_json::from_slice(&json)
                .map_err(|err| corrupt(engine, table, key, err.to_string()))?;
            if !query.matches(indexed.status, indexed.received_at_ms) {
                return Ok(ControlFlow::Continue(()));
            }
            if items.len() == limit {
                more = true;
                return Ok(ControlFlow::Break(()));
            }
            items.push(decode::<ExecutionRecord>(engine, key, &json)?);
            Ok(ControlFlow::Continue(()))
        })?;
        let next_cursor = more.then(|| items.last().map(|last| last.id.clone())).flatten();
        return Ok(ExecutionPage { items, next_cursor });
    }

    let mut ids = Vec::new();
    visit_range(engine, table, lower, upper, true, |key, value| {
        if !summary(engine, table, key, value)?.admitted_by(query) {
            return Ok(ControlFlow::Continue(()));
        }
        if ids.len() == limit {
            more = true;
            return Ok(ControlFlow::Break(()));
        }
        ids.push(index_id(engine, table, key, &prefix)?.into_bytes());
        Ok(ControlFlow::Continue(()))
    })?;
    let next_cursor = match ids.last() {
        Some(last) if more => Some(String::from_utf8_lossy(last).into_owned()),
        _ => None,
    };
    let items = load(engine, &ids)?
        .into_iter()
        .filter(|record| {
            let parent = record.cause.as_ref().map(|cause| &cause.parent_execution_id);
            query.flow.as_ref().is_none_or(|flow| record.flow_id.as_ref() == Some(flow))
                && query.parent.as_ref().is_none_or(|wanted| parent == Some(wanted))
                && query.matches(record.status, record.received_at_ms)
        })
        .collect();
    Ok(ExecutionPage { items, next_cursor })
}

pub(super) fn unfinished_executions(
    engine: &impl Engine,
) -> Result<Vec<ExecutionRecord>, StoreError> {
    let table = Table::ExecutionsByStatus;
    let mut ids = Vec::new();
    for status in [ExecutionStatus::Queued, ExecutionStatus::Running] {
        let prefix = status_prefix(status);
        visit_prefix(engine, table, &prefix, false, |key, _| {
            ids.push(index_id(engine, table, key, &prefix)?.into_bytes());
            Ok(ControlFlow::Continue(()))
        })?;
    }
    ids.sort_unstable();
    ids.dedup();
    let mut records = load(engine, &ids)?;
    records.retain(|record| record.status.is_unfinished());
    Ok(records)
}

/// Removes the executions `doomed` (id and summary) with their index entries, in atomic chunks.
fn remove_executions(
    engine: &impl Engine,
    doomed: &[(Vec<u8>, Summary)],
) -> Result<usize, StoreError> {
    let mut writes = Vec::with_capacity(doomed.len() * 2);
    for (id, summary) in doomed {
        if let Some(flow) = &summary.flow_id {
            let key = flow_index_key(flow, id);
            writes.push(Write::Remove { table: Table::ExecutionsByFlow, key });
        }
        if let Some(parent) = &summary.parent {
            let key = parent_index_key(parent, id);
            writes.push(Write::Remove { table: Table::ExecutionsByParent, key });
        }
        if has_status_entry(summary.status) {
            let key = status_index_key(summary.status, id);
            writes.push(Write::Remove { table: Table::ExecutionsByStatus, key });
        }
        writes.push(Write::Remove { table: Table::Executions, key: id.clone() });
    }
    group_by_table(&mut writes);
    engine.apply_raw(&writes, Durability::Deferred)?;
    Ok(doomed.len())
}

pub(super) fn prune_executions(
    engine: &impl Engine,
    flow_id: &str,
    keep: usize,
    older_than_ms: i64,
) -> Result<usize, StoreError> {
    let table = Table::ExecutionsByFlow;
    let prefix = flow_prefix(flow_id);
    // Rejected calls do not count towards `keep`: they have a budget of their own.
    let counted = |s: &Summary| !s.status.is_unfinished() && s.status != ExecutionStatus::Rejected;
    let cut = count_cut(engine, table, &prefix, keep, counted)?;
    prune_prefix(engine, table, &prefix, cut.as_deref(), |summary, beyond| {
        !summary.status.is_unfinished()
            && ((beyond && counted(summary)) || summary.received_at_ms < older_than_ms)
    })
}

pub(super) fn prune_rejected(engine: &impl Engine, keep: usize) -> Result<usize, StoreError> {
    let table = Table::ExecutionsByStatus;
    let prefix = status_prefix(ExecutionStatus::Rejected);
    let cut = count_cut(engine, table, &prefix, keep, |_| true)?;
    prune_prefix(engine, table, &prefix, cut.as_deref(), |_, beyond| beyond)
}

/// Where a prune by count starts: walking the index entries under `prefix` newest first, the key
/// of the first entry beyond the `keep` newest that `counted` holds for; `None` when there are
/// not that many.
fn count_cut(
    engine: &impl Engine,
    table: Table,
    prefix: &[u8],
    keep: usize,
    counted: impl Fn(&Summary) -> bool,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut seen = 0;
    let mut cut = None;
    visit_prefix(engine, table, prefix, true, |key, value| {
        if !counted(&summary(engine, table, key, value)?) {
            return Ok(ControlFlow::Continue(()));
        }
        seen += 1;
        if seen <= keep {
            return Ok(ControlFlow::Continue(()));
        }
        cut = Some(key.to_vec());
        Ok(ControlFlow::Break(()))
    })?;
    Ok(cut)
}

/// Removes the executions whose index entries under `prefix` are `doomed` (given the entry's
/// summary and whether it lies at or below `cut`, among the older ones), oldest first. Each
/// chunk of [`PRUNE_CHUNK`] is found and removed under the write lock, which is released between
/// chunks: a prune of a large history never holds up the writers for longer than one chunk, nor
/// holds more than one chunk in memory. The chunks are deferred writes, synced once at the end.
fn prune_prefix(
    engine: &impl Engine,
    table: Table,
    prefix: &[u8],
    cut: Option<&[u8]>,
    doomed: impl Fn(&Summary, bool) -> bool,
) -> Result<usize, StoreError> {
    let end = prefix_end(prefix);
    let mut after: Option<Vec<u8>> = None;
    let mut removed = 0;
    loop {
        let _guard = lock(engine);
        let mut chunk = Vec::new();
        let mut last = None;
        let lower = after.as_deref().map_or(Bound::Included(prefix), Bound::Excluded);
        visit_range(engine, table, lower, Bound::Excluded(&end), false, |key, value| {
            let summary = summary(engine, table, key, value)?;
            if doomed(&summary, cut.is_some_and(|cut| key <= cut)) {
                chunk.push((key[prefix.len()..].to_vec(), summary));
            }
            if chunk.len() < PRUNE_CHUNK {
                return Ok(ControlFlow::Continue(()));
            }
            last = Some(key.to_vec());
            Ok(ControlFlow::Break(()))
        })?;
        removed += remove_executions(engine, &chunk)?;
        match last {
            Some(key) => after = Some(key),
            // One sync for every chunk: a crash before it only leaves records for the next prune.
            None if removed > 0 => return engine.flush_raw().map(|()| removed),
            None => return Ok(removed),
        }
    }
}

pub(super) fn flows_with_executions(engine: &impl Engine) -> Result<Vec<String>, StoreError> {
    let table = Table::ExecutionsByFlow;
    let mut flows = Vec::new();
    let mut from = Vec::new();
    // A skip scan: one short range read per flow, not one step per execution.
    loop {
        let mut first = None;
        visit_range(engine, table, Bound::Included(&from), Bound::Unbounded, false, |key, _| {
            first = Some(key.to_vec());
            Ok(ControlFlow::Break(()))
        })?;
        let Some(key) = first else { break };
        let flow =
            split_flow_key(&key).and_then(|(flow, _)| String::from_utf8(flow).ok()).ok_or_else(
                || corrupt(engine, table, &key, "no UTF-8 flow id in the key".to_owned()),
            )?;
        from = prefix_end(&flow_prefix(&flow));
        flows.push(flow);
    }
    Ok(flows)
}

pub(super) fn put_idempotency(
    engine: &impl Engine,
    record: &IdempotencyRecord,
) -> Result<(), StoreError> {
    let key = record.key().into_owned();
    let value = encode(Table::Idempotency, &key, record)?;
    let _guard = lock(engine);
    let mut writes = Vec::with_capacity(3);
    let old = engine.get_raw(Table::Idempotency, &key)?;
    // An unreadable old record leaves its expiry entry behind; the prune checks records.
    if let Some(Ok(old)) = old.as_deref().map(serde_json::from_slice::<Expiry>)
        && old.expires_at_ms != record.expires_at_ms
    {
        let key = expiry_key(old.expires_at_ms, &key);
        writes.push(Write::Remove { table: Table::IdempotencyByExpiry, key });
    }
    writes.push(Write::Put {
        table: Table::IdempotencyByExpiry,
        key: expiry_key(record.expires_at_ms, &key),
        value: Cow::Borrowed(&[]),
    });
    writes.push(Write::Put { table: Table::Idempotency, key, value: Cow::Owned(value) });
    engine.apply_raw(&writes, Durability::Now)
}

pub(super) fn prune_idempotency(engine: &impl Engine, now_ms: i64) -> Result<usize, StoreError> {
    let table = Table::IdempotencyByExpiry;
    let _guard = lock(engine);
    let mut expired = Vec::new();
    visit_range(engine, table, Bound::Unbounded, Bound::Unbounded, false, |key, _| {
        let (expires_at_ms, _) = split_expiry_key(key)
            .ok_or_else(|| corrupt(engine, table, key, "shorter than an expiry".to_owned()))?;
        if expires_at_ms > now_ms {
            return Ok(ControlFlow::Break(()));
        }
        expired.push((expires_at_ms, key.to_vec()));
        Ok(ControlFlow::Continue(()))
    })?;
    let mut removed = 0;
    for chunk in expired.chunks(PRUNE_CHUNK) {
        let record_keys: Vec<Vec<u8>> = chunk.iter().map(|(_, key)| key[8..].to_vec()).collect();
        let records = engine.get_many_raw(Table::Idempotency, &record_keys)?;
        let mut writes = Vec::with_capacity(chunk.len() * 2);
        for (((expires_at_ms, index_key), record_key), record) in
            chunk.iter().zip(record_keys).zip(records)
        {
            writes.push(Write::Remove { table, key: index_key.clone() });
            let Some(bytes) = record else { continue };
            // A record put again since has a later expiry (and its own entry): keep it.
            let current = serde_json::from_slice::<Expiry>(&bytes).ok();
            if current.is_none_or(|current| current.expires_at_ms == *expires_at_ms) {
                writes.push(Write::Remove { table: Table::Idempotency, key: record_key });
                removed += 1;
            }
        }
        engine.apply_raw(&writes, Durability::Now)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::super::is_empty_range;
    use super::*;

    #[test]
    fn summaries_round_trip() {
        for status in ExecutionStatus::ALL {
            for flow_id in [None, Some(String::new()), Some("orders\0ü".to_owned())] {
                for parent in [None, Some(String::new()), Some("0190-ü\0".to_owned())] {
                    for received_at_ms in [i64::MIN, -1, 0, 1_700_000_000_000, i64::MAX] {
                        let record = EncodedExecution {
                            id: "a".into(),
                            flow_id: flow_id.clone(),
                            status,
                            received_at_ms,
                            parent: parent.clone(),
                            json: Vec::new(),
                            new: true,
                        };
                        let flow_id = flow_id.clone();
                        let summary =
                            Summary { status, received_at_ms, flow_id, parent: parent.clone() };
                        assert_eq!(Summary::decode(&Summary::encode(&record)), Ok(summary));
                    }
                }
            }
        }
        // Summaries written before parents were kept read as before.
        let old = [&[3][..], &5i64.to_be_bytes(), &[1], b"orders"].concat();
        let summary = Summary {
            status: ExecutionStatus::Failed,
            received_at_ms: 5,
            flow_id: Some("orders".to_owned()),
            parent: None,
        };
        assert_eq!(Summary::decode(&old), Ok(summary));
        // A parent's length beyond the bytes, or an unknown flag, is not a summary.
        assert!(Summary::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 9, b'p']).is_err());
        assert!(Summary::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 4]).is_err());
        assert!(Summary::decode(b"").is_err());
        assert!(Summary::decode(&[9, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Summary::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Summary::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn flow_keys_split_back_and_stay_within_their_prefix() {
        let flows = ["", "a", "a\0", "a\0b", "a\0\0", "ab", "a\u{1}", "\0"];
        let ids = ["", "0", "\0", "x\0y", "\u{10FFFF}", "é"];
        let mut keys = Vec::new();
        for flow in flows {
            for id in ids {
                let key = flow_index_key(flow, id.as_bytes());
                let (parsed_flow, parsed_id) = split_flow_key(&key).unwrap();
                assert_eq!((parsed_flow.as_slice(), parsed_id), (flow.as_bytes(), id.as_bytes()));
                keys.push((flow, key));
            }
        }
        for flow in flows {
            let prefix = flow_prefix(flow);
            let end = prefix_end(&prefix);
            for (owner, key) in &keys {
                let inside = key.as_slice() >= prefix.as_slice() && key.as_slice() < end.as_slice();
                assert_eq!(inside, *owner == flow, "{flow:?} {key:?}");
            }
        }
        let mut sorted = flows.map(flow_prefix);
        sorted.sort();
        let mut expected = flows;
        expected.sort();
        assert_eq!(sorted, expected.map(flow_prefix));
    }

    #[test]
    fn expiry_keys_sort_like_the_numbers() {
        let times = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        let keys: Vec<Vec<u8>> = times.iter().map(|&t| expiry_key(t, b"k")).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        for (&t, key) in times.iter().zip(&keys) {
            assert_eq!(split_expiry_key(key), Some((t, &b"k"[..])));
        }
    }

    #[test]
    fn empty_ranges_are_detected() {
        use Bound::{Excluded, Included, Unbounded};
        let (a, b): (&[u8], &[u8]) = (b"a", b"b");
        assert!(!is_empty_range(Included(a), Included(a)));
        assert!(is_empty_range(Included(a), Excluded(a)));
        assert!(is_empty_range(Excluded(a), Included(a)));
        assert!(is_empty_range(Included(b), Included(a)));
        assert!(!is_empty_range(Included(a), Excluded(b)));
        assert!(!is_empty_range(Unbounded, Excluded(a)));
        assert!(!is_empty_range(Included(b), Unbounded));
    }
}
