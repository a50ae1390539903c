//! The outbound domain over an [`Engine`]: subscriptions, deliveries, and the indexes that
//! [`put_deliveries`] keeps beside the deliveries.
//!
//! # Layout
//!
//! - [`Table::Subscriptions`]: `id` → the subscription (JSON).
//! - [`Table::Deliveries`]: `id` → the delivery (JSON).
//! - [`Table::DeliveriesBySubscription`]: `subscription_id \0 id` → the delivery's [`Summary`],
//!   for every delivery: a subscription's listing, its prune and its delete.
//! - [`Table::DeliveriesByStatus`]: `status \0 id` → nothing, for every delivery: status listings,
//!   and the queue's depth (the pending entries, counted).
//! - [`Table::DeliveriesDue`]: `next_attempt_at_ms` (8 bytes that sort like the number) followed
//!   by the id → nothing, for the pending deliveries that have a next attempt: the due ones are
//!   at its start.
//! - [`Table::DeliveriesHeld`]: `subscription_id \0 id` → nothing, for the pending deliveries
//!   without a next attempt.
//!
//! A subscription id in a key is escaped and ended as a flow id is in the executions' keys, so
//! every key under a subscription's prefix `p` lies in `[p, p 0xFF)` and no other key does.
//!
//! Every index key of a delivery follows from its subscription id, its id and its summary, so a
//! replaced or removed delivery's entries are found from its entry under its subscription (or,
//! when that is missing or unreadable, from its record) without a scan. A delivery keeps its
//! subscription: when the old record is unreadable too, its entries are looked for under the new
//! record's subscription, and its due entry by a scan of the due index (the queue, not the
//! history).
//!
//! # Costs
//!
//! A page of a listing reads that page's records and the index entries before it: by
//! subscription, that subscription's entries newest first (with a status filter, its deliveries
//! of other statuses are skipped by their summaries, never read, so the walk is bounded by what
//! the subscription keeps); by status alone, that status's entries; with no filter, the
//! records. [`pending_deliveries`] counts the pending status entries (keys only);
//! [`next_due_ms`] reads one key.
//!
//! The indexes change in the same atomic write as the records, under the engine's write lock.
//! Readers still check each record they load against the query, so a record changed or removed
//! between the index read and the record read is skipped.

use std::{
    borrow::Cow,
    ops::{Bound, ControlFlow},
};

use serde::Deserialize;

use super::executions::{
    PRUNE_CHUNK, flow_key, index_id, prefix_end, split_flow_key, visit_prefix, visit_range,
};
use super::{Engine, Table, Write, corrupt, decode, encode, group_by_table, lock};
use crate::{Delivery, DeliveryPage, DeliveryQuery, DeliveryStatus, Durability, StoreError};

/// What a delivery's entry under its subscription keeps of it: enough to filter, prune and find
/// its other index entries without reading the record (and its payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Summary {
    status: DeliveryStatus,
    created_at_ms: i64,
    next_attempt_at_ms: Option<i64>,
}

impl Summary {
    fn of(delivery: &Delivery) -> Self {
        Self {
            status: delivery.status,
            created_at_ms: delivery.created_at_ms,
            next_attempt_at_ms: delivery.next_attempt_at_ms,
        }
    }

    /// `[status code] [created_at_ms, 8 bytes big-endian] [0 | 1 next_attempt_at_ms, 8 bytes]`.
    fn encode(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(18);
        bytes.push(status_code(self.status));
        bytes.extend_from_slice(&self.created_at_ms.to_be_bytes());
        match self.next_attempt_at_ms {
            Some(at) => {
                bytes.push(1);
                bytes.extend_from_slice(&at.to_be_bytes());
            }
            None => bytes.push(0),
        }
        bytes
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let bad = || format!("not a delivery summary ({} bytes)", bytes.len());
        let (&code, rest) = bytes.split_first().ok_or_else(bad)?;
        let status = DeliveryStatus::ALL
            .into_iter()
            .find(|&status| status_code(status) == code)
            .ok_or_else(|| format!("unknown status code {code}"))?;
        let (created, rest) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
        let next_attempt_at_ms = match rest.split_first() {
            Some((0, [])) => None,
            Some((1, at)) => Some(i64::from_be_bytes(at.try_into().map_err(|_| bad())?)),
            _ => return Err(bad()),
        };
        Ok(Self { status, created_at_ms: i64::from_be_bytes(*created), next_attempt_at_ms })
    }

    /// Whether the delivery is waiting for an attempt that is scheduled.
    fn due_at(self) -> Option<i64> {
        self.next_attempt_at_ms.filter(|_| self.status == DeliveryStatus::Pending)
    }

    /// Whether the delivery is waiting without a next attempt.
    fn is_held(self) -> bool {
        self.status == DeliveryStatus::Pending && self.next_attempt_at_ms.is_none()
    }
}

/// The fields of a stored delivery that its index entries depend on, read without the rest.
#[derive(Deserialize)]
struct Indexed {
    subscription_id: String,
    status: DeliveryStatus,
    created_at_ms: i64,
    #[serde(default)]
    next_attempt_at_ms: Option<i64>,
}

impl Indexed {
    fn summary(&self) -> Summary {
        Summary {
            status: self.status,
            created_at_ms: self.created_at_ms,
            next_attempt_at_ms: self.next_attempt_at_ms,
        }
    }
}

fn status_code(status: DeliveryStatus) -> u8 {
    match status {
        DeliveryStatus::Pending => 0,
        DeliveryStatus::Succeeded => 1,
        DeliveryStatus::Failed => 2,
    }
}

/// The prefix of a subscription's keys: its id with its 0 bytes escaped, then the 0 separator.
fn subscription_prefix(subscription_id: &str) -> Vec<u8> {
    flow_key(subscription_id, &[])
}

fn subscription_key(subscription_id: &str, id: &[u8]) -> Vec<u8> {
    flow_key(subscription_id, id)
}

fn status_prefix(status: DeliveryStatus) -> Vec<u8> {
    status_key(status, &[])
}

fn status_key(status: DeliveryStatus, id: &[u8]) -> Vec<u8> {
    [status.as_str().as_bytes(), &[0], id].concat()
}

/// `at_ms` as 8 bytes that sort like the number, then the delivery's id.
fn due_key(at_ms: i64, id: &[u8]) -> Vec<u8> {
    [&(at_ms.cast_unsigned() ^ (1 << 63)).to_be_bytes()[..], id].concat()
}

fn split_due_key(key: &[u8]) -> Option<(i64, &[u8])> {
    let (at, id) = key.split_first_chunk::<8>()?;
    Some(((u64::from_be_bytes(*at) ^ (1 << 63)).cast_signed(), id))
}

/// An index entry: its table and key.
type IndexKey = (Table, Vec<u8>);

/// The index entries of the delivery `id` of `subscription_id` with `summary`.
fn index_keys(subscription_id: &str, id: &[u8], summary: Summary) -> Vec<IndexKey> {
    let mut keys = vec![
        (Table::DeliveriesBySubscription, subscription_key(subscription_id, id)),
        (Table::DeliveriesByStatus, status_key(summary.status, id)),
    ];
    if let Some(at) = summary.due_at() {
        keys.push((Table::DeliveriesDue, due_key(at, id)));
    }
    if summary.is_held() {
        keys.push((Table::DeliveriesHeld, subscription_key(subscription_id, id)));
    }
    keys
}

/// The index entries that the stored delivery `id` of `subscription_id` has: from `summary`, its
/// entry under that subscription, when it reads; else from `record`, the stored record, when it
/// reads; else, when something is stored but nothing reads, every entry it may have under that
/// subscription. Nothing when nothing is stored.
fn stored_index_keys(
    engine: &impl Engine,
    subscription_id: &str,
    id: &[u8],
    summary: Option<&[u8]>,
    record: Option<&[u8]>,
) -> Result<Vec<IndexKey>, StoreError> {
    if let Some(Ok(summary)) = summary.map(Summary::decode) {
        return Ok(index_keys(subscription_id, id, summary));
    }
    let by_subscription = (Table::DeliveriesBySubscription, subscription_key(subscription_id, id));
    let mut keys = match record.map(serde_json::from_slice::<Indexed>) {
        Some(Ok(old)) => index_keys(&old.subscription_id, id, old.summary()),
        _ if summary.is_none() && record.is_none() => return Ok(Vec::new()),
        _ => {
            let mut keys: Vec<IndexKey> = DeliveryStatus::ALL
                .into_iter()
                .map(|status| (Table::DeliveriesByStatus, status_key(status, id)))
                .collect();
            keys.push((Table::DeliveriesHeld, subscription_key(subscription_id, id)));
            let table = Table::DeliveriesDue;
            visit_range(engine, table, Bound::Unbounded, Bound::Unbounded, false, |key, _| {
                if key.get(8..) == Some(id) {
                    keys.push((table, key.to_vec()));
                }
                Ok(ControlFlow::Continue(()))
            })?;
            keys
        }
    };
    if !keys.contains(&by_subscription) {
        keys.push(by_subscription);
    }
    Ok(keys)
}

fn summary(
    engine: &impl Engine,
    table: Table,
    key: &[u8],
    value: &[u8],
) -> Result<Summary, StoreError> {
    Summary::decode(value).map_err(|cause| corrupt(engine, table, key, cause))
}

/// Loads the deliveries with these ids, in their order, skipping those that are gone.
fn load(engine: &impl Engine, ids: &[Vec<u8>]) -> Result<Vec<Delivery>, StoreError> {
    let values = engine.get_many_raw(Table::Deliveries, ids)?;
    let mut deliveries = Vec::with_capacity(ids.len());
    for (id, value) in ids.iter().zip(values) {
        if let Some(bytes) = value {
            deliveries.push(decode(engine, id, &bytes)?);
        }
    }
    Ok(deliveries)
}

pub(super) fn delete_subscription(engine: &impl Engine, id: &str) -> Result<bool, StoreError> {
    let table = Table::DeliveriesBySubscription;
    let prefix = subscription_prefix(id);
    let _guard = lock(engine);
    let existed = engine.get_raw(Table::Subscriptions, id.as_bytes())?.is_some();
    let mut deliveries = Vec::new();
    visit_prefix(engine, table, &prefix, false, |key, value| {
        deliveries.push((key[prefix.len()..].to_vec(), value.to_vec()));
        Ok(ControlFlow::Continue(()))
    })?;
    // Only a delivery whose summary is unreadable needs its record to find its entries.
    let unreadable: Vec<Vec<u8>> = deliveries
        .iter()
        .filter(|(_, summary)| Summary::decode(summary).is_err())
        .map(|(delivery, _)| delivery.clone())
        .collect();
    let mut records = engine.get_many_raw(Table::Deliveries, &unreadable)?.into_iter();
    let mut writes = Vec::with_capacity(deliveries.len() * 4 + 1);
    for (delivery, summary) in &deliveries {
        let record =
            if Summary::decode(summary).is_err() { records.next().flatten() } else { None };
        let keys = stored_index_keys(engine, id, delivery, Some(summary), record.as_deref())?;
        for (table, key) in keys {
            writes.push(Write::Remove { table, key });
        }
        writes.push(Write::Remove { table: Table::Deliveries, key: delivery.clone() });
    }
    if existed {
        writes.push(Write::Remove { table: Table::Subscriptions, key: id.as_bytes().to_vec() });
    }
    if writes.is_empty() {
        return Ok(false);
    }
    // One delivery per id, and its keys are distinct: no key occurs twice in a table.
    group_by_table(&mut writes);
    engine.apply_raw(&writes, Durability::Now)?;
    Ok(existed)
}

pub(super) fn put_deliveries(
    engine: &impl Engine,
    deliveries: &[Delivery],
    durability: Durability,
) -> Result<(), StoreError> {
    // The last occurrence of an id wins (the sort is stable; ids are made in time order, so a
    // batch is mostly in order already).
    let mut deliveries: Vec<&Delivery> = deliveries.iter().collect();
    deliveries.sort_by(|a, b| a.id.cmp(&b.id));
    deliveries.reverse();
    deliveries.dedup_by(|later, earlier| later.id == earlier.id);
    deliveries.reverse();
    if deliveries.is_empty() {
        return Ok(());
    }
    let values = deliveries
        .iter()
        .map(|delivery| encode(Table::Deliveries, delivery.id.as_bytes(), delivery))
        .collect::<Result<Vec<_>, _>>()?;
    let by_subscription: Vec<Vec<u8>> = deliveries
        .iter()
        .map(|delivery| subscription_key(&delivery.subscription_id, delivery.id.as_bytes()))
        .collect();

    let _guard = lock(engine);
    // An old delivery's entries follow from its summary; only a delivery without a readable one
    // (a new one, mostly) needs its old record looked up.
    let summaries = engine.get_many_raw(Table::DeliveriesBySubscription, &by_subscription)?;
    let readable =
        |summary: &Option<Vec<u8>>| summary.as_deref().is_some_and(|s| Summary::decode(s).is_ok());
    let unindexed: Vec<Vec<u8>> = deliveries
        .iter()
        .zip(&summaries)
        .filter(|(_, summary)| !readable(summary))
        .map(|(delivery, _)| delivery.id.as_bytes().to_vec())
        .collect();
    let mut records = engine.get_many_raw(Table::Deliveries, &unindexed)?.into_iter();

    let mut writes = Vec::with_capacity(deliveries.len() * 4);
    for ((delivery, value), old_summary) in deliveries.iter().zip(values).zip(&summaries) {
        let id = delivery.id.as_bytes();
        let record = if readable(old_summary) { None } else { records.next().flatten() };
        let summary = Summary::of(delivery);
        let keys = index_keys(&delivery.subscription_id, id, summary);
        let old = stored_index_keys(
            engine,
            &delivery.subscription_id,
            id,
            old_summary.as_deref(),
            record.as_deref(),
        )?;
        for (table, key) in old.into_iter().filter(|old| !keys.contains(old)) {
            writes.push(Write::Remove { table, key });
        }
        for (table, key) in keys {
            let value = match table {
                Table::DeliveriesBySubscription => Cow::Owned(summary.encode()),
                _ => Cow::Borrowed(&[][..]),
            };
            writes.push(Write::Put { table, key, value });
        }
        writes.push(Write::Put { table: Table::Deliveries, key: id.to_vec(), value: value.into() });
    }
    // No key occurs twice in a table here: deliveries are one per id, every key holds its id,
    // and an old entry is removed only when it is not one of the new ones.
    group_by_table(&mut writes);
    engine.apply_raw(&writes, durability)
}

pub(super) fn due_deliveries(
    engine: &impl Engine,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let table = Table::DeliveriesDue;
    let mut due = Vec::new();
    if limit > 0 {
        visit_range(engine, table, Bound::Unbounded, Bound::Unbounded, false, |key, _| {
            let (at, id) = split_due_key(key)
                .ok_or_else(|| corrupt(engine, table, key, "shorter than a time".to_owned()))?;
            if at > now_ms {
                return Ok(ControlFlow::Break(()));
            }
            due.push((at, id.to_vec()));
            if due.len() == limit {
                return Ok(ControlFlow::Break(()));
            }
            Ok(ControlFlow::Continue(()))
        })?;
    }
    let ids: Vec<Vec<u8>> = due.iter().map(|(_, id)| id.clone()).collect();
    let values = engine.get_many_raw(Table::Deliveries, &ids)?;
    let mut deliveries = Vec::with_capacity(due.len());
    for ((at, id), value) in due.into_iter().zip(values) {
        let Some(bytes) = value else { continue };
        let delivery: Delivery = decode(engine, &id, &bytes)?;
        if delivery.due_at() == Some(at) {
            deliveries.push(delivery);
        }
    }
    Ok(deliveries)
}

pub(super) fn next_due_ms(engine: &impl Engine) -> Result<Option<i64>, StoreError> {
    let table = Table::DeliveriesDue;
    let mut next = None;
    visit_range(engine, table, Bound::Unbounded, Bound::Unbounded, false, |key, _| {
        let (at, _) = split_due_key(key)
            .ok_or_else(|| corrupt(engine, table, key, "shorter than a time".to_owned()))?;
        next = Some(at);
        Ok(ControlFlow::Break(()))
    })?;
    Ok(next)
}

pub(super) fn held_deliveries(
    engine: &impl Engine,
    subscription_id: &str,
) -> Result<Vec<Delivery>, StoreError> {
    let table = Table::DeliveriesHeld;
    let prefix = subscription_prefix(subscription_id);
    let mut ids = Vec::new();
    visit_prefix(engine, table, &prefix, false, |key, _| {
        ids.push(index_id(engine, table, key, &prefix)?.into_bytes());
        Ok(ControlFlow::Continue(()))
    })?;
    let mut deliveries = load(engine, &ids)?;
    deliveries.retain(|delivery| {
        delivery.subscription_id == subscription_id && Summary::of(delivery).is_held()
    });
    Ok(deliveries)
}

pub(super) fn list_deliveries(
    engine: &impl Engine,
    query: &DeliveryQuery,
) -> Result<DeliveryPage, StoreError> {
    let limit = query.effective_limit();
    let cursor = query.cursor.as_deref().filter(|cursor| !cursor.is_empty());
    let (table, prefix) = match (&query.subscription_id, query.status) {
        (Some(subscription), _) => {
            (Table::DeliveriesBySubscription, subscription_prefix(subscription))
        }
        (None, Some(status)) => (Table::DeliveriesByStatus, status_prefix(status)),
        (None, None) => (Table::Deliveries, Vec::new()),
    };
    let upper_key = match cursor {
        Some(cursor) => [prefix.as_slice(), cursor.as_bytes()].concat(),
        None => prefix_end(&prefix),
    };
    let upper = match (table, cursor) {
        (Table::Deliveries, None) => Bound::Unbounded,
        _ => Bound::Excluded(upper_key.as_slice()),
    };
    let lower = Bound::Included(prefix.as_slice());
    let mut more = false;

    if table == Table::Deliveries {
        let mut items = Vec::new();
        visit_range(engine, table, lower, upper, true, |key, value| {
            if items.len() == limit {
                more = true;
                return Ok(ControlFlow::Break(()));
            }
            items.push(decode::<Delivery>(engine, key, value)?);
            Ok(ControlFlow::Continue(()))
        })?;
        let next_cursor = more.then(|| items.last().map(|last| last.id.clone())).flatten();
        return Ok(DeliveryPage { items, next_cursor });
    }

    let mut ids = Vec::new();
    visit_range(engine, table, lower, upper, true, |key, value| {
        if table == Table::DeliveriesBySubscription
            && let Some(status) = query.status
            && summary(engine, table, key, value)?.status != status
        {
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
        .filter(|delivery| {
            query.subscription_id.as_ref().is_none_or(|s| *s == delivery.subscription_id)
                && query.status.is_none_or(|status| status == delivery.status)
        })
        .collect();
    Ok(DeliveryPage { items, next_cursor })
}

pub(super) fn pending_deliveries(engine: &impl Engine) -> Result<usize, StoreError> {
    let mut pending = 0;
    let prefix = status_prefix(DeliveryStatus::Pending);
    visit_prefix(engine, Table::DeliveriesByStatus, &prefix, false, |_, _| {
        pending += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(pending)
}

pub(super) fn prune_deliveries(
    engine: &impl Engine,
    keep: usize,
    older_than_ms: i64,
) -> Result<usize, StoreError> {
    let table = Table::DeliveriesBySubscription;
    let mut removed = 0;
    let mut from = Vec::new();
    // A skip scan: one short range read per subscription finds the next one.
    loop {
        let mut first = None;
        visit_range(engine, table, Bound::Included(&from), Bound::Unbounded, false, |key, _| {
            first = Some(key.to_vec());
            Ok(ControlFlow::Break(()))
        })?;
        let Some(key) = first else { break };
        let subscription =
            split_flow_key(&key).and_then(|(id, _)| String::from_utf8(id).ok()).ok_or_else(
                || corrupt(engine, table, &key, "no UTF-8 subscription id in the key".to_owned()),
            )?;
        removed += prune_subscription(engine, &subscription, keep, older_than_ms)?;
        from = prefix_end(&subscription_prefix(&subscription));
    }
    // One sync for every chunk: a crash before it only leaves deliveries for the next prune.
    if removed > 0 {
        engine.flush_raw()?;
    }
    Ok(removed)
}

/// Removes the finished deliveries of `subscription_id` beyond its newest `keep` finished ones
/// or created before `older_than_ms`, walking its entries newest first. Each chunk of
/// [`PRUNE_CHUNK`] is found and removed under the write lock, which is released between chunks;
/// the chunks are deferred writes, synced by the caller.
fn prune_subscription(
    engine: &impl Engine,
    subscription_id: &str,
    keep: usize,
    older_than_ms: i64,
) -> Result<usize, StoreError> {
    let table = Table::DeliveriesBySubscription;
    let prefix = subscription_prefix(subscription_id);
    let mut below = prefix_end(&prefix);
    let mut finished = 0;
    let mut removed = 0;
    loop {
        let _guard = lock(engine);
        let mut chunk = Vec::new();
        let (lower, upper) =
            (Bound::Included(prefix.as_slice()), Bound::Excluded(below.as_slice()));
        visit_range(engine, table, lower, upper, true, |key, value| {
            let summary = summary(engine, table, key, value)?;
            if !summary.status.is_finished() {
                return Ok(ControlFlow::Continue(()));
            }
            finished += 1;
            if finished > keep || summary.created_at_ms < older_than_ms {
                chunk.push((key[prefix.len()..].to_vec(), summary));
            }
            if chunk.len() < PRUNE_CHUNK {
                return Ok(ControlFlow::Continue(()));
            }
            Ok(ControlFlow::Break(()))
        })?;
        let full = chunk.len() == PRUNE_CHUNK;
        let mut writes = Vec::with_capacity(chunk.len() * 3);
        for (id, summary) in &chunk {
            for (table, key) in index_keys(subscription_id, id, *summary) {
                writes.push(Write::Remove { table, key });
            }
            writes.push(Write::Remove { table: Table::Deliveries, key: id.clone() });
        }
        if !writes.is_empty() {
            group_by_table(&mut writes);
            engine.apply_raw(&writes, Durability::Deferred)?;
        }
        removed += chunk.len();
        match chunk.last() {
            Some((id, _)) if full => below = subscription_key(subscription_id, id),
            _ => return Ok(removed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_round_trip() {
        for status in DeliveryStatus::ALL {
            for created_at_ms in [i64::MIN, -1, 0, 1_700_000_000_000, i64::MAX] {
                for next_attempt_at_ms in [None, Some(i64::MIN), Some(0), Some(i64::MAX)] {
                    let summary = Summary { status, created_at_ms, next_attempt_at_ms };
                    assert_eq!(Summary::decode(&summary.encode()), Ok(summary));
                }
            }
        }
        assert!(Summary::decode(b"").is_err());
        assert!(Summary::decode(&[9, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Summary::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Summary::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
        assert!(Summary::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]).is_err());
    }

    #[test]
    fn due_keys_sort_like_the_times_then_the_ids() {
        let times = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        let mut keys = Vec::new();
        for &at in &times {
            for id in ["msg_a", "msg_b"] {
                keys.push(due_key(at, id.as_bytes()));
                assert_eq!(split_due_key(keys.last().unwrap()), Some((at, id.as_bytes())));
            }
        }
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn only_pending_deliveries_are_due_or_held() {
        let summary =
            |status, next_attempt_at_ms| Summary { status, created_at_ms: 0, next_attempt_at_ms };
        let tables = |summary| -> Vec<Table> {
            index_keys("s", b"m", summary).into_iter().map(|(table, _)| table).collect()
        };
        let (by_subscription, by_status) =
            (Table::DeliveriesBySubscription, Table::DeliveriesByStatus);
        let pending = DeliveryStatus::Pending;
        assert_eq!(
            tables(summary(pending, Some(5))),
            [by_subscription, by_status, Table::DeliveriesDue]
        );
        assert_eq!(
            tables(summary(pending, None)),
            [by_subscription, by_status, Table::DeliveriesHeld]
        );
        for status in [DeliveryStatus::Succeeded, DeliveryStatus::Failed] {
            for next in [None, Some(5)] {
                assert_eq!(tables(summary(status, next)), [by_subscription, by_status]);
            }
        }
    }
}
